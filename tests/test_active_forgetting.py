"""Active forgetting: resets, the frozen parts of each adaptation stage, assembly, resume, bad input.

Everything runs on a tiny RoBERTa (2 layers, hidden 32) and generated text: an "English" corpus
and a "target language" that is the same text with every word spelled backwards.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import random
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

import lifelong.pretraining.mlm as mlm
from lifelong import schema
from lifelong.errors import ConfigError, DataError, LifelongError
from lifelong.optim import WarmupDecay
from lifelong.pretraining import commands
from lifelong.pretraining.assembly import assemble
from lifelong.pretraining.classify import evaluate_classifier, read_labelled
from lifelong.pretraining.corpus import read_lines, train_tokenizer
from lifelong.pretraining.forgetting import (
    ForgettingSchedule,
    reset_token_embeddings,
    token_embedding_parameters,
)
from lifelong.pretraining.language import LanguageAdaptConfig, adapt_language
from lifelong.pretraining.mlm import PretrainConfig, build_model, pretrain, pretraining_optimizer
from lifelong.pretraining.models import (
    SparseMaskedLM,
    body_fingerprint,
    load_classifier,
    load_mlm,
    load_tokenizer,
    pretrained_body_fingerprint,
)
from lifelong.pretraining.pipeline import ZERO_SHOT_TASKS, PipelineConfig
from lifelong.pretraining.task import TaskAdaptConfig, adapt_task

TOPICS = {
    "sports": ["team", "match", "goal", "player", "coach", "league", "score"],
    "politics": ["minister", "law", "vote", "party", "election", "senate", "policy"],
    "health": ["doctor", "patient", "virus", "hospital", "medicine", "disease", "nurse"],
}
FILLER = ["the", "a", "new", "old", "big", "small", "today", "after", "before", "this", "that", "very"]
VERBS = ["wins", "loses", "makes", "changes", "needs", "gets", "sees", "takes"]


def _sentence(rng: random.Random, topic: str) -> str:
    words = TOPICS[topic]
    return " ".join(
        [rng.choice(FILLER), rng.choice(words), rng.choice(VERBS), rng.choice(FILLER), rng.choice(words), "."]
    )


def _backwards(text: str) -> str:
    return " ".join(w[::-1] for w in text.split())


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    """Tiny models gain nothing from threads, and on shared cores spinning OpenMP threads cost a lot."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("data")
    rng = random.Random(0)
    english = [_sentence(rng, rng.choice(list(TOPICS))) for _ in range(400)]
    (root / "english.txt").write_text("\n".join(english) + "\n")
    (root / "target.txt").write_text("\n".join(_backwards(s) for s in english[:300]) + "\n")
    for name, n, spell in (("train", 60, str), ("test", 30, _backwards)):
        with open(root / f"{name}.jsonl", "w") as f:
            for i in range(n):
                topic = list(TOPICS)[i % len(TOPICS)]
                f.write(json.dumps({"text": spell(_sentence(rng, topic)), "label": topic, "id": i}) + "\n")
    return {p.stem: p for p in root.iterdir()}


def _tiny(corpus: Path, out: Path, **kw) -> PretrainConfig:
    base = dict(
        vocab_size=300, seq_len=32, layers=2, hidden=32, heads=2, steps=8, batch_size=8, warmup_ratio=0.25
    )
    base.update(checkpoint_every=4, log_every=2, seed=0)
    base.update(kw)
    return PretrainConfig(corpus=str(corpus), out=str(out), **base)


