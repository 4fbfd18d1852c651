"""LAMOL on tiny-gpt2: loss positions, GEN tokens, sample parsing, quotas, reproducible sampling,
the cache, checkpoint/resume/learn with task tokens, and less forgetting than fine-tuning."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import torch
from _lamol_util import TINY_LAMOL
from safetensors.torch import load_file

from lifelong.config import ModelConfig, TrainingConfig, load_config
from lifelong.context import RunContext, make_accelerator
from lifelong.data.builtin import builtin_stream
from lifelong.errors import ConfigError
from lifelong.methods import METHODS, StepInfo
from lifelong.methods.lamol import Lamol, LamolConfig
from lifelong.methods.pseudo_samples import (
    GEN,
    KEPT,
    SamplingConfig,
    generate,
    parse_sample,
    qa_row,
    replay_quota,
    split_quota,
    task_gen_token,
)
from lifelong.models.build import build_learner
from lifelong.models.text2text import ANS, EOS
from lifelong.runs import open_learner, run

TASKS = ["topic", "sentiment", "color", "place"]


@pytest.fixture(autouse=True)
def _one_thread():
    """The tiny model gains nothing from a second thread; on a busy machine OpenMP spinning costs 10x."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def stream():
    return builtin_stream(seed=0, n_train=20, n_eval=8)


@pytest.fixture(scope="module")
def base_learner(stream):
    return build_learner(
        ModelConfig(name="tiny-gpt2", max_length=64, max_answer_length=6), "task", stream.tasks, bf16=False
    )


def make_method(base_learner, tmp_path: Path | None = None, **cfg) -> Lamol:
    training = TrainingConfig(bf16=False)
    ctx = RunContext(make_accelerator(training, None), training, seed=0, run_dir=tmp_path)
    return Lamol(copy.deepcopy(base_learner), LamolConfig(**cfg), ctx)


def vocab_count(tok, token: str) -> int:
    return sum(1 for t in tok.get_vocab() if t == token)


# ---- structure -------------------------------------------------------------------------------------
def test_registered_and_text2text_only():
    assert METHODS.get("lamol") is Lamol
    assert Lamol.learner_kinds == frozenset({"text2text"})


def test_ans_gen_added_once_and_eos_is_the_models_own(base_learner, stream):
    method = make_method(base_learner, task_tokens=False)
    n0 = len(method.lm.tokenizer)
    for task in stream.tasks[:2]:
        method.grow(task)
        method.grow(task)  # growing again (e.g. on restore) adds nothing
    tok = method.lm.tokenizer
    assert len(tok) == n0 + 1
    assert all(vocab_count(tok, t) == 1 for t in (ANS, GEN)) and EOS not in tok.get_vocab()
    assert method.lm.eos_id == tok.eos_token_id  # LAMOL: the model's own end token stops generation
    assert method.lm.lm.get_input_embeddings().weight.shape[0] == len(tok)
    assert method.gen_id("topic") == method.gen_id(None) == tok.convert_tokens_to_ids(GEN)


def test_special_tokens_start_near_their_source_with_logits_of_their_own(base_learner, stream):
    method = make_method(base_learner, task_tokens=True)
    for task in stream.tasks[:2]:
        method.grow(task)
    lm, tok = method.lm, method.lm.tokenizer
    emb = lm.lm.get_input_embeddings().weight
    n0 = lm.ans_id  # the pretrained rows: ANS is the first token added
    line_break = tok("\n", add_special_tokens=False)["input_ids"]  # tiny-gpt2's tokenizer has none
    source = emb[line_break[0]] if len(line_break) == 1 else emb[:n0].mean(0)
    offset = (emb[lm.ans_id] - source) / emb[:n0].std(0)
    assert 0.025 < offset.std().item() < 0.1  # ANS = its source + noise of 5 % of the spread
    ids = torch.tensor([tok("the red kite", add_special_tokens=False)["input_ids"]])
    with torch.no_grad():
        logits = lm.lm(input_ids=ids).logits[0, -1]
    if len(line_break) == 1:  # a copy would be sampled where the original belongs
        assert logits[lm.ans_id] != logits[line_break[0]]
    gens = [method.gen_id(t.name) for t in stream.tasks[:2]] + [method.gen_id(None)]
    assert len({logits[i].item() for i in gens}) == 3


