"""The speed-ups compute what they replace: fast dropout, the encoder attention, the sparse LM head,
length-grouped batches, and bf16 autocast steps that track float32 ones."""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from transformers import AutoModel

from lifelong.config import ModelConfig, TrainingConfig
from lifelong.data.builtin import builtin_stream
from lifelong.models.build import build_learner
from lifelong.models.fast import FastDropout, fast_dropout, speed_up
from lifelong.models.presets import instantiate, load_model_spec
from lifelong.optim import build_optimizer
from lifelong.training.batches import LengthGroupedBatches


def test_fast_dropout_keeps_each_element_with_probability_1_minus_p() -> None:
    x = torch.ones(400_000)
    torch.manual_seed(0)
    y = fast_dropout(x, 0.1)
    kept = float((y != 0).float().mean())
    assert abs(kept - 0.9) < 5 * (0.9 * 0.1 / x.numel()) ** 0.5  # within 5 standard errors
    assert torch.allclose(y[y != 0], torch.full_like(y[y != 0], 1 / 0.9))  # inverted scaling
    torch.manual_seed(0)
    assert torch.equal(fast_dropout(x, 0.1), y)  # the seeded generator decides the mask
    assert torch.equal(fast_dropout(x, 0.1, training=False), x)
    assert torch.equal(fast_dropout(x, 1.0), torch.zeros_like(x))
    layer = FastDropout(0.5).eval()
    assert torch.equal(layer(x), x) and isinstance(layer, torch.nn.Dropout)


def test_encoder_attention_matches_the_models_own() -> None:
    spec = load_model_spec("tiny-bert")
    plain = instantiate(spec, AutoModel).eval()
    fast = speed_up(copy.deepcopy(plain)).eval()
    assert fast.config._attn_implementation != plain.config._attn_implementation
    ids = torch.randint(5, 100, (3, 12))
    mask = torch.ones_like(ids)
    mask[1, 7:] = 0  # padding must be masked the same way
    with torch.no_grad():
        a = plain(input_ids=ids, attention_mask=mask).last_hidden_state
        b = fast(input_ids=ids, attention_mask=mask).last_hidden_state
    assert torch.allclose(a[mask.bool()], b[mask.bool()], atol=1e-5)


def test_sparse_lm_head_gives_the_full_logits_loss() -> None:
    stream = builtin_stream(seed=0, n_train=8, n_eval=4)
    cfg = ModelConfig(name="tiny-gpt2", max_length=48, max_answer_length=6)
    lm = build_learner(cfg, "task", stream.tasks, bf16=False).eval()
    task = stream.tasks[0]
    lm.grow(task)
    rows = lm.encode(task, task.split("train"))
    rows[1] = {**rows[1], "group": 1, "labels": rows[1]["input_ids"]}  # a fully scored LM row
    batch = lm.collate(rows)
    with torch.no_grad():
        out = lm(batch)
        logits = lm.lm(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    targets = batch["labels"][:, 1:]
    per_token = F.cross_entropy(logits[:, :-1].transpose(1, 2), targets, reduction="none")
    for g in (0, 1):
        keep = (targets != -100) & (batch["group"] == g).unsqueeze(1)
        assert torch.allclose(out.group_losses[g], per_token[keep].mean(), atol=1e-5)


def test_length_grouped_batches_cover_every_row_once_with_less_padding() -> None:
    lengths = torch.randint(5, 300, (1000,), generator=torch.Generator().manual_seed(1)).tolist()
    batches = list(LengthGroupedBatches(lengths, 16, torch.Generator().manual_seed(0)))
    assert sorted(i for b in batches for i in b) == list(range(1000))
    assert len(batches) == len(LengthGroupedBatches(lengths, 16, torch.Generator())) == 63

    def padded(bs: list[list[int]]) -> int:
        return sum(len(b) * max(lengths[i] for i in b) for b in bs)

    shuffled = torch.randperm(1000, generator=torch.Generator().manual_seed(0)).tolist()
    random_batches = [shuffled[i : i + 16] for i in range(0, 1000, 16)]
    assert padded(batches) < 0.6 * padded(random_batches)
    again = list(LengthGroupedBatches(lengths, 16, torch.Generator().manual_seed(0)))
    assert again == batches  # reproducible from the generator


def test_bf16_autocast_steps_track_float32_steps() -> None:
    """Ten AdamW steps under bf16 autocast end within 2 % (relative) of the same steps in float32 (bf16
    asked of torch directly: the library's own autocast runs float32 on hardware without native bf16)."""
    stream = builtin_stream(seed=0, n_train=64, n_eval=4)
    task = stream.tasks[0]

    def train(use_bf16: bool) -> list[float]:
        torch.manual_seed(0)
        cfg = ModelConfig(name="tiny-bert", max_length=32, dropout=0.0)
        learner = build_learner(cfg, "task", [task], bf16=use_bf16)
        learner.grow(task)
        rows = learner.encode(task, task.split("train"))
        optimizer, scheduler = build_optimizer(list(learner.parameters()), TrainingConfig(lr=1e-3), 10)
        losses = []
        for step in range(10):
            batch = learner.collate(rows[(step * 8) % 64 : (step * 8) % 64 + 8])
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=use_bf16):
                loss = learner(batch).loss
            loss.backward()
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad()
            losses.append(float(loss.detach()))
        return losses

    reference, other = train(False), train(True)
    assert reference != other  # bf16 did change the arithmetic
    assert reference[-1] < reference[0]  # it learns
    for a, b in zip(reference, other, strict=True):
        assert abs(a - b) <= 0.02 * abs(a) + 1e-6
