"""Data loading, benchmark definitions, streams and the built-in stream (all on small tmp files)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from lifelong.data import (
    Stream,
    StreamConfig,
    builtin_stream,
    list_benchmarks,
    load_benchmark_def,
    load_examples,
    load_hf,
    load_squad,
    load_stream,
    load_task_from_source,
    read_rows,
    resolve_data_dir,
    subsample,
)
from lifelong.data.task import Example, Task
from lifelong.errors import ConfigError, DataError, UnknownNameError
from lifelong.schema import build_dataclass

REPO = Path(__file__).resolve().parents[1]


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def make_task_dir(
    root: Path, name: str, labels=("a", "b"), n=(6, 4, 4), extra_test: list[dict] | None = None
) -> Path:
    folder = root / name
    for split, size in zip(("train", "dev", "test"), n, strict=True):
        rows = [{"text": f"{name} {split} text {i}", "label": labels[i % len(labels)]} for i in range(size)]
        if split == "test" and extra_test:
            rows += extra_test
        write_jsonl(folder / f"{split}.jsonl", rows)
    return folder


# ---------------------------------------------------------------- readers


def test_jsonl_field_mapping_label_map_and_id(tmp_path):
    f = write_jsonl(
        tmp_path / "d.jsonl", [{"sentence": "good", "y": 1, "uid": "x1"}, {"sentence": "bad", "y": -1}]
    )
    exs = load_examples(
        f,
        "classification",
        {"text": "sentence", "label": "y", "id": "uid"},
        "t",
        label_map={1: "positive", "-1": "negative"},
    )
    assert [(e.text, e.label) for e in exs] == [("good", "positive"), ("bad", "negative")]
    assert exs[0].meta["id"] == "x1" and "id" not in exs[1].meta


def test_csv_and_tsv_with_header_and_aspect(tmp_path):
    (tmp_path / "d.csv").write_text('label,sentence\n1,"hello, world"\n0,bye\n', encoding="utf-8")
    exs = load_examples(tmp_path / "d.csv", "classification", {"text": "sentence"})
    assert [(e.text, e.label) for e in exs] == [("hello, world", "1"), ("bye", "0")]

    (tmp_path / "d.tsv").write_text(
        'text\taspect\tlabel\nthe "screen" is fine\tscreen\tpositive\n', encoding="utf-8"
    )
    (ex,) = load_examples(tmp_path / "d.tsv", "classification")
    assert ex.text == 'the "screen" is fine' and ex.text_pair == "screen" and ex.label == "positive"


def test_headerless_tsv_with_columns(tmp_path):
    (tmp_path / "d.tsv").write_text("great product\t1\nawful\t-1\n", encoding="utf-8")
    rows = list(read_rows(tmp_path / "d.tsv", columns=["text", "label"]))
    assert rows == [(1, {"text": "great product", "label": "1"}), (2, {"text": "awful", "label": "-1"})]
    exs = load_examples(
        tmp_path / "d.tsv", "classification", columns=["text", "label"], label_map={"1": "pos", "-1": "neg"}
    )
    assert [e.label for e in exs] == ["pos", "neg"]


def test_malformed_jsonl_names_file_and_line(tmp_path):
    f = tmp_path / "bad.jsonl"
    f.write_text('{"text": "a", "label": "x"}\n\n{"text": "b", "label": \n', encoding="utf-8")
    with pytest.raises(DataError, match=r"bad\.jsonl:3: malformed JSON"):
        load_examples(f, "classification")


def test_missing_field_lists_available_columns(tmp_path):
    f = write_jsonl(tmp_path / "d.jsonl", [{"text": "a", "label": "x"}, {"text": "b", "lab": "y"}])
    with pytest.raises(DataError, match=r"d\.jsonl:2: missing field 'label' \(have: text, lab\)"):
        load_examples(f, "classification")


def test_unknown_label_names_file_and_line(tmp_path):
    f = write_jsonl(tmp_path / "test.jsonl", [{"text": "a", "label": "x"}, {"text": "b", "label": "z"}])
    with pytest.raises(DataError, match=r"test\.jsonl:2: label 'z' is not one of task 't'"):
        load_examples(f, "classification", None, "t", labels=["x", "y"])


def test_squad_reader_and_malformed_structure(tmp_path):
    data = {
        "version": "1.1",
        "data": [
            {
                "title": "T",
                "paragraphs": [
                    {
                        "context": "Paris is in France.",
                        "qas": [
                            {
                                "id": "q1",
                                "question": "Where is Paris?",
                                "answers": [{"text": "France", "answer_start": 12}, {"text": "France"}],
                            }
                        ],
                    }
                ],
            }
        ],
    }
    f = tmp_path / "train.json"
    f.write_text(json.dumps(data), encoding="utf-8")
    (ex,) = load_squad(f)
    assert ex.text == "Paris is in France." and ex.question == "Where is Paris?"
    assert ex.answers == ("France",) and ex.meta["id"] == "q1" and ex.target == "France"

    del data["data"][0]["paragraphs"][0]["qas"][0]["question"]
    f.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(DataError, match=r"data\[0\]\.paragraphs\[0\]\.qas\[0\]: missing 'question'"):
        load_squad(f)
    f.write_text("[]", encoding="utf-8")
    with pytest.raises(DataError, match="missing 'data'"):
        load_squad(f)


# ---------------------------------------------------------------- streams from custom specs


def test_custom_stream_and_source_roundtrip(tmp_path):
    make_task_dir(tmp_path, "t1", n=(20, 4, 6))
    make_task_dir(tmp_path, "t2", labels=("c", "d", "e"))
    cfg = StreamConfig(
        tasks=[
            {"name": "t1", "path": "t1", "question": "a or b?"},
            {"name": "t2", "path": str(tmp_path / "t2")},
        ],
        max_train=10,
        seed=3,
    )
    stream = load_stream(cfg, tmp_path)
    t1 = stream.task("t1")
    assert stream.task_names == ["t1", "t2"] and stream.scenario == "task"
    assert len(t1.splits["train"]) == 10 and len(t1.splits["test"]) == 6
    assert t1.labels == ("a", "b") and stream.task("t2").labels == ("c", "d", "e")
    assert stream.all_labels() == ("a", "b", "c", "d", "e")
    json.dumps(t1.source)  # JSON-able
    again = load_task_from_source(json.loads(json.dumps(t1.source)), tmp_path)
    assert again.splits == t1.splits and again.labels == t1.labels and again.question == "a or b?"


def test_empty_split_names_task_and_file(tmp_path):
    make_task_dir(tmp_path, "t1")
    (tmp_path / "t1" / "dev.jsonl").write_text("\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"task 't1': split 'dev' is empty .*dev\.jsonl"):
        load_stream(StreamConfig(tasks=[{"name": "t1", "path": "t1"}]), tmp_path)


def test_duplicate_task_names(tmp_path):
    make_task_dir(tmp_path, "t1")
    spec = {"name": "same", "path": "t1"}
    with pytest.raises(ConfigError, match="'same' appears twice"):
        load_stream(StreamConfig(tasks=[spec, dict(spec)]), tmp_path)


def test_unknown_eval_label_from_train_labels(tmp_path):
    make_task_dir(tmp_path, "t1", extra_test=[{"text": "odd one", "label": "zzz"}])
    with pytest.raises(DataError, match=r"t1/test\.jsonl:5: label 'zzz' is not one of task 't1'"):
        load_stream(StreamConfig(tasks=[{"name": "t1", "path": "t1"}]), tmp_path)


def test_scenarios_domain_needs_shared_labels(tmp_path):
    make_task_dir(tmp_path, "t1")
    make_task_dir(tmp_path, "t2", labels=("b", "a"))
    make_task_dir(tmp_path, "t3", labels=("a", "c"))
    ok = [{"name": "t1", "path": "t1"}, {"name": "t2", "path": "t2"}]
    assert load_stream(StreamConfig(tasks=ok, scenario="domain"), tmp_path).scenario == "domain"
    bad = ok + [{"name": "t3", "path": "t3"}]
    with pytest.raises(ConfigError, match="domain-incremental.*'t3'"):
        load_stream(StreamConfig(tasks=bad, scenario="domain"), tmp_path)
    with pytest.raises(ConfigError, match="label 'a' belongs to task 't1' and to task 't2'.*merge_labels"):
        load_stream(StreamConfig(tasks=bad, scenario="class"), tmp_path)
    merged = StreamConfig(tasks=bad, scenario="class", merge_labels=True)
    assert load_stream(merged, tmp_path).all_labels() == ("a", "b", "c")
    renamed = [
        {"name": "t1", "path": "t1"},
        {"name": "t3", "path": "t3", "label_map": {"a": "a3", "c": "c3"}},
    ]
    assert load_stream(StreamConfig(tasks=renamed, scenario="class"), tmp_path).all_labels() == (
        "a",
        "b",
        "a3",
        "c3",
    )


def test_subsample_is_deterministic_stratified_and_ordered():
    exs = [Example(text=f"x{i}", label="a" if i % 4 else "b") for i in range(100)]
    one = subsample(exs, 20, seed=1, salt="t/train")
    assert one == subsample(exs, 20, seed=1, salt="t/train")
    assert one != subsample(exs, 20, seed=2, salt="t/train")
    assert [int(e.text[1:]) for e in one] == sorted(int(e.text[1:]) for e in one)
    assert sum(e.label == "b" for e in one) == 5
    assert subsample(exs, None, 0) == exs and subsample(exs, 500, 0) == exs


def test_subsample_of_a_task_does_not_depend_on_other_tasks(tmp_path):
    make_task_dir(tmp_path, "t1", n=(30, 4, 4))
    make_task_dir(tmp_path, "t2", n=(30, 4, 4))
    alone = load_stream(StreamConfig(tasks=[{"name": "t2", "path": "t2"}], max_train=7), tmp_path)
    both = load_stream(
        StreamConfig(tasks=[{"name": "t1", "path": "t1"}, {"name": "t2", "path": "t2"}], max_train=7),
        tmp_path,
    )
    assert alone.task("t2").splits["train"] == both.task("t2").splits["train"]


def test_stream_config_validation():
    with pytest.raises(ConfigError, match="Did you mean 'max_train'"):
        build_dataclass(StreamConfig, {"max_trian": 5})
    with pytest.raises(ConfigError, match="positive"):
        StreamConfig(max_train=0)
    with pytest.raises(ConfigError, match="either"):
        StreamConfig(benchmark="tc", order="i", tasks=["agnews"])
    with pytest.raises(ConfigError, match="no stream.benchmark"):
        load_stream(StreamConfig(tasks=["agnews"]))


# ---------------------------------------------------------------- benchmarks and data dir


def write_bench(tmp_path: Path, extra: str = "") -> Path:
    make_task_dir(tmp_path / "data", "t1")
    make_task_dir(tmp_path / "data", "t2")
    f = tmp_path / "mini.yaml"
    f.write_text(
        "name: mini\nscenario: task\ndefault_order: one\n"
        "orders:\n  one: [t1, t2]\n  two: [t2, t1]\n"
        "tasks:\n  t1: {kind: classification, path: t1, labels: [a, b]}\n"
        f"  t2: {{kind: classification, path: t2, labels: [a, b]{extra}}}\n",
        encoding="utf-8",
    )
    return f


def test_benchmark_yaml_by_path_orders_and_unknown_names(tmp_path):
    f = write_bench(tmp_path)
    data = tmp_path / "data"
    assert load_stream(StreamConfig(benchmark=str(f)), data).task_names == ["t1", "t2"]
    s = load_stream(StreamConfig(benchmark=str(f), order="two"), data)
    assert s.task_names == ["t2", "t1"] and s.name == "mini:two"
    assert load_stream(StreamConfig(benchmark=str(f), tasks=["t2"]), data).task_names == ["t2"]
    with pytest.raises(UnknownNameError, match="unknown mini order 'tow'.*Did you mean 'two'"):
        load_stream(StreamConfig(benchmark=str(f), order="tow"), data)
    with pytest.raises(UnknownNameError, match="unknown mini task 't22'.*Did you mean 't2'"):
        load_stream(StreamConfig(benchmark=str(f), tasks=["t22"]), data)
    with pytest.raises(UnknownNameError, match="unknown benchmark 'tcc'.*Did you mean 'tc'"):
        load_stream(StreamConfig(benchmark="tcc"))


def test_unknown_yaml_key_names_key_and_file(tmp_path):
    f = write_bench(tmp_path, extra=", lables: [a]")
    with pytest.raises(
        ConfigError, match=r"mini\.yaml: task 't2': unknown key 'lables'.*Did you mean 'labels'"
    ):
        load_benchmark_def(str(f))


def test_custom_task_spec_validation(tmp_path):
    with pytest.raises(ConfigError, match=r"stream.tasks\[0\]: unknown split 'valid'"):
        load_stream(StreamConfig(tasks=[{"name": "x", "path": "x", "splits": ["train", "valid"]}]), tmp_path)
    with pytest.raises(ConfigError, match="kind: 'clasification' .* Did you mean 'classification'"):
        load_stream(StreamConfig(tasks=[{"name": "x", "path": "x", "kind": "clasification"}]), tmp_path)
    with pytest.raises(ConfigError, match="needs a 'name'"):
        load_stream(StreamConfig(tasks=[{"path": "x"}]), tmp_path)


def test_yaml_labels_reject_unknown_eval_label(tmp_path):
    f = write_bench(tmp_path)
    write_jsonl(
        tmp_path / "data" / "t2" / "test.jsonl", [{"text": "q", "label": "a"}, {"text": "r", "label": "c"}]
    )
    with pytest.raises(DataError, match=r"t2/test\.jsonl:2: label 'c'"):
        load_stream(StreamConfig(benchmark=str(f)), tmp_path / "data")


def test_shipped_benchmarks_parse_with_consistent_orders():
    names = list_benchmarks()
    assert {"tc", "asc", "dsc", "decanlp", "builtin", "builtin-domain"} <= set(names)
    for name in names:
        d = load_benchmark_def(name)
        assert d["orders"] and d["default_order"] in d["orders"]
        for order in d["orders"].values():
            assert set(order) <= set(d["tasks"]) and len(set(order)) == len(order)
        for spec in d["tasks"].values():
            if spec["kind"] == "classification":
                assert spec["labels"] and spec.get("question")
    tc = load_benchmark_def("tc")
    assert tc["orders"]["i"] == ["yelp", "agnews", "dbpedia", "amazon", "yahoo"]
    assert tc["orders"]["o-lora-3"] == ["yahoo", "amazon", "agnews", "dbpedia"]
    assert len(tc["orders"]) == 7 and all(
        len(o) == 5 for k, o in tc["orders"].items() if k in "i ii iii iv".split()
    )
    asc = load_benchmark_def("asc")
    assert (
        len(asc["orders"]["asc-19"]) == 19
        and len(asc["orders"]["asc-10"]) == 10
        and asc["default_order"] == "asc-19"
    )
    assert len(load_benchmark_def("dsc")["orders"]["dsc-10"]) == 10
    dec = load_benchmark_def("decanlp")
    assert dec["tasks"]["woz"]["kind"] == "dst" and dec["tasks"]["squad"]["metric"] == "f1"


def test_missing_data_dir_messages(tmp_path, monkeypatch):
    monkeypatch.delenv("LIFELONG_DATA", raising=False)
    with pytest.raises(DataError, match="--data-dir.*LIFELONG_DATA"):
        resolve_data_dir(None)
    with pytest.raises(DataError, match=r"nowhere.*--data-dir.*LIFELONG_DATA.*tc/agnews/train\.jsonl"):
        resolve_data_dir(str(tmp_path / "nowhere"))
    monkeypatch.setenv("LIFELONG_DATA", str(tmp_path))
    assert resolve_data_dir(None) == tmp_path
    with pytest.raises(
        DataError, match=r"task .yelp.: file not found: .*tc/yelp/train\.jsonl.*--data-dir or LIFELONG_DATA"
    ):
        load_stream(StreamConfig(benchmark="tc", max_train=5))
    monkeypatch.delenv("LIFELONG_DATA")
    with pytest.raises(DataError, match="LIFELONG_DATA"):
        load_stream(StreamConfig(benchmark="tc"))


# ---------------------------------------------------------------- built-in stream


def test_builtin_stream_is_deterministic_and_labelled():
    a = builtin_stream(seed=0, n_train=40, n_eval=12)
    b = load_stream(StreamConfig(benchmark="builtin", max_train=40, max_dev=12, max_eval=12))
    assert isinstance(a, Stream) and a.task_names == ["topic", "sentiment", "color", "place"]
    for ta, tb in zip(a, b, strict=True):
        assert ta.splits == tb.splits and ta.labels == tb.labels and ta.question
        assert {len(ta.splits[s]) for s in ("dev", "test")} == {12} and len(ta.splits["train"]) == 40
        assert {e.label for e in ta.splits["train"]} == set(ta.labels)
        texts = {s: {e.text for e in ta.splits[s]} for s in ta.splits}
        assert not texts["train"] & texts["test"] and not texts["dev"] & texts["test"]
        assert all(8 <= len(e.text.split()) <= 30 for e in ta.splits["train"])
    assert a.task("topic").labels == ("sports", "science", "food", "music")
    assert a.task("sentiment").labels == ("positive", "negative", "neutral")
    other = builtin_stream(seed=1, n_train=40, n_eval=12)
    assert other.task("topic").splits["train"] != a.task("topic").splits["train"]
    # the same kind of sentence is labelled by different rules: every text names one word per attribute
    from lifelong.data.builtin import ATTRIBUTES

    for task in a:
        for ex in task.splits["train"]:
            tokens = set(ex.text.lower().split())
            for attr, groups in ATTRIBUTES.items():
                hits = [lab for lab, words in groups.items() if tokens & set(words)]
                assert len(hits) == 1 and (attr != task.name or hits[0] == ex.label)


def test_builtin_orders_subsets_and_source():
    s = load_stream(StreamConfig(benchmark="builtin", order="reverse", max_train=8, max_dev=4, max_eval=4))
    assert s.task_names == ["place", "color", "sentiment", "topic"]
    sub = load_stream(
        StreamConfig(benchmark="builtin", tasks=["color", "topic"], max_train=8, max_dev=4, max_eval=4)
    )
    assert sub.task_names == ["color", "topic"]
    again = load_task_from_source(json.loads(json.dumps(sub.tasks[0].source)))
    assert again.splits == sub.tasks[0].splits and again.source == sub.tasks[0].source
    default = load_stream(StreamConfig(max_train=8, max_dev=4, max_eval=4))
    assert default.name == "builtin:default"
    with pytest.raises(ConfigError, match="domain-incremental"):
        load_stream(StreamConfig(benchmark="builtin", scenario="domain", max_train=8, max_dev=4, max_eval=4))


def test_builtin_domain_shares_one_label_set_with_conflicting_cues():
    from lifelong.data.builtin import PROPERTIES, domain_polarity

    s = builtin_stream(n_train=30, n_eval=6, scenario="domain")
    assert s.scenario == "domain" and s.name == "builtin-domain:default"
    assert {t.labels for t in s} == {("positive", "negative", "neutral")}
    sports, science = domain_polarity("sports"), domain_polarity("science")
    assert any(
        sports[w] != science[w] for w in PROPERTIES
    )  # domains disagree, so sequential training forgets
    for ex in s.task("sports").splits["train"]:
        words = [w for w in PROPERTIES if f" {w} " in f" {ex.text} "]
        assert len(words) == 1 and sports[words[0]] == ex.label


def test_task_spec_is_rebuildable_from_builtin():
    task = builtin_stream(n_train=8, n_eval=4).tasks[0]
    spec = Task.from_spec(json.loads(json.dumps(task.spec())))
    assert spec.labels == task.labels and load_task_from_source(spec.source).splits == task.splits


# ---------------------------------------------------------------- Hugging Face datasets


@pytest.fixture
def hf_offline(monkeypatch):
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    datasets = pytest.importorskip("datasets")
    import huggingface_hub.constants

    # both libraries read the variables at import time
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    return datasets


def test_hf_loader_local_saved_dataset_and_jsonl(tmp_path, hf_offline):
    datasets = hf_offline
    feats = datasets.Features(
        {"sentence": datasets.Value("string"), "y": datasets.ClassLabel(names=["neg", "pos"])}
    )
    ds = datasets.Dataset.from_dict({"sentence": ["good", "bad", "fine"], "y": [1, 0, 1]}, features=feats)
    datasets.DatasetDict({"train": ds, "test": ds.select([0])}).save_to_disk(str(tmp_path / "saved"))
    exs = load_hf(tmp_path / "saved", "train", {"text": "sentence", "label": "y"})
    assert [(e.text, e.label) for e in exs] == [("good", "pos"), ("bad", "neg"), ("fine", "pos")]
    with pytest.raises(DataError, match="no split 'dev'"):
        load_hf(tmp_path / "saved", "dev", {"text": "sentence", "label": "y"})

    f = write_jsonl(tmp_path / "d.jsonl", [{"text": "q", "label": 1}, {"text": "r", "label": 2}])
    exs = load_hf(f, "train", label_map={"1": "one", "2": "two"})
    assert [e.label for e in exs] == ["one", "two"]

    stream = load_stream(
        StreamConfig(
            tasks=[
                {
                    "name": "hf",
                    "format": "hf",
                    "path": str(tmp_path / "saved"),
                    "fields": {"text": "sentence", "label": "y"},
                }
            ]
        )
    )
    assert stream.tasks[0].labels == ("neg", "pos") and len(stream.tasks[0].splits["test"]) == 1


def test_hf_loader_unreachable_hub_name_is_one_clear_error(hf_offline):
    with pytest.raises(
        DataError, match="could not load .*'someone/no_such_dataset'.*offline.*local path"
    ) as info:
        load_hf("someone/no_such_dataset", "train")
    assert info.value.__cause__ is None and info.value.__suppress_context__


# ---------------------------------------------------------------- real data (optional)


def real_data_dir() -> Path | None:
    for cand in (os.environ.get("LIFELONG_DATA"), REPO.parent / "shared" / "data", "/work/shared/data"):
        if cand and (Path(cand) / "tc" / "agnews" / "train.jsonl").is_file():
            return Path(cand)
    return None


@pytest.mark.skipif(real_data_dir() is None, reason="real benchmark data not available (set LIFELONG_DATA)")
def test_real_tc_order_i():
    stream = load_stream(StreamConfig(benchmark="tc", order="i", max_train=5), real_data_dir())
    assert stream.task_names == ["yelp", "agnews", "dbpedia", "amazon", "yahoo"]
    assert all(len(t.splits["train"]) == 5 for t in stream)
    agnews = stream.task("agnews")
    assert agnews.labels == ("Business", "Sci/Tech", "Sports", "World") and len(agnews.splits["test"]) == 2000
    assert agnews.source["path"] == "tc/agnews" and agnews.source["max_train"] == 5


def test_eval_split_dev_drops_test_so_selection_never_sees_it() -> None:
    from lifelong.data.stream import load_stream

    cfg = build_dataclass(StreamConfig, {"benchmark": "builtin", "eval_split": "dev", "max_dev": 6})
    for task in load_stream(cfg).tasks:
        assert "test" not in task.splits and task.eval_split() == "dev" and len(task.split("dev")) == 6
        assert task.source["eval_split"] == "dev"  # a saved learner rebuilds the same splits
    with pytest.raises(ConfigError, match="eval_split"):
        build_dataclass(StreamConfig, {"eval_split": "train"})