def test_task_tokens_grow_the_embeddings(base_learner, stream):
    method = make_method(base_learner, task_tokens=True)
    n0 = len(method.lm.tokenizer)
    for task in stream.tasks[:3]:
        method.grow(task)
    tok = method.lm.tokenizer
    emb = method.lm.lm.get_input_embeddings().weight
    assert len(tok) == n0 + 1 + 3 == emb.shape[0]
    ids = [method.gen_id(t.name) for t in stream.tasks[:3]]
    assert ids == [tok.convert_tokens_to_ids(task_gen_token(t.name)) for t in stream.tasks[:3]]
    assert len(set(ids)) == 3


def _mean_pairwise_cosine(rows: torch.Tensor) -> float:
    unit = torch.nn.functional.normalize(rows.float(), dim=1)
    sims = unit @ unit.T
    n = len(rows)
    return ((sims.sum() - sims.diagonal().sum()) / (n * (n - 1))).item()


def test_task_tokens_start_as_unlike_each_other_as_words(base_learner, stream):
    """Tokens that start nearly equal stayed nearly one vector through the stream, and one task's token
    came to write another task's samples (docs/results.md, 5a): by default they start as far apart as
    words of the vocabulary, each GEN plus its own full-spread noise."""
    tasks = stream.tasks[:3]
    cosines = {}
    for noise in (1.0, 0.05):
        method = make_method(base_learner, task_tokens=True, task_token_noise=noise)
        for task in tasks:
            method.grow(task)
        emb = method.lm.lm.get_input_embeddings().weight.detach()
        cosines[noise] = _mean_pairwise_cosine(emb[[method.gen_id(t.name) for t in tasks]])
    n0 = base_learner.tokenizer.convert_tokens_to_ids(ANS)  # the pretrained rows: ANS is added first
    words = emb[torch.randperm(n0, generator=torch.Generator().manual_seed(0))[:64]]
    assert cosines[0.05] > 0.5  # GEN plus 5 % of the spread: close together
    assert abs(cosines[1.0] - _mean_pairwise_cosine(words)) < 0.2 and cosines[1.0] < cosines[0.05] - 0.3


# ---- rows and loss ---------------------------------------------------------------------------------
def test_gen_follows_the_start_token_unless_turned_off(base_learner, stream):
    """Position 0 is an attention sink whose output barely depends on its token: GEN goes after the
    document separator ("auto") or a named token, in the LM rows and in the generation prompts alike;
    ``start_token: null`` restores GEN first."""
    task = stream.tasks[0]
    tok = base_learner.tokenizer
    named = tok.convert_ids_to_tokens(5)
    for start, first in (("auto", base_learner.start_id), (named, 5), (None, None)):
        method = make_method(base_learner, task_tokens=True, start_token=start)
        method.grow(task)
        (row,) = method.before_task(task, method.lm.encode(task, task.split("train")[:1]))
        prompt = method.gen_prompt(task.name)
        assert prompt == ([method.gen_id(task.name)] if first is None else [first, method.gen_id(task.name)])
        assert row["paired"][0]["input_ids"][: len(prompt)] == prompt
    with pytest.raises(ConfigError, match="start_token"):
        make_method(base_learner, start_token="not one token")


def test_the_start_token_is_the_document_separator(base_learner):
    tok = base_learner.tokenizer
    vocab = tok.get_vocab()
    expected = vocab.get(
        "<|endoftext|>", tok.bos_token_id if tok.bos_token_id is not None else base_learner.eos_id
    )
    assert base_learner.start_id == expected