@pytest.fixture(scope="module")
def pretrained(data, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("pretrained")
    result = pretrain(_tiny(data["english"], out, reset_every=3))
    assert result.resets == [3, 6]  # multiples of K, never the final step
    return out


@pytest.fixture(scope="module")
def task_model(pretrained, data, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("task")
    adapt_task(
        TaskAdaptConfig(
            model=str(pretrained), train=str(data["train"]), out=str(out), epochs=2, batch_size=16
        )
    )
    return out


@pytest.fixture(scope="module")
def language_model(pretrained, task_model, data, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("lang")
    cfg = LanguageAdaptConfig(
        model=str(pretrained),
        corpus=str(data["target"]),
        out=str(out),
        budget_steps=4,
        vocab_size=300,
        batch_size=8,
        warmup_ratio=0.25,
        log_every=1,
        eval_body=str(task_model),
        eval_test=str(data["test"]),
        eval_every=2,
    )
    result = adapt_language(cfg)
    assert result.curve.steps == [1, 2, 3, 4] and len(result.curve.mlm_loss) == 4
    assert result.curve.eval_steps == [0, 2, 4] and all(0 <= a <= 1 for a in result.curve.accuracy)
    return out


# ---------------------------------------------------------------- the reset


def test_schedule_resets_at_multiples_of_k_only():
    s = ForgettingSchedule(reset_every=5, total_steps=20)
    assert [t for t in range(25) if s.is_reset_step(t)] == [5, 10, 15]  # 20 is the last step: keep it trained
    assert not any(ForgettingSchedule(None, 20).is_reset_step(t) for t in range(25))
    with pytest.raises(ConfigError, match="reset_every"):  # "off" has one spelling: None
        ForgettingSchedule(0, 20)
    lr = WarmupDecay(warmup=2, total=5, period=5)
    assert [lr(t) for t in range(5)] == [lr(t) for t in range(5, 10)]  # restarts every episode
    assert lr(0) < lr(1) < lr(2) == 1.0 > lr(4)


def test_reset_touches_only_token_embeddings_and_their_adam_state(data):
    tok = train_tokenizer(read_lines(data["english"]), 300, 32)
    cfg = _tiny(data["english"], Path("unused"))
    model = build_model(cfg, tok)
    opt, _ = pretraining_optimizer(model, cfg)
    for _ in range(2):
        x = torch.randint(5, len(tok), (4, 16))
        model(input_ids=x, labels=x).loss.backward()
        opt.step()
        opt.zero_grad()
    emb = model.get_input_embeddings().weight
    assert model.get_output_embeddings().weight is emb and token_embedding_parameters(model) == [emb]
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    state = {p: {k: v.clone() for k, v in opt.state[p].items()} for p in model.parameters()}

    reset_token_embeddings(model, opt, torch.Generator().manual_seed(1))

    for name, p in model.named_parameters():
        if p is emb:
            assert not torch.equal(p, before[name])
            assert p in state and p not in opt.state  # moments and step count gone
        else:
            assert torch.equal(p, before[name]), name  # positions, LayerNorm, body, LM-head bias
            assert all(torch.equal(opt.state[p][k], v) for k, v in state[p].items()), name
    assert model.get_output_embeddings().weight is emb  # still tied
    pad = model.get_input_embeddings().padding_idx
    assert torch.count_nonzero(emb[pad]) == 0
    assert abs(emb.std().item() - 0.02) < 0.003 and abs(emb.mean().item()) < 0.003

    x = torch.randint(5, len(tok), (4, 16))
    model(input_ids=x, labels=x).loss.backward()
    opt.step()
    assert int(opt.state[emb]["step"]) == 1 and int(opt.state[model.lm_head.dense.weight]["step"]) == 3


def test_pretraining_loop_resets_after_every_kth_update(data, tmp_path, monkeypatch):
    seen = []

    def spy(model, optimizer, generator=None, std=0.02):
        groups = {g["name"]: g for g in optimizer.param_groups}
        body = groups["body/decay"]["params"][0]
        updates = int(optimizer.state[body]["step"])  # ground truth: updates the optimizer has made
        body_state = {k: v.clone() for k, v in optimizer.state[body].items()}
        params = reset_token_embeddings(model, optimizer, generator, std)
        assert params == groups["embeddings/decay"]["params"]  # the embedding group, nothing else
        assert "embeddings/no_decay" not in groups  # the vocabulary matrices are all decayed weights
        assert all(torch.equal(optimizer.state[body][k], v) for k, v in body_state.items())
        seen.append((updates, groups["embeddings/decay"]["lr"], groups["body/decay"]["lr"]))
        return params

    monkeypatch.setattr(mlm, "reset_token_embeddings", spy)
    pretrain(_tiny(data["english"], tmp_path, steps=10, reset_every=4, embedding_warmup_steps=2))
    assert [u for u, _, _ in seen] == [4, 8]
    # the embedding LR restarts its warm-up after each reset (lifelong.optim.WarmupDecay warms up from
    # 0: the first update of an episode has LR 0, the second half the peak); the body's does not
    assert all(lr == 0.0 and body_lr > 0 for _, lr, body_lr in seen)


def test_sparse_masked_lm_loss_equals_the_full_one(data):
    tok = train_tokenizer(read_lines(data["english"]), 300, 32)
    model = build_model(_tiny(data["english"], Path("unused"), dropout=0.0), tok)
    x = torch.randint(5, len(tok), (4, 16))
    labels = torch.where(torch.rand(4, 16) < 0.3, x, -100)
    assert torch.allclose(SparseMaskedLM(model)(x, labels), model(input_ids=x, labels=labels).loss, atol=1e-5)


def test_embedding_lr_sets_only_the_embedding_groups_peak(data):
    """The forgetting variant of a continued body relearns fresh embeddings at their own, larger lr."""
    tok = train_tokenizer(read_lines(data["english"]), 300, 32)
    cfg = _tiny(data["english"], Path("unused"), lr=1e-4, embedding_lr=2e-3, reset_every=4, warmup_ratio=0.0)
    model = build_model(cfg, tok)
    opt, scheduler = pretraining_optimizer(model, cfg)
    emb = model.get_input_embeddings().weight
    peaks = {any(p is emb for p in g["params"]): g["initial_lr"] for g in opt.param_groups}
    assert peaks == {True: 2e-3, False: 1e-4}
    for _ in range(4):  # to the first reset: the embedding schedule restarts there, the body's does not
        opt.step()
        scheduler.step()
    lrs = {any(p is emb for p in g["params"]): g["lr"] for g in opt.param_groups}
    assert lrs[False] < 1e-4 and lrs[True] < 2e-3 * 0.2  # embeddings: warm-up of the new episode


def test_pretraining_resets_embeddings_with_their_own_schedule(pretrained):
    log = json.loads((pretrained / "pretrain_log.json").read_text())
    assert log["resets"] == [3, 6] and log["finished"] and log["tokens_per_second"] > 0
    emb_lr = WarmupDecay(warmup=1, total=3, period=3)
    assert [round(emb_lr(t), 6) for t in range(3, 6)] == [round(emb_lr(t), 6) for t in range(3)]
    model = load_mlm(pretrained)
    assert model.get_output_embeddings().weight is model.get_input_embeddings().weight


def test_resume_reproduces_a_straight_run(data, tmp_path):
    straight = pretrain(_tiny(data["english"], tmp_path / "a", reset_every=3))
    first = pretrain(_tiny(data["english"], tmp_path / "b", reset_every=3, stop_at_step=4))
    assert first.steps == 4 and not (tmp_path / "b" / "model.safetensors").exists()
    resumed = pretrain(_tiny(data["english"], tmp_path / "b", reset_every=3, resume=True))
    assert resumed.steps == 8 and resumed.resets == straight.resets == [3, 6]
    a = load_file(str(tmp_path / "a" / "model.safetensors"))
    b = load_file(str(tmp_path / "b" / "model.safetensors"))
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    assert straight.losses == resumed.losses


def test_resume_refuses_a_changed_config(data, tmp_path):
    pretrain(_tiny(data["english"], tmp_path, steps=4, reset_every=2))
    with pytest.raises(ConfigError, match="reset_every"):
        pretrain(_tiny(data["english"], tmp_path, steps=4, reset_every=3, resume=True))


# ---------------------------------------------------------------- adaptation and assembly


def _body(model) -> dict[str, torch.Tensor]:
    """Everything but the vocabulary: embeddings, tied decoder and the per-token LM-head bias."""
    vocab = {id(p) for p in token_embedding_parameters(model)} | {id(model.get_output_embeddings().bias)}
    return {n: p.detach().clone() for n, p in model.named_parameters() if id(p) not in vocab}


def test_language_adaptation_changes_only_the_vocabulary(pretrained, language_model):
    before, after = load_mlm(pretrained), load_mlm(language_model)
    old_body, new_body = _body(before), _body(after)
    changed = [n for n in old_body if n in new_body and not torch.equal(old_body[n], new_body[n])]
    assert changed == [] and set(old_body) == set(new_body)
    assert after.get_input_embeddings().weight.shape[0] == len(load_tokenizer(language_model))
    assert after.get_output_embeddings().weight is after.get_input_embeddings().weight


def test_task_adaptation_keeps_the_embeddings(pretrained, task_model):
    pre, task = load_mlm(pretrained), load_classifier(task_model)
    assert torch.equal(pre.get_input_embeddings().weight, task.get_input_embeddings().weight)
    pre_body = dict(pre.roberta.encoder.named_parameters())
    assert any(not torch.equal(p, pre_body[n]) for n, p in task.roberta.encoder.named_parameters())


def test_assembled_model_uses_target_tokenizer_and_embeddings_with_adapted_body(
    task_model, language_model, data
):
    model, tokenizer = assemble(task_model, language_model)
    lang, body = load_mlm(language_model), load_classifier(task_model)
    assert torch.equal(model.get_input_embeddings().weight, lang.get_input_embeddings().weight)
    assert model.config.vocab_size == lang.config.vocab_size
    for (n, p), (_, q) in zip(
        model.roberta.encoder.named_parameters(), body.roberta.encoder.named_parameters(), strict=True
    ):
        assert torch.equal(p, q), n
    assert torch.equal(model.classifier.out_proj.weight, body.classifier.out_proj.weight)
    assert tokenizer.get_vocab() == load_tokenizer(language_model).get_vocab()
    assert tokenizer.get_vocab() != load_tokenizer(task_model).get_vocab()
    enc = tokenizer(["eht maet sniw"], return_tensors="pt")
    assert model(**enc).logits.shape == (1, 3)


def test_task_adaptation_ties_itself_to_the_pretrained_body(pretrained, task_model, tmp_path):
    import shutil

    computed = body_fingerprint(load_mlm(pretrained))
    assert pretrained_body_fingerprint(pretrained) == computed  # read from the pretraining log
    assert json.loads((task_model / "adaptation.json").read_text())["pretrained_fingerprint"] == computed
    no_log = tmp_path / "no-log"
    shutil.copytree(pretrained, no_log)
    (no_log / "pretrain_log.json").unlink()
    assert pretrained_body_fingerprint(no_log) == computed  # computed from the weights
    changed = load_mlm(no_log)
    with torch.no_grad():
        changed.roberta.encoder.layer[0].output.dense.weight.zero_()
    changed.save_pretrained(no_log)
    assert pretrained_body_fingerprint(no_log) != computed


def test_assembly_refuses_embeddings_of_another_body(task_model, language_model, tmp_path):
    import shutil

    fake = tmp_path / "body"
    shutil.copytree(task_model, fake)
    meta = json.loads((fake / "adaptation.json").read_text())
    meta["pretrained_fingerprint"] = "0" * 16
    (fake / "adaptation.json").write_text(json.dumps(meta))
    with pytest.raises(ConfigError, match="different pretrained bodies"):
        assemble(fake, language_model)


# ---------------------------------------------------------------- bad input and the CLI


def test_the_command_line_is_built_without_importing_torch() -> None:
    """``lifelong --help`` must answer at once: the subcommands import their stages only when run."""
    code = (
        "import sys; from lifelong.cli import build_parser; build_parser(); "
        "print(sorted(m for m in ('torch', 'transformers', 'sklearn') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def _cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="lifelong")
    commands.register(parser.add_subparsers(dest="command", required=True))
    ns = parser.parse_args(argv)
    return ns.func(ns)


def test_bad_input_is_a_lifelong_error_naming_the_culprit(data, tmp_path):
    with pytest.raises(DataError, match="nope.txt"):
        _cli(["pretrain", "--corpus", str(tmp_path / "nope.txt"), "--out", str(tmp_path / "o")])
    empty = tmp_path / "empty.txt"
    empty.write_text("\n  \n")
    with pytest.raises(DataError, match="empty.txt"):
        _cli(["pretrain", "--corpus", str(empty), "--out", str(tmp_path / "o")])
    with pytest.raises(ConfigError, match="layerz"):
        _cli(
            ["pretrain", "--corpus", str(data["english"]), "--out", str(tmp_path / "o"), "--set", "layerz=2"]
        )
    with pytest.raises(ConfigError, match="pretrain.hiden"):
        _cli(["forgetting-pipeline", "--out", str(tmp_path / "p"), "--set", "pretrain.hiden=8"])
    with pytest.raises(DataError, match=r"nowhere \(from --data\)\. Set it with --data DIR"):
        _cli(["forgetting-pipeline", "--out", str(tmp_path / "p"), "--data", str(tmp_path / "nowhere")])
    with pytest.raises(LifelongError, match="missing.jsonl"):
        _cli(
            [
                "adapt-task",
                "--model",
                str(tmp_path),
                "--train",
                str(tmp_path / "missing.jsonl"),
                "--out",
                str(tmp_path),
            ]
        )
    with pytest.raises(DataError, match="no model"):
        _cli(
            [
                "assemble-eval",
                "--body",
                str(tmp_path),
                "--language",
                str(tmp_path),
                "--test",
                str(data["test"]),
            ]
        )


def test_non_utf8_corpus_and_training_file_name_the_line(tmp_path):
    bad = tmp_path / "latin1.txt"
    bad.write_bytes("first line\ncaf\xe9 au lait\n".encode("latin-1"))
    with pytest.raises(DataError, match=r"latin1.txt: line 2: not UTF-8"):
        read_lines(bad)
    rows = tmp_path / "rows.jsonl"
    rows.write_bytes(b'{"text": "ok", "label": "a"}\n{"text": "caf\xe9", "label": "b"}\n')
    with pytest.raises(DataError, match=r"rows.jsonl: line 2: not UTF-8"):
        read_labelled(rows)


def test_reset_every_zero_means_off_only_at_the_cli(tmp_path, monkeypatch):
    built = []
    monkeypatch.setattr(commands, "cmd_pretrain", lambda cfg: built.append(cfg) or 0)
    argv = ["pretrain", "--corpus", "c.txt", "--out", str(tmp_path)]
    assert _cli([*argv, "--reset-every", "0"]) == 0 and built[-1].reset_every is None
    assert _cli([*argv, "--reset-every", "7"]) == 0 and built[-1].reset_every == 7
    with pytest.raises(SystemExit):
        _cli([*argv, "--reset-every", "-1"])
    cfg = PretrainConfig(corpus="c.txt", out=str(tmp_path), reset_every=0)
    with pytest.raises(ConfigError, match="reset_every"):  # the config knows one "off": None
        cfg.check()


def test_set_overrides_are_typed():
    cfg = schema.load(
        PipelineConfig,
        base={"out": "x"},
        overrides=[
            "pretrain.steps=1e3",
            "pretrain.reset_every=null",
            "language.lr=0.01",
            "languages=[de,sw]",
            "pretrain.bf16=false",
        ],
    )
    assert cfg.pretrain.steps == 1000 and cfg.pretrain.reset_every is None and cfg.language.lr == 0.01
    assert cfg.languages == ["de", "sw"] and cfg.pretrain.bf16 is False
    assert dataclasses.is_dataclass(cfg.task)


# ---------------------------------------------------------------- pair tasks and the whole pipeline


def _pair_rows(rng: random.Random, n: int, spell) -> list[dict]:
    """NLI-like pairs: label says whether premise and hypothesis share a topic."""
    rows = []
    for i in range(n):
        a = list(TOPICS)[i % len(TOPICS)]
        b = a if i % 2 else rng.choice([t for t in TOPICS if t != a])
        label = "same" if a == b else "different"
        rows.append({"text": spell(_sentence(rng, a)), "text_pair": spell(_sentence(rng, b)), "label": label})
    return rows


def _write_jsonl(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


def test_pair_rows_and_row_ranges(tmp_path):
    rows = _pair_rows(random.Random(0), 10, str)
    _write_jsonl(tmp_path / "dev.jsonl", rows)
    assert [r.text_pair for r in read_labelled(tmp_path / "dev.jsonl")] == [r["text_pair"] for r in rows]
    assert [r.text for r in read_labelled(f"{tmp_path / 'dev.jsonl'}[3:5]")] == [r["text"] for r in rows[3:5]]
    assert len(read_labelled(f"{tmp_path / 'dev.jsonl'}[-2:]")) == 2
    with pytest.raises(DataError, match=r"dev.jsonl\[10:\] has no rows"):
        read_labelled(f"{tmp_path / 'dev.jsonl'}[10:]")
    _write_jsonl(tmp_path / "mixed.jsonl", [rows[0], {"text": "x", "label": "same"}])
    with pytest.raises(DataError, match="mixed.jsonl:2"):
        read_labelled(tmp_path / "mixed.jsonl")


@pytest.fixture(scope="module")
def data_root(data, tmp_path_factory) -> Path:
    """The shared-data layout in miniature: one target language ``xx`` (words spelled backwards)."""
    root = tmp_path_factory.mktemp("shared")
    (root / "corpora").mkdir()
    (root / "corpora" / "english.txt").write_text(data["english"].read_text())
    multi = root / "multilingual"
    (multi / "corpora").mkdir(parents=True)
    (multi / "corpora" / "xx.txt").write_text(data["target"].read_text())
    english_test = [json.loads(line) for line in data["test"].read_text().splitlines()]
    english_test = [dict(r, text=_backwards(r["text"])) for r in english_test]  # test.jsonl is backwards
    _write_jsonl(multi / "sib200" / "en" / "train.jsonl", [json.loads(x) for x in data["train"].open()])
    _write_jsonl(multi / "sib200" / "en" / "test.jsonl", english_test)
    _write_jsonl(multi / "sib200" / "xx" / "test.jsonl", [json.loads(x) for x in data["test"].open()])
    for lang, spell in (("en", str), ("xx", _backwards)):
        rng = random.Random(1)  # the same pairs in both languages: translations of one another
        _write_jsonl(multi / "xnli" / lang / "dev.jsonl", _pair_rows(rng, 1245 + 30, spell))
    return root


def test_pipeline_runs_from_the_cli_with_an_extra_pair_task_and_resumes(data_root, tmp_path, capsys):
    assert ZERO_SHOT_TASKS["xnli"].test == "dev.jsonl[1245:]"
    argv = ["forgetting-pipeline", "--out", str(tmp_path / "run"), "--data", str(data_root)]
    argv += ["--languages", "xx", "--steps", "6", "--reset-every", "3", "--budget-steps", "4"]
    for key, value in dict(
        vocab_size=300, seq_len=32, layers=2, hidden=32, heads=2, batch_size=8, warmup_ratio=0.2
    ).items():
        argv += ["--set", f"pretrain.{key}={value}"]
    argv += ["--set", "task.epochs=1", "--set", "language.vocab_size=300", "--set", "language.batch_size=8"]
    argv += ["--set", "language.warmup_ratio=0.25", "--set", "eval_points=2"]
    assert _cli([*argv, "--extra-tasks", "xnli"]) == 0
    run = tmp_path / "run"
    results = json.loads((run / "results.json").read_text())
    assert set(results["scores"]) == {"en", "en (relearned)", "xx"} and results["scores"]["xx"]["n"] == 30
    control = json.loads((run / "languages" / "en-control" / "adaptation.json").read_text())
    assert control["config"]["corpus"].endswith("english.txt") and control["final"]["n"] == 30
    assert "en (relearned)" in (run / "results.md").read_text()
    # the reference: the English task model reading xx with its own vocabulary, nothing relearned
    task = run / "task"
    own = evaluate_classifier(
        load_classifier(task),
        load_tokenizer(task),
        read_labelled(data_root / "multilingual/sib200/xx/test.jsonl"),
    )
    assert results["no_relearning"] == {"xx": pytest.approx(own)}
    assert "run, no relearning" in (run / "results.md").read_text()
    assert set(results["extra_tasks"]["xnli"]) == {"en", "xx"}
    assert results["extra_tasks"]["xnli"]["xx"]["n"] == 30  # rows 1245.. only
    assert json.loads((run / "task-xnli" / "adaptation.json").read_text())["steps"] == 39  # 1245 / 32
    assert (run / "curves.png").stat().st_size > 0 and "xnli accuracy" in (run / "results.md").read_text()
    stamp = (run / "task-xnli" / "model.safetensors").stat().st_mtime_ns
    assert _cli([*argv, "--extra-tasks", "xnli"]) == 0  # a re-run finds every stage done
    assert (run / "task-xnli" / "model.safetensors").stat().st_mtime_ns == stamp
    assert json.loads((run / "results.json").read_text())["extra_tasks"] == results["extra_tasks"]
    with pytest.raises(ConfigError, match="unknown zero-shot task 'xnl'"):
        _cli([*argv, "--extra-tasks", "xnl"])


def test_continued_pretraining_from_a_pretrained_bert_then_a_new_language(data, tmp_path):
    """The variant from a pretrained encoder: ``init`` continues a BERT masked LM with its own tokenizer
    (resets included), and language adaptation puts the new tokenizer's pad where BERT expects it (0)."""
    from lifelong.models.presets import load_model_spec

    out = tmp_path / "bert"
    cfg = PretrainConfig(
        corpus=str(data["english"]), out=str(out), init="tiny-bert", seq_len=32, steps=4, batch_size=8
    )
    result = pretrain(dataclasses.replace(cfg, reset_every=2, checkpoint_every=0, log_every=1))
    assert result.resets == [2]
    model = load_mlm(out)
    assert model.config.model_type == "bert"
    assert load_tokenizer(out).get_vocab() == load_model_spec("tiny-bert").tokenizer.get_vocab()
    lang = adapt_language(
        LanguageAdaptConfig(
            model=str(out), corpus=str(data["target"]), out=str(tmp_path / "lang"), budget_steps=2,
            vocab_size=300, batch_size=8, seq_len=32,
        )
    )  # fmt: skip
    assert load_tokenizer(lang.out).pad_token_id == model.config.pad_token_id == 0
    task = adapt_task(  # BERT's classifier adds a pooler the masked LM lacks: still the same body
        TaskAdaptConfig(model=str(out), train=str(data["train"]), out=str(tmp_path / "task"), epochs=1)
    )
    assembled, target_tokenizer = assemble(task.out, lang.out)
    assert assembled.get_input_embeddings().weight.shape[0] == len(target_tokenizer)
    with pytest.raises(ConfigError, match="seq_len=4096"):
        pretrain(dataclasses.replace(cfg, out=str(tmp_path / "long"), seq_len=4096))


def test_pipeline_names_a_missing_language_or_english_corpus_before_any_work(data_root, tmp_path):
    argv = ["forgetting-pipeline", "--out", str(tmp_path / "run"), "--data", str(data_root)]
    with pytest.raises(DataError, match=r"language 'zz'.*zz\.txt"):
        _cli([*argv, "--languages", "xx,zz"])
    with pytest.raises(DataError, match=r"English control needs .*nope\.txt"):
        _cli([*argv, "--languages", "xx", "--set", f"pretrain.corpus={tmp_path / 'nope.txt'}"])
    assert not (tmp_path / "run").exists()  # nothing started
