#!/usr/bin/env bash
# The five foundation baselines on real data; writes benchmarks/out/baselines/<bench>/<method> run folders
# and a comparison table. Usage: benchmarks/baselines/run.sh tc|asc [seed]
set -euo pipefail
bench=${1:-tc}
seed=${2:-0}
here=$(cd "$(dirname "$0")" && pwd)
out=${OUT:-$here/../out/baselines/$bench-seed$seed}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}  # one core per benchmark; two benchmarks share the machine
export LIFELONG_DATA=${LIFELONG_DATA:-$here/../../../shared/data}
mkdir -p "$out"
for method in finetune replay ewc separate multitask; do
  if [ -f "$out/$method/metrics.json" ]; then continue; fi
  resume=""; [ -d "$out/$method" ] && resume="--resume"
  /usr/bin/time -f "$method wall %e s" lifelong run "$here/$bench.yaml" --set method="$method" --set seed="$seed" \
    --out "$out/$method" $resume 2>&1 | grep -vE "^(train|eval) " | tee -a "$out/log.txt"
done
lifelong report "$out"/finetune "$out"/replay "$out"/ewc "$out"/separate "$out"/multitask | tee "$out/table.md"
