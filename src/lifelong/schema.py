"""Config dataclasses from YAML mappings and ``--set key=value``: the one validation and override path.

Every entry point (``run``, ``learn``, ``pretrain``, ``adapt-*``, the pipeline, a method's
``method_args``, the benchmark scripts) builds its config with :func:`build_dataclass`, so an unknown
key names itself and suggests the closest one, and a value of the wrong type is a clear error
instead of a crash deep in training.
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from collections.abc import Iterable
from pathlib import Path
from typing import Any, TypeVar

import yaml

from lifelong.errors import ConfigError
from lifelong.io import read_text

C = TypeVar("C")


def unknown_key(key: str, known: Iterable[str], prefix: str = "", location: str = "") -> ConfigError:
    """The error for a key that is not one of ``known``, with the closest known key as a hint.
    ``prefix`` is the key's section (``training.``), ``location`` where it was read (a file, a task)."""
    known = sorted(known)
    close = difflib.get_close_matches(key, known, n=1)
    hint = f" Did you mean {prefix + close[0]!r}?" if close else ""
    at = f"{location}: " if location else ""
    return ConfigError(
        f"{at}unknown key {prefix + key!r}.{hint} Known keys here: {', '.join(known) or '(none)'}"
    )


class _OutOfRange(ConfigError):
    """A value of the right type outside its declared range (reported as it is, not as a type error)."""


@dataclasses.dataclass(frozen=True)
class Range:
    """A numeric range, attached to a config field as ``Annotated[float, Range(gt=0)]``."""

    gt: float | None = None
    ge: float | None = None
    lt: float | None = None
    le: float | None = None

    def check(self, value: Any, key: str) -> None:
        if value is None:
            return
        bounds = [(self.gt, ">", value > (self.gt or 0)), (self.ge, ">=", value >= (self.ge or 0))]
        bounds += [(self.lt, "<", value < (self.lt or 0)), (self.le, "<=", value <= (self.le or 0))]
        for bound, op, ok in bounds:
            if bound is not None and not ok:
                raise _OutOfRange(f"config key {key}: {value!r} is out of range (must be {op} {bound:g})")


POSITIVE = Range(gt=0)
NON_NEGATIVE = Range(ge=0)
AT_LEAST_1 = Range(ge=1)
FRACTION = Range(ge=0, le=1)


@dataclasses.dataclass(frozen=True)
class UnusedBefore:
    """Marks a method setting that training never reads before task ``task`` (1-based), attached as
    ``Annotated[float, UnusedBefore(2)]``: replay settings, say, since there is nothing to replay
    during the first task. Runs that differ only in such settings share their first ``task - 1``
    tasks, so one can be forked from another's checkpoint after them (``lifelong run --fork``)."""

    task: int


REPLAY_SETTING = UnusedBefore(2)


def unused_before(cls: type) -> dict[str, int]:
    """The fields of dataclass ``cls`` marked :class:`UnusedBefore`: name -> the first task that reads it."""
    hints = typing.get_type_hints(cls, include_extras=True)
    marks = {}
    for f in dataclasses.fields(cls):
        hint = hints.get(f.name)
        for meta in typing.get_args(hint)[1:] if typing.get_origin(hint) is typing.Annotated else ():
            if isinstance(meta, UnusedBefore):
                marks[f.name] = meta.task
    return marks


def _type_name(hint: Any) -> str:
    return getattr(hint, "__name__", str(hint))


