"""Hugging Face datasets as task splits: a saved dataset folder, a data file read by a builder, or a hub
name (offline: a clear error instead of a download attempt)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from lifelong.data.loaders import check_labels, field_columns, row_to_example
from lifelong.data.task import Example
from lifelong.errors import DataError

# local file suffix -> datasets builder used by load_hf
HF_BUILDERS = {
    ".jsonl": "json",
    ".json-lines": "json",
    ".json": "json",
    ".csv": "csv",
    ".tsv": "csv",
    ".parquet": "parquet",
    ".txt": "text",
}


def _is_saved_dataset(path: Path) -> bool:
    return path.is_dir() and any(
        (path / name).is_file() for name in ("dataset_info.json", "state.json", "dataset_dict.json")
    )


def _looks_local(name: str) -> bool:
    return name.startswith((".", "/", "~")) or Path(name).suffix.lower() in HF_BUILDERS


def _open_hf(name: str, split: str, config_name: str | None) -> Any:
    """A ``datasets.Dataset`` for one split of a saved dataset folder, a local file, or a hub dataset."""
    import datasets  # slow import, only when needed

    path = Path(name).expanduser()
    if _is_saved_dataset(path):
        ds = datasets.load_from_disk(str(path))
        if isinstance(ds, datasets.DatasetDict):
            if split not in ds:
                raise DataError(f"{path}: no split {split!r} in the saved dataset (have: {', '.join(ds)})")
            ds = ds[split]
        return ds
    if path.is_file():
        suffix = path.suffix.lower()
        builder = HF_BUILDERS.get(suffix)
        if builder is None:
            raise DataError(
                f"{path}: cannot load a {suffix!r} file with datasets (use {', '.join(HF_BUILDERS)})"
            )
        kwargs = {"delimiter": "\t"} if suffix == ".tsv" else {}
        return datasets.load_dataset(builder, data_files={split: str(path)}, split=split, **kwargs)
    if path.exists() or _looks_local(name):
        raise DataError(f"{path}: not a saved dataset folder (save_to_disk) nor a data file")
    try:
        return datasets.load_dataset(name, config_name, split=split)
    except (ConnectionError, OSError) as exc:
        cause = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        raise DataError(
            f"could not load Hugging Face dataset {name!r} (split {split!r}) offline: the hub is not reachable "
            f"({cause}). Download it where there is network (datasets.load_dataset(...).save_to_disk(DIR)) "
            f"and pass the local path DIR, or a local .jsonl/.csv file, instead."
        ) from None
    except ValueError as exc:  # unknown split or config
        raise DataError(f"cannot load Hugging Face dataset {name!r} split {split!r}: {exc}") from None


def load_hf(
    name_or_path: str | Path,
    split: str,
    fields: Mapping[str, str] | None = None,
    kind: str = "classification",
    *,
    task_name: str | None = None,
    labels: Sequence[str] | None = None,
    label_map: Mapping[Any, Any] | None = None,
    config_name: str | None = None,
) -> list[Example]:
    """Load one split with ``datasets`` and map columns like :func:`load_examples`.

    Integer ``ClassLabel`` columns become their class names unless a ``label_map`` is given.
    """
    name = str(name_or_path)
    ds = _open_hf(name, split, config_name)
    mapping = field_columns(fields)
    explicit = frozenset(fields or ())
    lmap = {str(k): str(v) for k, v in label_map.items()} if label_map else None
    label_feature = getattr(ds, "features", {}).get(mapping["label"]) if kind == "classification" else None
    names = getattr(label_feature, "names", None) if lmap is None else None
    where_base = f"{name}[{split}]"
    out: list[Example] = []
    for i, row in enumerate(ds, start=1):
        if names is not None and isinstance(row.get(mapping["label"]), int):
            row = {**row, mapping["label"]: names[row[mapping["label"]]]}
        out.append(
            row_to_example(row, kind, mapping, f"{where_base}:{i}", explicit=explicit, label_map=lmap, line=i)
        )
    if labels is not None and kind == "classification":
        check_labels(out, labels, where_base, task_name)
    return out
