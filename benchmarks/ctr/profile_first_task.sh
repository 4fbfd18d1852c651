#!/bin/bash
# Where a paper-protocol ASC update spends its time: cProfile of the first ASC task (3 epochs, 198 updates)
# for hat, finetune and ctr, one after another. Usage: profile_first_task.sh MODEL_DIR DATA_DIR OUT_DIR
# (on a GPU machine; docs/results.md §4e). Prints the tokens/s per run; OUT_DIR/<method>.prof.txt holds the
# 40 most expensive functions and the library's own, by cumulative time.
set -eu
MODEL=$1 DATA=$2 OUT=$3
mkdir -p "$OUT"
python3 benchmarks/ctr/run_tables.py --protocol paper --tasks 1 --epochs 3 --methods hat ctr finetune --seeds 0 \
  --benchmarks asc --model "$MODEL" --out "$OUT/runs" --no-records --data-dir "$DATA" --threads 1 --dry-run > /dev/null
for m in hat finetune ctr; do
  python3 -m cProfile -o "$OUT/$m.prof" -m lifelong run "$OUT/runs/asc-seed0/$m.yaml" --out "$OUT/runs/asc-seed0/$m" > "$OUT/$m.log" 2>&1
  python3 - "$OUT" "$m" <<'PY'
import json, pstats, sys
out, m = sys.argv[1:]
print(m, json.load(open(f"{out}/runs/asc-seed0/{m}/metrics.json"))["training"])
with open(f"{out}/{m}.prof.txt", "w") as f:
    s = pstats.Stats(f"{out}/{m}.prof", stream=f)
    s.sort_stats("tottime").print_stats(40)
    s.sort_stats("cumtime").print_stats("lifelong", 40)
PY
done
