"""A causal LM that answers every task in QA format: ``context question ANS answer EOS``.

Classification is cast to QA (the answer is the label name, the question names the choices).
The loss covers the answer and EOS only. Rows may also carry a ``group`` (0 = QA, 1 = LM, ...): the
output holds each group's mean loss, which a method like LAMOL weighs in its ``loss`` hook to train both
formats in one forward pass; a row's ``paired`` rows are collated into the same batch.
Prediction decodes greedily, batched, with left padding and the KV cache.
"""

from __future__ import annotations

import zlib
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from lifelong.data.task import Example, Scenario, Task
from lifelong.models.base import Learner, LearnerOutput, Row

ANS, EOS = "__ans__", "__eos__"  # EOS only for a tokenizer without an end token of its own
# a new token's noise, as a share of the embeddings' per-dimension spread: enough that no two tokens share
# their logits, small enough that ANS keeps most of the line break's place (at 0.5 smollm2 wrote 31 of 32
# pseudo-samples without ANS after one task, docs/results.md §5)
SPECIAL_NOISE = 0.05
DOCUMENT_SEPARATOR = "<|endoftext|>"
N_GROUPS = 2  # row groups the loss reports: 0 = QA format, 1 = LM format (a row's group is < N_GROUPS)


def _scales_logits(config) -> bool:
    """Models whose logits are not just the head's output (soft-capping, a logit scale)."""
    return any(getattr(config, name, None) for name in ("final_logit_softcapping", "logit_scale"))