def test_samples_are_prompted_with_the_start_token_and_their_tasks_gen(base_learner, stream, monkeypatch):
    import lifelong.methods.lamol as lamol_module

    asked: list[list[int]] = []
    real_generate = lamol_module.generate

    def recording(learner, prompts, sampling, seed):
        asked.extend(list(p) for p in prompts)
        return real_generate(learner, prompts, sampling, seed)

    monkeypatch.setattr(lamol_module, "generate", recording)
    method = make_method(base_learner, task_tokens=True, gamma=0.2, cache=False, max_gen_length=6)
    for task in stream.tasks[:3]:
        method.grow(task)
    method.before_task(stream.tasks[2], method.lm.encode(stream.tasks[2], stream.tasks[2].split("train")))
    start = method.lm.start_id
    assert asked == [[start, method.gen_id("topic")]] * 2 + [[start, method.gen_id("sentiment")]] * 2


def test_loss_positions_of_both_formats(base_learner, stream):
    method = make_method(base_learner, task_tokens=True)
    task = stream.tasks[0]
    method.grow(task)
    lm = method.lm
    examples = task.split("train")[:4]
    rows = method.before_task(task, lm.encode(task, examples))
    assert len(rows) == 4  # first task: nothing to replay
    for row, ex in zip(rows, examples, strict=True):
        ids, labels = row["input_ids"], row["labels"]
        ans = ids.index(lm.ans_id)
        assert ids.count(lm.ans_id) == 1 and ids[-1] == lm.eos_id
        # QA: loss exactly on the answer tokens and EOS
        assert all(lab == -100 for lab in labels[: ans + 1])
        assert labels[ans + 1 :] == ids[ans + 1 :]
        assert lm.tokenizer.decode(labels[ans + 1 : -1]).strip() == ex.label
        assert row["group"] == 0
        # LM: the start token, GEN, the same ids; loss on every token after GEN
        (pair,) = row["paired"]
        assert pair["group"] == 1
        assert pair["input_ids"] == [lm.start_id, method.gen_id(task.name), *ids]
        assert pair["labels"] == [-100, -100, *ids]

    batch = lm.collate(rows)
    assert batch["group"].tolist() == [0, 1] * 4  # both formats in one forward pass
    lm.eval()
    step = StepInfo(0, 0, 0, 1, 0)
    with torch.no_grad():
        both = method.loss(batch, lm(batch), step)  # L_QA + λ·L_LM, from one forward pass
        qa = lm(lm.collate([{k: v for k, v in r.items() if k != "paired"} for r in rows])).loss
        lm_only = lm(lm.collate([r["paired"][0] for r in rows])).group_losses[1]  # group 1 alone: L_LM
    assert method.config.lm_weight == 0.25
    assert torch.allclose(both, qa + 0.25 * lm_only, atol=1e-5)


def test_lm_weight_zero_trains_qa_rows_only(base_learner, stream):
    method = make_method(base_learner, lm_weight=0.0)
    task = stream.tasks[0]
    method.grow(task)
    rows = method.before_task(task, method.lm.encode(task, task.split("train")[:3]))
    assert all("paired" not in r for r in rows)


def test_long_context_keeps_the_question(base_learner, stream):
    """Truncation cuts the context's end: pseudo-samples and answers need the question."""
    task = stream.tasks[0]
    lm = copy.deepcopy(base_learner)
    long = stream.tasks[0].split("train")[0]
    long = type(long)(text=" ".join([long.text] * 10), label=long.label)
    (ids,) = lm.prompt_ids(task, [long])
    question = lm.tokenizer(" " + task.question, add_special_tokens=False)["input_ids"]
    assert len(ids) == lm.max_length - lm.max_answer_length - 1
    assert ids[-1] == lm.ans_id and ids[-1 - len(question) : -1] == question


# ---- parsing -----------------------------------------------------------------------------------------
A, E, PAD, G = 900, 901, 0, 902


@pytest.mark.parametrize(
    ("ids", "reason"),
    [
        ([5, 6, 7, E, PAD], "no_ans"),  # zero ANS
        ([5, A, 7, A, 8, E], "multiple_ans"),  # two ANS
        ([5, 6, 7, 8], "no_ans"),  # ran into the cap before ANS
    ],
)
def test_the_papers_rule_rejects_all_but_exactly_one_ans(ids, reason):
    assert parse_sample(ids, A, E, forbidden={G}) == (None, reason, [] if E in ids else ["no_eos"])


