"""Data: tasks and examples, file loaders, benchmark definitions and streams.

Importing this package registers the generated ``builtin`` benchmark.
"""

from lifelong.data import builtin as _builtin  # noqa: F401  (registers the "builtin" benchmark)
from lifelong.data.benchmarks import list_benchmarks, load_benchmark_def
from lifelong.data.builtin import builtin_stream
from lifelong.data.files import resolve_data_dir
from lifelong.data.hub import load_hf
from lifelong.data.loaders import load_examples, load_squad, read_rows
from lifelong.data.stream import Stream, StreamConfig, load_stream, load_task_from_source, subsample
from lifelong.data.task import SPLITS, Example, Task

__all__ = [
    "SPLITS",
    "Example",
    "Stream",
    "StreamConfig",
    "Task",
    "builtin_stream",
    "list_benchmarks",
    "load_benchmark_def",
    "load_examples",
    "load_hf",
    "load_squad",
    "load_stream",
    "load_task_from_source",
    "read_rows",
    "resolve_data_dir",
    "subsample",
]
