"""``lifelong warm-head``: the masked-LM head trains on English with the body frozen, and the saved model
is the common starting point the ``<model>-mlm`` preset loads."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForMaskedLM

from lifelong.cli import main
from lifelong.errors import LifelongError
from lifelong.models.presets import instantiate, load_model_spec, weights_digest


def test_warm_head_trains_the_head_only_and_saves_a_loadable_model(tmp_path: Path, capsys) -> None:
    corpus = tmp_path / "english.txt"
    corpus.write_text(
        "".join(f"the red kite number {i} flew over the green hill today\n" for i in range(300))
    )
    out = tmp_path / "warm"
    args = ["warm-head", "--model", "tiny-bert", "--corpus", str(corpus), "--out", str(out), "--steps", "30"]
    assert main([*args, "--set", "batch_size=8", "--set", "seq_len=32", "--set", "bf16=false"]) == 0
    printed = json.loads(capsys.readouterr().out)
    log = json.loads((out / "warm_head.json").read_text())
    assert printed["out"] == str(out) and log["losses"][-1][1] < log["losses"][0][1] + 1e-9
    torch.manual_seed(0)  # the same initial model as warm-head built (seed 0)
    initial = instantiate(load_model_spec("tiny-bert"), AutoModelForMaskedLM)
    warmed = AutoModelForMaskedLM.from_pretrained(out)
    body0, body1 = initial.base_model.state_dict(), warmed.base_model.state_dict()
    assert all(torch.equal(body0[k], body1[k]) for k in body0)  # the body did not move
    head0 = {k: v for k, v in initial.state_dict().items() if not k.startswith(initial.base_model_prefix)}
    head1 = warmed.state_dict()
    assert any(not torch.equal(v, head1[k]) for k, v in head0.items())  # the head did
    assert sorted(p.name for p in tmp_path.iterdir()) == ["english.txt", "warm"]  # no temporary left
    # a model folder's weights have a digest that names them: another warm-up gives another digest
    digest = weights_digest(load_model_spec(str(out)))
    assert digest is not None and len(digest) == 16 and weights_digest(load_model_spec("tiny-bert")) is None
    assert (
        main([*args[:-1], "31", "--set", "batch_size=8", "--set", "seq_len=32", "--set", "bf16=false"]) == 0
    )
    assert weights_digest(load_model_spec(str(out))) != digest


def test_the_mlm_preset_says_how_to_build_it(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("LIFELONG_CACHE", str(tmp_path / "empty-cache"))
    with pytest.raises(LifelongError, match="lifelong warm-head"):
        load_model_spec("minilm-l6-mlm")


def test_warm_head_without_a_corpus_is_a_clear_error(capsys) -> None:
    assert main(["warm-head", "--model", "tiny-bert"]) == 2
    assert "corpus" in capsys.readouterr().err


@pytest.mark.parametrize("preset", ["tiny-bert", "tiny-roberta"])
def test_sparse_mlm_loss_equals_the_full_models_loss(preset: str) -> None:
    """Logits only at the masked positions give the stock ``*ForMaskedLM`` loss, for BERT's and RoBERTa's
    heads alike (the head is found as the model's one non-body child, not by its attribute name)."""
    from lifelong.models.masked_lm import mlm_head, sparse_mlm_loss

    torch.manual_seed(0)
    model = instantiate(load_model_spec(preset), AutoModelForMaskedLM).eval()
    assert mlm_head(model) is not None
    ids = torch.randint(5, 60, (3, 12))
    labels = torch.full_like(ids, -100)
    labels[:, [2, 5, 7]] = ids[:, [2, 5, 7]]
    loss, logits = sparse_mlm_loss(model, ids, labels)
    assert logits is not None and logits.shape[0] == 9
    assert torch.allclose(loss, model(input_ids=ids, labels=labels).loss, atol=1e-5)


def test_the_masked_lm_head_sees_a_fixed_multiple_of_rows() -> None:
    """The head's row count is padded to ``ROW_MULTIPLE`` whatever the number of masked tokens (a row count
    that changes every step grows the process's memory); the padding changes neither the loss nor the
    gradients, and the returned logits are the labelled rows only."""
    from lifelong.models.masked_lm import ROW_MULTIPLE, mlm_head, sparse_mlm_loss

    torch.manual_seed(0)
    model = instantiate(load_model_spec("tiny-bert"), AutoModelForMaskedLM).eval()
    seen: list[int] = []
    mlm_head(model).register_forward_hook(lambda _m, args, _out: seen.append(args[0].shape[0]))
    ids = torch.randint(5, 60, (4, 32))
    for count in (1, 7, ROW_MULTIPLE + 3):
        labels = torch.full_like(ids, -100)
        labels.view(-1)[:count] = ids.view(-1)[:count]
        model.zero_grad()
        loss, logits = sparse_mlm_loss(model, ids, labels)
        assert seen[-1] % ROW_MULTIPLE == 0 and seen[-1] >= count
        assert logits.shape[0] == count
        loss.backward()
        grads = [p.grad.clone() for p in model.parameters() if p.grad is not None]
        model.zero_grad()
        model(input_ids=ids, labels=labels).loss.backward()
        stock = [p.grad for p in model.parameters() if p.grad is not None]
        assert all(torch.allclose(a, b, atol=1e-5) for a, b in zip(grads, stock, strict=True))


def test_a_converted_copy_names_the_weights_it_was_converted_from(tmp_path: Path) -> None:
    """The GGUF preset is dequantised once into a cache folder: runs that load the cache and the run that
    built it must record the same starting weights."""
    from dataclasses import replace

    from transformers import AutoModelForCausalLM

    from lifelong.models.presets import CACHE_SOURCE

    torch.manual_seed(0)
    source = tmp_path / "source"
    instantiate(load_model_spec("tiny-gpt2"), AutoModelForCausalLM).save_pretrained(source)
    load_model_spec("tiny-gpt2").tokenizer.save_pretrained(source)
    spec = load_model_spec(str(source))
    cache = tmp_path / "converted"
    instantiate(
        replace(spec, load_kwargs={**spec.load_kwargs, "_cache_to": str(cache)}), AutoModelForCausalLM
    )
    assert (cache / CACHE_SOURCE).is_file()
    assert weights_digest(load_model_spec(str(cache))) == weights_digest(spec) is not None