@pytest.mark.parametrize(
    ("ids", "flag"),
    [
        ([5, 6, A, 7, 8], "no_eos"),  # ran into the cap after ANS: EOS appended
        ([5, 6, A, E, PAD], "empty_answer"),
        ([5, G, A, 7, E], "special_token"),
    ],
)
def test_stricter_checks_are_counted_always_and_applied_on_request(ids, flag):
    sample, why, flags = parse_sample(ids, A, E, forbidden={G})
    assert why == KEPT and flags == [flag] and sample.ids[-1] == E
    assert parse_sample(ids, A, E, forbidden={G}, strict=[flag]) == (None, flag, [flag])


def test_parse_one_ans_keeps_sample_and_ignores_padding():
    sample, why, flags = parse_sample([5, 6, A, 7, 8, E, A, A, PAD], A, E)  # ANS after EOS is padding
    assert why == KEPT and flags == []
    assert sample.ids == [5, 6, A, 7, 8, E] and sample.ans_pos == 2
    row = qa_row(sample, task_index=1)
    assert row["labels"] == [-100, -100, -100, 7, 8, E]
    assert row["group"] == 0 and row["task_index"] == 1


def test_a_long_sample_loses_the_start_of_its_context_and_a_long_answer_is_rejected():
    sample, why, _ = parse_sample([1, 2, 3, 4, A, 7, E], A, E, max_length=5)
    assert why == KEPT and sample.ids == [3, 4, A, 7, E] and sample.ans_pos == 2
    assert parse_sample([1, A, 7, 8, 9, 10, E], A, E, max_length=4)[:2] == (None, "too_long")


# ---- quota -------------------------------------------------------------------------------------------
def test_quota():
    assert split_quota(20, 3) == [7, 7, 6]
    assert replay_quota(100, 0.2, ["a", "b", "c"], per_task=True) == {"a": 7, "b": 7, "c": 6}
    assert replay_quota(100, 0.2, ["a", "b", "c"], per_task=False) == {None: 20}
    assert replay_quota(11, 0.2, ["a"], per_task=True) == {"a": 3}  # ⌈2.2⌉
    assert replay_quota(10, 0.05, ["a", "b"], per_task=True) == {"a": 1, "b": 0}
    assert replay_quota(100, 0.0, ["a"], per_task=True) == {}
    assert replay_quota(100, 0.2, [], per_task=True) == {}


@pytest.mark.parametrize("task_tokens", [True, False])
def test_generation_asks_each_old_task_for_its_share(base_learner, stream, tmp_path, task_tokens):
    method = make_method(base_learner, tmp_path, task_tokens=task_tokens, gamma=0.5, max_gen_length=8)
    for task in stream.tasks[:3]:
        method.grow(task)
    task = stream.tasks[2]
    rows = method.before_task(task, method.lm.encode(task, task.split("train")))  # 20 rows -> 10 samples
    stats = method.history[-1]
    assert stats["requested"] == stats["generated"] == 10
    expected = {"topic": 5, "sentiment": 5} if task_tokens else {GEN: 10}
    assert stats["requested_per_task"] == expected
    assert len(rows) == 20 + stats["kept"]
    folder = tmp_path / "stages" / "03-color"
    saved = json.loads((folder / "replay_stats.json").read_text())
    assert saved["requested_per_task"] == expected and "rejection_rate" in saved
    assert len((folder / "pseudo_samples.jsonl").read_text().splitlines()) == stats["kept"]


