"""User-facing errors: one clear message, caught by the CLI and turned into a non-zero exit."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class LifelongError(Exception):
    """An error caused by the user's input (config, data, names); printed without a traceback."""


class ConfigError(LifelongError):
    """A bad config key or value."""


class DataError(LifelongError):
    """A malformed data file, a missing field, an empty split."""


class RunFolderExistsError(LifelongError):
    """The output folder holds another run; it must be left exactly as it is."""


class UnknownNameError(LifelongError):
    """An unknown method, model, task or benchmark name."""

    def __init__(self, kind: str, name: str, known: Iterable[str]):
        known = sorted(known)
        close = difflib.get_close_matches(name, known, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        super().__init__(f"unknown {kind} {name!r}.{hint} Known: {', '.join(known)}")