class CausalTextToText(Learner):
    kind = "text2text"

    def __init__(
        self,
        lm: nn.Module,
        tokenizer,
        max_length: int,
        max_answer_length: int = 24,
        scenario: Scenario = "task",
        prompt_style: str = "qa",
        **settings: Any,
    ):
        super().__init__(tokenizer, max_length, **settings)
        self.lm = lm
        self.special_ids: set[int] = set()  # every token added through add_special_tokens
        self.scenario = scenario
        self.prompt_style = prompt_style
        self.max_answer_length = max_answer_length
        # ANS starts near the line break where the tokenizer has one token for it (between a question and
        # its answer ANS plays the part a line break plays in plain text, so the pretrained LM predicts
        # it there), plus noise: an exact copy has the line break's logits, so the model samples one
        # where the other belongs. From the mean embedding smollm2 wrote its answers without ANS.
        self.add_special_tokens([ANS], init_from=self._single_token("\n"))
        self.ans_id = tokenizer.convert_tokens_to_ids(ANS)
        # EOS is the model's own end token, as in LAMOL: it stops generation and the model knows it
        if tokenizer.eos_token is None:
            self.add_special_tokens([EOS])
        self.eos_id = tokenizer.convert_tokens_to_ids(tokenizer.eos_token or EOS)
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else self.eos_id
        self.start_id = self.document_separator()

    @property
    def context_length(self) -> int:
        """The longest sequence the model takes (its position table)."""
        config = self.lm.config
        for name in ("max_position_embeddings", "n_positions", "n_ctx"):
            if getattr(config, name, None):
                return int(getattr(config, name))
        return self.max_length

    def document_separator(self) -> int:
        """The token that separates documents in pretraining, after which a model reads text as at the
        start of a document: ``<|endoftext|>`` in the GPT-2 family of tokenizers (GPT-2, GPT-NeoX, Qwen,
        SmolLM), else BOS, else the end token. Not a chat token: smollm2 turns a near-mean embedding
        right after ``<|im_start|>`` or ``<|im_end|>`` into a second attention sink (docs/results.md, 5b)."""
        vocab = self.tokenizer.get_vocab()
        if DOCUMENT_SEPARATOR in vocab:
            return vocab[DOCUMENT_SEPARATOR]
        bos = self.tokenizer.bos_token_id
        return bos if bos is not None else self.eos_id

    def _single_token(self, text: str) -> str | None:
        """The vocabulary entry that encodes ``text`` on its own, or None when it takes several."""
        ids = self.tokenizer(text, add_special_tokens=False)["input_ids"]
        return self.tokenizer.convert_ids_to_tokens(ids[0]) if len(ids) == 1 else None

    @property
    def body(self) -> nn.Module:
        return self.lm  # the causal LM

    def add_special_tokens(
        self, tokens: list[str], init_from: str | None = None, noise: float = SPECIAL_NOISE
    ) -> list[int]:
        """Add tokens once (idempotent) and grow the embeddings. A new row starts from ``init_from``'s
        embedding (else the mean embedding: a random row would make generation start far off) plus
        noise of ``noise`` times the embeddings' per-dimension spread, seeded by the token itself: no two
        tokens, old or new, share their logits, so the model can tell them apart from the first update.
        At ``noise`` 1 the new rows lie as far from each other as two words of the vocabulary."""
        new = [t for t in tokens if t not in self.tokenizer.get_vocab()]
        if new:
            self.tokenizer.add_special_tokens(
                {"additional_special_tokens": new}, replace_extra_special_tokens=False
            )
            emb = self.lm.get_input_embeddings()
            old_n = emb.weight.shape[0]
            if len(self.tokenizer) > old_n:
                self.lm.resize_token_embeddings(len(self.tokenizer), mean_resizing=False)
                source = self.tokenizer.convert_tokens_to_ids(init_from) if init_from else None
                with torch.no_grad():
                    for table in self.embedding_tables():
                        base = table[source] if source is not None else table[:old_n].mean(0)
                        spread = table[:old_n].float().std(0).cpu()
                        for row, token in enumerate(new, start=old_n):
                            g = torch.Generator().manual_seed(zlib.crc32(token.encode()))
                            shift = torch.randn(table.shape[1], generator=g) * spread * noise
                            table[row] = (base.float() + shift.to(table.device)).to(table.dtype)
        ids = self.tokenizer.convert_tokens_to_ids(tokens)
        self.special_ids.update(ids)
        return ids

    def embedding_tables(self) -> list[nn.Parameter]:
        """The token tables: the input embeddings, and the output head's weight when it is not tied."""
        tables = [self.lm.get_input_embeddings().weight]
        out = self.lm.get_output_embeddings()
        if out is not None and out.weight is not tables[0]:
            tables.append(out.weight)
        return tables

    def special_token_tables(self) -> list[nn.Parameter]:
        """The embedding tables (input, and output when untied), made trainable in the rows of the added
        special tokens only: a gradient hook zeroes every other row. For a frozen body (LoRA), where
        a method must still learn to read and write its own tokens. The rows outside keep their values
        only if the optimizer does not decay these tables (weight decay acts without a gradient)."""
        tables = self.embedding_tables()
        for table in tables:
            table.requires_grad_(True)
            if not getattr(table, "keeps_special_rows", False):  # once per table (a resize makes a new one)
                table.register_hook(self._keep_special_rows)
                table.keeps_special_rows = True
        return tables

    def _keep_special_rows(self, grad: torch.Tensor) -> torch.Tensor:
        keep = torch.zeros(grad.shape[0], 1, dtype=grad.dtype, device=grad.device)
        keep[sorted(self.special_ids)] = 1
        return grad * keep

    # ---- data --------------------------------------------------------------------------------
    def prompt_parts(self, task: Task, ex: Example) -> tuple[str, str, str]:
        """(before, context, after) of the prompt: ``context question`` (LAMOL's QA format) or, with
        ``prompt_style: instruction``, ``question / Input: context / Answer:`` (the LoRA-family papers'
        instruction rows). ANS follows either way; a long context loses its end, never the rest."""
        context = ex.text if ex.text_pair is None else f"{ex.text} {ex.text_pair}"
        question = self.question(task, ex)
        if self.prompt_style == "instruction":
            return f"{question}\nInput: ", context, "\nAnswer:"
        return "", context, f" {question}" if question else ""

    def prompt_text(self, task: Task, ex: Example) -> str:
        return "".join(self.prompt_parts(task, ex)).strip()

    def question(self, task: Task, ex: Example) -> str:
        """The example's own question, else the task's. Class-incremental classification asks one
        question naming every label learned so far: the task's own would name its labels, and so
        tell the model which task it is answering."""
        if ex.question is not None:
            return ex.question
        if self.scenario == "class" and task.kind == "classification":
            labels = list(dict.fromkeys(label for t in self.task_specs for label in t.labels))
            return f"Which is it: {', '.join(labels)}?"
        return task.question or ""

    def prompt_ids(self, task: Task, examples: list[Example]) -> list[list[int]]:
        """Token ids of the prompt and ANS; a long context loses its end, the question is kept (it says
        what to answer, and LAMOL's pseudo-samples need it)."""
        budget = max(self.max_length - self.max_answer_length - 2, 0)
        out = []
        for ex in examples:
            before, context, after = self.prompt_parts(task, ex)
            seq = self.tokenizer(self.prompt_text(task, ex), add_special_tokens=False)["input_ids"]
            if len(seq) > budget:
                self.warn_truncation(len(seq), budget)
                head = self.tokenizer(before, add_special_tokens=False)["input_ids"] if before else []
                tail = self.tokenizer(after, add_special_tokens=False)["input_ids"] if after else []
                body = self.tokenizer(context, add_special_tokens=False)["input_ids"]
                tail = tail[len(tail) - min(len(tail), budget) :]
                head = head[: max(budget - len(tail), 0)]
                seq = head + body[: max(budget - len(head) - len(tail), 0)] + tail
            out.append(seq + [self.ans_id])
        return out

    def answer_ids(self, answers: list[str]) -> list[list[int]]:
        ids = self.tokenizer([" " + a for a in answers], add_special_tokens=False)["input_ids"]
        return [seq[: self.max_answer_length] + [self.eos_id] for seq in ids]

    def encode(self, task: Task, examples: list[Example]) -> list[Row]:
        index = self.task_index(task.name)
        for i, ex in enumerate(examples):
            if ex.label is not None:
                task.check_label(ex.label, f"task {task.name!r} example {i}")
        prompts = self.prompt_ids(task, examples)
        answers = self.answer_ids([ex.target for ex in examples])
        return [
            {"input_ids": p + a, "labels": [-100] * len(p) + a, "task_index": index, "group": 0}
            for p, a in zip(prompts, answers, strict=True)
        ]

    def collate(self, rows: list[Row], generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        # a row's ``paired`` rows (e.g. LAMOL's LM format of the same example) join its batch
        rows = [part for r in rows for part in (r, *r.get("paired", ()))]
        width = max(len(r["input_ids"]) for r in rows)
        ids = torch.full((len(rows), width), self.pad_id, dtype=torch.long)
        labels = torch.full((len(rows), width), -100, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, r in enumerate(rows):
            n = len(r["input_ids"])
            ids[i, :n] = torch.tensor(r["input_ids"])
            labels[i, :n] = torch.tensor(r["labels"])
            mask[i, :n] = 1
        return {
            "input_ids": ids,
            "attention_mask": mask,
            "labels": labels,
            "group": torch.tensor([r.get("group", 0) for r in rows]),
            "task_index": torch.tensor([r["task_index"] for r in rows]),
        }

    # ---- model -------------------------------------------------------------------------------
    def forward(self, batch: dict[str, torch.Tensor]) -> LearnerOutput:
        """Mean token loss of each row group. The vocabulary projection runs only where a token is
        scored (a QA row scores its few answer tokens), not at every position: the same loss, and for
        smollm2 (a 49k vocabulary) most of the head's cost and its softmax saved."""
        targets = batch["labels"][:, 1:]
        scored = targets != -100
        inputs = {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"]}
        head = self.lm.get_output_embeddings()
        if head is None or _scales_logits(self.lm.config):  # the model transforms its logits: use them
            logits = self.lm(**inputs).logits[:, :-1][scored]
        else:
            logits = head(self.lm.base_model(**inputs).last_hidden_state[:, :-1][scored])
        token_loss = F.cross_entropy(logits.float(), targets[scored], reduction="none")
        rows = torch.arange(targets.shape[0], device=targets.device).unsqueeze(1).expand_as(targets)
        group = batch["group"][rows[scored]]  # each scored token's row group (0 = QA, 1 = LM)
        sums = token_loss.new_zeros(N_GROUPS).index_add(0, group, token_loss)
        counts = token_loss.new_zeros(N_GROUPS).index_add(0, group, torch.ones_like(token_loss))
        group_losses = sums / counts.clamp(min=1)  # an empty group: 0
        return LearnerOutput(loss=group_losses[0], logits=None, group_losses=group_losses)

    def generate_from(self, prompts: list[list[int]], max_new_tokens: int, **sampling) -> list[list[int]]:
        """Batched generation with left padding and the KV cache; returns only the new tokens."""
        width = max(len(p) for p in prompts)
        ids = torch.full((len(prompts), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros_like(ids)
        for i, p in enumerate(prompts):
            ids[i, width - len(p) :] = torch.tensor(p)
            mask[i, width - len(p) :] = 1
        with self.eval_mode(), self.autocast():
            out = self.lm.generate(
                input_ids=ids.to(self.device),
                attention_mask=mask.to(self.device),
                max_new_tokens=max_new_tokens,
                eos_token_id=self.eos_id,
                pad_token_id=self.pad_id,
                use_cache=True,
                **sampling,
            )
        return out[:, width:].tolist()

    def predict(self, task: Task, examples: list[Example]) -> list[str]:
        prompts = self.prompt_ids(task, examples)
        answers: list[str] = []
        order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))  # similar lengths, less padding
        decoded: dict[int, str] = {}
        for start in range(0, len(order), self.eval_batch_size):
            chunk = order[start : start + self.eval_batch_size]
            new = self.generate_from([prompts[i] for i in chunk], self.max_answer_length + 1, do_sample=False)
            for i, seq in zip(chunk, new, strict=True):
                if self.eos_id in seq:
                    seq = seq[: seq.index(self.eos_id)]
                decoded[i] = self.tokenizer.decode(seq, skip_special_tokens=True).strip()
        answers = [decoded[i] for i in range(len(prompts))]
        return answers