def test_real_samples_replay_the_same_number_of_real_examples(base_learner, stream):
    method = make_method(base_learner, real_samples=True, gamma=0.5)
    for task in stream.tasks[:3]:
        method.grow(task)
    task = stream.tasks[2]
    rows = method.before_task(task, method.lm.encode(task, task.split("train")))
    replayed = [r for r in rows if r.get("replayed")]
    assert len(replayed) == 10
    assert sorted(r["task_index"] for r in replayed) == [0] * 5 + [1] * 5
    assert all(
        r["paired"][0]["input_ids"][:2] == method.gen_prompt(stream.tasks[r["task_index"]].name)
        for r in replayed
    )
    assert method.history[-1]["mode"] == "real" and method.history[-1]["kept"] == 10
    method.config.gamma = 0.05  # one sample for two old tasks: the second one's share is zero
    rows = method.before_task(task, method.lm.encode(task, task.split("train")))
    assert [r["task_index"] for r in rows if r.get("replayed")] == [0]
    assert method.history[-1]["requested_per_task"] == {"topic": 1, "sentiment": 0}


def test_gamma_zero_replays_nothing(base_learner, stream):
    method = make_method(base_learner, gamma=0.0)
    for task in stream.tasks[:2]:
        method.grow(task)
    task = stream.tasks[1]
    rows = method.before_task(task, method.lm.encode(task, task.split("train")))
    assert len(rows) == 20 and all("paired" in r for r in rows) and not method.history


# ---- sampling ----------------------------------------------------------------------------------------
def test_generation_is_reproducible_under_a_seed(base_learner, stream):
    method = make_method(base_learner)
    method.grow(stream.tasks[0])
    prompt = method.gen_prompt("topic")
    sampling = SamplingConfig(top_k=20, temperature=1.0, max_length=10, batch_size=3)
    rng = torch.get_rng_state()
    first = generate(method.lm, [prompt] * 7, sampling, seed=5)
    assert torch.equal(rng, torch.get_rng_state())  # sampling leaves the training randomness alone
    assert first == generate(method.lm, [prompt] * 7, sampling, seed=5)
    assert first != generate(method.lm, [prompt] * 7, sampling, seed=6)
    eos = method.lm.eos_id  # a sample ends at the cap or with EOS (a batch stops once all its rows ended)
    assert len(first) == 7 and all(len(s) == 10 or (len(s) < 10 and eos in s) for s in first)


def test_cache_is_keyed_by_what_produced_the_samples(base_learner, stream, tmp_path, caplog):
    def replay(method: Lamol):
        for task in stream.tasks[:2]:
            method.grow(task)
        task = stream.tasks[1]
        rows = method.before_task(task, method.lm.encode(task, task.split("train")))
        return rows, method.history[-1]

    cache = str(tmp_path / "cache")
    rows1, s1 = replay(make_method(base_learner, cache_dir=cache, max_gen_length=8))
    with caplog.at_level("INFO", logger="lifelong"):
        rows2, s2 = replay(make_method(base_learner, cache_dir=cache, max_gen_length=8))
    assert (s1["cache"], s2["cache"]) == ("miss", "hit") and s1["cache_key"] == s2["cache_key"]
    assert rows1 == rows2
    assert any("reusing pseudo-samples" in r.message for r in caplog.records)  # never silently
    _, s3 = replay(make_method(base_learner, cache_dir=cache, max_gen_length=8, gamma=0.3))
    other = make_method(base_learner, cache_dir=cache, max_gen_length=8)
    with torch.no_grad():
        other.lm.lm.get_input_embeddings().weight[5] += 1.0  # another model state
    _, s4 = replay(other)
    assert s3["cache"] == s4["cache"] == "miss"
    assert len({s1["cache_key"], s3["cache_key"], s4["cache_key"]}) == 3


# ---- runs --------------------------------------------------------------------------------------------
RUN = TINY_LAMOL


def gen_rows(run_dir: Path) -> dict[str, list[float]]:
    """The GEN rows of the saved embeddings, by token."""
    session, _ = open_learner(run_dir)
    tok, emb = session.method.learner.tokenizer, session.method.learner.lm.get_input_embeddings().weight
    assert emb.shape[0] == len(tok)
    saved = load_file(str(run_dir / "checkpoint" / "learner.safetensors"))
    saved_emb = next(
        v for k, v in saved.items() if k.endswith(("wte.weight", "embed_tokens.weight", "lm_head.weight"))
    )
    names = [GEN] + [task_gen_token(t) for t in TASKS]
    out = {}
    for name in names:
        if name in tok.get_vocab():
            i = tok.convert_tokens_to_ids(name)
            assert torch.equal(emb[i], saved_emb[i])
            out[name] = emb[i].tolist()
    return out


