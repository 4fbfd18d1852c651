"""LoRA on stock PEFT: the learner option for every model kind, and the LoRA-family methods (seq_lora,
inc_lora, o_lora, inf_lora) on the built-in stream with tiny models."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from peft.tuners.lora import LoraLayer

from lifelong.config import load_config
from lifelong.data.stream import load_stream
from lifelong.methods.inf_lora import grow_memory, leading_directions
from lifelong.methods.o_lora import orthogonality_loss
from lifelong.models.lora import adapter_names, adapter_parameters, down_projections, lora_parameter_ids
from lifelong.runs import open_learner, run
from lifelong.session import Session, open_session

SMALL = [
    "stream.max_train=48",
    "stream.max_eval=16",
    "stream.max_dev=8",
    "training.epochs=2",
    "training.lr=1e-2",
    "training.batch_size=8",
    "training.bf16=false",
    "model.max_length=48",
    "model.lora={r: 4}",
]


def _session(*extra: str) -> tuple[Session, list]:
    cfg = load_config(None, [*SMALL, *extra])
    stream = load_stream(cfg.stream, None)
    return open_session(cfg, stream.tasks, stream.scenario, None), stream.tasks


def _body_weights(sess: Session) -> dict[str, torch.Tensor]:
    lora = lora_parameter_ids(sess.method.learner.body)
    return {
        n: p.detach().clone() for n, p in sess.method.learner.body.named_parameters() if id(p) not in lora
    }


@pytest.mark.parametrize(
    ("model", "tasks"),
    [("tiny-bert", "[topic, sentiment]"), ("tiny-gpt2", "[topic, sentiment]")],
)
def test_model_lora_trains_the_adapters_only_with_any_method(model: str, tasks: str) -> None:
    sess, stream_tasks = _session(f"model.name={model}", f"stream.tasks={tasks}", "method=replay")
    body = sess.method.learner.body
    assert adapter_names(body) == ["shared"] and any(isinstance(m, LoraLayer) for m in body.modules())
    before = _body_weights(sess)
    lora_before = [
        p.detach().clone()
        for p in sess.method.learner.default_trainable()
        if id(p) in lora_parameter_ids(body)
    ]
    for task in stream_tasks:
        sess.learn_task(task)
    after = _body_weights(sess)
    assert before.keys() == after.keys() and all(torch.equal(before[k], after[k]) for k in before)
    lora_after = [p for p in sess.method.learner.parameters() if id(p) in lora_parameter_ids(body)]
    assert any(not torch.equal(a, b) for a, b in zip(lora_before, lora_after, strict=True))


def test_a_masked_lm_learner_takes_lora_too(tmp_path: Path) -> None:
    corpus = tmp_path / "c"
    corpus.mkdir()
    (corpus / "train.txt").write_text(
        "".join(f"the red kite number {i} flew over the hill\n" for i in range(40))
    )
    (corpus / "dev.txt").write_text("".join(f"a blue kite number {i} sat on the hill\n" for i in range(8)))
    spec = {"name": "kites", "kind": "corpus", "path": str(corpus), "splits": ["train", "dev"]}

    sess, tasks = _session("model.name=tiny-bert", f"stream.tasks={json.dumps([spec])}", "method=finetune")
    before = _body_weights(sess)
    sess.learn_task(tasks[0])
    assert all(torch.equal(v, _body_weights(sess)[k]) for k, v in before.items())


def test_lora_weights_are_saved_and_loaded_with_the_run(tmp_path: Path) -> None:
    cfg = load_config(
        None, [*SMALL, "model.name=tiny-bert", "stream.tasks=[topic, sentiment]", "method=inc_lora"]
    )
    out = tmp_path / "run"
    run(cfg, out=out)
    sess, tasks = open_learner(out)
    assert adapter_names(sess.method.learner.body) == ["task0", "task1"]
    saved = sess.scores.array("accuracy")[2]  # the run's own final row
    for i, task in enumerate(tasks):  # the reopened learner answers as the run measured
        assert sess.method.evaluate(task, task.split("test"))["accuracy"] == pytest.approx(saved[i])


def test_orthogonality_loss_is_zero_for_orthogonal_subspaces_and_positive_otherwise() -> None:
    basis = torch.linalg.qr(torch.randn(16, 16)).Q.T  # orthonormal rows
    old, new = [basis[:4]], basis[4:8]
    assert float(orthogonality_loss([old], [new])) == pytest.approx(0.0, abs=1e-10)
    overlapping = torch.cat([basis[2:4], basis[8:10]])
    assert float(orthogonality_loss([old], [overlapping])) == pytest.approx(2.0, rel=1e-5)  # two shared rows


def test_o_lora_keeps_earlier_loras_bit_identical_and_pushes_the_new_one_out_of_their_span() -> None:
    sess, tasks = _session("model.name=tiny-gpt2", "stream.tasks=[topic, sentiment, color]", "method=o_lora")
    body = sess.method.learner.body
    sess.learn_task(tasks[0])
    first = [p.detach().clone() for p in sess.method.trainable_parameters()]
    first_a = [a.detach().clone() for a in down_projections(body, "task0")]
    sess.learn_task(tasks[1])
    sess.learn_task(tasks[2])
    assert all(torch.equal(a, b) for a, b in zip(first, adapter_parameters(body, "task0"), strict=True))
    assert set(lora_layers_active(body)) == {"task0", "task1", "task2"}  # no task id: all summed
    # the orthogonality loss drove the later A's away from task 0's rows
    trained = float(orthogonality_loss([first_a], down_projections(body, "task2")).detach())
    plain, _ = _session("model.name=tiny-gpt2", "stream.tasks=[topic, sentiment, color]", "method=inc_lora")
    for task in tasks:
        plain.learn_task(task)
    other = plain.method.learner.body
    untouched = float(
        orthogonality_loss([down_projections(other, "task0")], down_projections(other, "task2")).detach()
    )
    assert trained < untouched


def lora_layers_active(body: torch.nn.Module) -> list[str]:
    return next(m for m in body.modules() if isinstance(m, LoraLayer)).active_adapters


def test_inf_lora_fixes_each_new_down_projection_outside_the_earlier_tasks_input_subspace() -> None:
    sess, tasks = _session("model.name=tiny-bert", "stream.tasks=[topic, sentiment]", "method=inf_lora")
    method = sess.method
    sess.learn_task(tasks[0])
    memory = [m.clone() for m in method.memory]
    assert all(m.shape[1] > 0 for m in memory)  # the first task's inputs are remembered
    a0 = [a.detach().clone() for a in down_projections(method.learner.body, "task0")]
    sess.learn_task(tasks[1])
    for a, m in zip(down_projections(method.learner.body, "task1"), memory, strict=True):
        assert float((a.detach() @ m).abs().max()) < 1e-4  # rows of A_1 orthogonal to task 0's subspace
    assert all(
        torch.equal(a, b) for a, b in zip(a0, down_projections(method.learner.body, "task0"), strict=True)
    )
    assert all(new.shape[1] >= old.shape[1] for new, old in zip(method.memory, memory, strict=True))


def test_subspace_helpers() -> None:
    torch.manual_seed(0)
    x = torch.randn(200, 8) * torch.tensor([5.0, 3.0, 1.0, 0.1, 0.1, 0.1, 0.1, 0.1])
    cov = x.T @ x
    memory = grow_memory(cov, torch.zeros(8, 0), threshold=0.95, cap=6)
    assert memory.shape[1] == 2 or memory.shape[1] == 3  # the two or three strong directions
    assert torch.allclose(memory.T @ memory, torch.eye(memory.shape[1]), atol=1e-5)
    a = leading_directions(cov, memory, 2)
    assert float((a @ memory).abs().max()) < 1e-5 and a.shape == (2, 8)


def test_instruction_rows_name_the_task_then_the_input_and_keep_both_ends_when_cut() -> None:
    from lifelong.data.builtin import builtin_stream
    from lifelong.data.task import Example
    from lifelong.models.build import ModelConfig, build_learner

    stream = builtin_stream(seed=0, n_train=4, n_eval=2)
    cfg = ModelConfig(name="tiny-gpt2", max_length=40, max_answer_length=4, prompt_style="instruction")
    learner = build_learner(cfg, "task", stream.tasks, bf16=False)
    task = stream.task("color")
    ex = Example(text="a red kite", label="red")
    assert learner.prompt_text(task, ex) == f"{task.question}\nInput: a red kite\nAnswer:"
    long = Example(text=" ".join(["word"] * 200), label="red")
    (ids,) = learner.prompt_ids(task, [long])
    text = learner.tokenizer.decode(ids[:-1])
    assert len(ids) <= 40 - 4 - 1 and ids[-1] == learner.ans_id
    squeezed = text.replace(" ", "").lower()  # the tiny tokenizer lower-cases
    assert squeezed.startswith("whatisthecolour") and squeezed.endswith("answer:") and "word" in text


def test_lamol_on_lora_trains_its_special_token_rows_and_nothing_else_of_the_body() -> None:
    sess, stream_tasks = _session(
        "model.name=tiny-gpt2", "stream.tasks=[topic, sentiment]", "method=lamol", "method_args={gamma: 0.25}"
    )
    learner = sess.method.learner
    before = _body_weights(sess)
    for task in stream_tasks:
        sess.learn_task(task)
    after = _body_weights(sess)
    special = sorted(learner.special_ids)
    assert {learner.ans_id, sess.method.gen_id("topic"), sess.method.gen_id("sentiment")} <= set(special)
    changed = [k for k in before if not torch.equal(before[k], after[k])]
    assert len(changed) == 1  # the (tied) token table; every other body weight is as it was
    old, new = before[changed[0]], after[changed[0]]
    kept = [i for i in range(old.shape[0]) if i not in special]
    assert torch.equal(old[kept], new[kept])  # no gradient and no weight decay there
    trained = [i for i in special if i < old.shape[0]]  # the special tokens that existed before training
    assert learner.ans_id in trained
    assert all(not torch.equal(old[i], new[i]) for i in trained)