def check_type(value: Any, hint: Any, key: str) -> Any:
    """``value`` as type ``hint`` (numbers widened, YAML 1.1 number strings read); else a ConfigError."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is typing.Annotated:
        value = check_type(value, args[0], key)
        for meta in args[1:]:
            if isinstance(meta, Range):
                meta.check(value, key)
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        arms = [a for a in args if a is not type(None)]
        if len(arms) == 1:  # Optional[X]: X's own message
            return check_type(value, arms[0], key)
        for a in args:
            if a is type(None):
                continue
            try:
                return check_type(value, a, key)
            except _OutOfRange:
                raise
            except ConfigError:
                continue
        raise ConfigError(f"config key {key}: {value!r} is not a valid {hint}")
    if hint is Any:
        return value
    if origin is typing.Literal:
        if value in args:
            return value
        close = difflib.get_close_matches(str(value), [str(a) for a in args], n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ConfigError(f"config key {key}: {value!r} is not one of {', '.join(map(repr, args))}.{hint}")
    if origin is list or hint is list:
        if not isinstance(value, list):
            raise ConfigError(f"config key {key}: expected a list, got {value!r}")
        return [check_type(v, args[0], f"{key}[{i}]") for i, v in enumerate(value)] if args else value
    if origin is dict or hint is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"config key {key}: expected a mapping, got {value!r}")
        if not args:
            return value
        return {check_type(k, args[0], key): check_type(v, args[1], f"{key}.{k}") for k, v in value.items()}
    if hint is float and isinstance(value, str):
        try:
            return float(value)  # YAML 1.1 reads 1e-4 (no dot) as a string
        except ValueError:
            pass
    if hint is float and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if hint is int and isinstance(value, str):
        try:
            number = float(value)  # "1e3" from YAML 1.1
        except ValueError:
            number = None
        if number is not None and number.is_integer():
            return int(number)
    if hint is int and isinstance(value, float) and value.is_integer():
        return int(value)
    if hint is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if hint is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"config key {key}: expected true or false, got {value!r}")
    if hint is str and isinstance(value, str):
        return value
    if isinstance(hint, type) and not dataclasses.is_dataclass(hint) and isinstance(value, hint):
        return value
    raise ConfigError(f"config key {key}: {value!r} is not a valid {_type_name(hint)}")


def _strip(hint: Any) -> Any:
    return typing.get_args(hint)[0] if typing.get_origin(hint) is typing.Annotated else hint


def _optional_dataclass(hint: Any) -> Any:
    """``X`` for a hint ``X | None`` where X is a config dataclass, else None."""
    hint = _strip(hint)
    if typing.get_origin(hint) not in (typing.Union, types.UnionType):
        return None
    arms = [a for a in typing.get_args(hint) if a is not type(None)]
    return arms[0] if len(arms) == 1 and dataclasses.is_dataclass(arms[0]) else None


def check(cfg: Any, prefix: str = "") -> None:
    """Every field of a config dataclass built in Python (not from YAML) checked like a YAML value."""
    hints = typing.get_type_hints(type(cfg), include_extras=True)
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        if dataclasses.is_dataclass(value):
            check(value, f"{prefix}{f.name}.")
        else:
            check_type(value, hints[f.name], f"{prefix}{f.name}")


def build_dataclass(cls: type[C], data: Any, prefix: str = "") -> C:
    """Recursively build ``cls`` from a mapping; unknown keys and wrong types name the key."""
    if isinstance(data, cls):
        return data
    if not isinstance(data, dict):
        raise ConfigError(
            f"config key {prefix.rstrip('.') or '(top level)'}: expected a mapping, got {data!r}"
        )
    hints = typing.get_type_hints(cls, include_extras=True)
    known = {f.name for f in dataclasses.fields(cls) if f.init}
    kwargs = {}
    for key, value in data.items():
        full = f"{prefix}{key}"
        if key not in known:
            raise unknown_key(str(key), known, prefix)
        hint = hints[key]
        if dataclasses.is_dataclass(_strip(hint)):
            hint = _strip(hint)
            kwargs[key] = build_dataclass(hint, value or {}, prefix=f"{full}.")
        elif (inner := _optional_dataclass(hint)) is not None:  # a section that may be off (None)
            kwargs[key] = None if value is None else build_dataclass(inner, value, prefix=f"{full}.")
        else:
            kwargs[key] = check_type(value, hint, full)
    try:
        return cls(**kwargs)
    except TypeError as e:  # a required field left out
        raise ConfigError(f"{prefix.rstrip('.') or 'config'}: {e}") from None


def parse_value(raw: str) -> Any:
    """A ``--set`` value as YAML; numbers in YAML 1.1's string-only spellings (``2e-3``) become numbers."""
    try:
        value = yaml.safe_load(raw)
    except yaml.YAMLError:
        return raw
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
    return value


def apply_override(data: dict[str, Any], assignment: str) -> None:
    """``a.b.c=value`` into a nested mapping (checked later, with everything else, by build_dataclass)."""
    if "=" not in assignment:
        raise ConfigError(f"--set expects key=value, got {assignment!r}")
    key, raw = assignment.split("=", 1)
    parts = key.strip().split(".")
    node = data
    for p in parts[:-1]:
        node = node.setdefault(p, {})
        if not isinstance(node, dict):
            raise ConfigError(f"--set {key}: {p!r} is not a section")
    node[parts[-1]] = parse_value(raw)


def read_mapping(path: str | Path) -> dict[str, Any]:
    """A YAML file whose top level is a mapping, or a ConfigError naming the file."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"config file not found: {path}")
    try:
        data = yaml.safe_load(read_text(path)) or {}
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: malformed YAML: {e}") from e
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of config keys")
    return data


def load(
    cls: type[C], path: str | Path | None = None, overrides: list[str] | None = None, base: dict | None = None
) -> C:
    """``cls`` from an optional YAML file, an optional base mapping and ``--set`` overrides, checked once.
    An error names its origin: the file when the file alone is wrong, ``--set`` when an override is."""
    data: dict[str, Any] = dict(base or {})
    if path is not None:
        data.update(read_mapping(path))
        try:
            build_dataclass(cls, data)
        except ConfigError as e:
            raise ConfigError(f"{path}: {e}") from None
    for assignment in overrides or []:
        apply_override(data, assignment)
    try:
        return build_dataclass(cls, data)
    except ConfigError as e:
        raise ConfigError(f"--set: {e}" if overrides else str(e)) from None


def flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    """A nested config mapping as dotted keys (``training.lr``): what differs between two configs."""
    if not isinstance(data, dict):
        return {prefix.rstrip("."): data}
    return {k: v for key, value in data.items() for k, v in flatten(value, f"{prefix}{key}.").items()}


def to_dict(cfg: Any) -> dict[str, Any]:
    return dataclasses.asdict(cfg)