def test_task_tokens_survive_checkpoint_resume_and_learn(tmp_path):
    from lifelong.cli import main

    out = tmp_path / "run"
    run(load_config(None, [*RUN, "stream.tasks=[topic,sentiment]"]), out=out)
    after2 = gen_rows(out)
    assert set(after2) == {GEN, task_gen_token("topic"), task_gen_token("sentiment")}
    run(load_config(None, [*RUN, "stream.tasks=[topic,sentiment,color]"]), out=out, resume=True)
    after3 = gen_rows(out)
    assert set(after3) == set(after2) | {task_gen_token("color")}
    assert main(["learn", str(out), "--task", "place"]) == 0
    after4 = gen_rows(out)
    assert set(after4) == set(after3) | {task_gen_token("place")}
    session, tasks = open_learner(out)
    assert [t.name for t in tasks] == TASKS
    tok = session.method.learner.tokenizer
    assert [tok.convert_tokens_to_ids(task_gen_token(t)) for t in TASKS] == sorted(
        tok.convert_tokens_to_ids(task_gen_token(t)) for t in TASKS
    )
    history = session.method.history
    assert [h["stage"] for h in history] == [2, 3, 4]
    assert history[-1]["requested_per_task"] == {"topic": 2, "sentiment": 1, "color": 1}  # ⌈0.2·16⌉ = 4
    for stage in ("02-sentiment", "03-color", "04-place"):
        assert (out / "stages" / stage / "replay_stats.json").is_file()
    # the report shows every stage's samples: asked, kept, why the others were rejected; and a plot
    (table,) = json.loads((out / "metrics.json").read_text())["method_tables"]
    assert [row[0] for row in table["rows"]] == [2, 3, 4] and table["columns"][3:5] == ["asked", "kept"]
    assert [row[3] for row in table["rows"]] == [h["requested"] for h in history]
    assert "LAMOL pseudo-samples per stage" in (out / "report.md").read_text()
    assert (out / "method_table_1.png").stat().st_size > 0


def test_lamol_forgets_less_than_finetune(tmp_path):
    """Two built-in tasks, long enough for tiny-gpt2 to learn the first. Fine-tuning then answers the
    topic question with sentiment labels; LAMOL's replayed pseudo-samples keep the topic answers alive.
    (γ = 1: the tiny model rejects most of its samples, so it needs more of them than a real LM.)"""
    common = [
        "model.name=tiny-gpt2",
        "model.max_length=80",
        "model.max_answer_length=6",
        "stream.tasks=[topic,sentiment]",
        "stream.max_train=200",
        "stream.max_eval=100",
        "stream.max_dev=20",
        "training.epochs=16",
        "training.lr=3e-3",
        "training.bf16=false",
    ]
    lamol_args = ["method=lamol", "method_args.gamma=1.0", "method_args.max_gen_length=64"]
    kept_topic = {"lamol": [], "finetune": []}  # two seeds: one toy run is too noisy to tell
    for seed in (0, 1):
        for name, args in (("lamol", lamol_args), ("finetune", ["method=finetune"])):
            out = tmp_path / f"{name}-{seed}"
            result = run(load_config(None, [*common, *args, f"seed={seed}"]), out=out)
            kept_topic[name].append(result["matrix"][-1][0])
        stats = json.loads(
            (tmp_path / f"lamol-{seed}" / "stages" / "02-sentiment" / "replay_stats.json").read_text()
        )
        assert stats["kept"] > 0
    mean = {name: sum(scores) / len(scores) for name, scores in kept_topic.items()}
    assert mean["lamol"] >= mean["finetune"] + 0.15, kept_topic
