#!/bin/bash
# LAMOL on the GPU, call 2 of 2 (right after call 1, on the still-warm machine): assemble the smollm2 GGUF, then
# the LAMOL grid as a queue of run_table invocations, $JOBS at a time under MPS, most needed first.
# Lessons of 2026-12-04: a call brings back at most 8 files from $OUT (the packed records were dropped when 17
# logs sat beside them), and the tracked benchmarks/records is reset to this checkout at every call. So records
# go to /tmp/rec (seeded from the committed ones) and the only files in $OUT are run.log, gpu.log, records.tgz,
# which also holds every log.
set -u
T0=$(date +%s); LIMIT=${LIMIT:-560}; JOBS=${JOBS:-16}
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .carry/lamol-b/*.whl || exit 3
export PYTHONPATH=/tmp/site:$PWD/src PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
export LIFELONG_CACHE=/tmp/lcache
mkdir -p $LIFELONG_CACHE/smollm2-135m /tmp/rec /tmp/glogs
[ -d /tmp/data/tc ] || { echo "no /tmp/data: run call 1 first"; exit 6; }
python3 -c "import rouge_score.rouge_scorer" || { echo "no rouge_score: run call 1 first"; exit 7; }
G=$LIFELONG_CACHE/smollm2-135m/SmolLM2-135M-Instruct.Q4_1.gguf
[ -f $G ] || cat /tmp/lamol/gguf.part-a .carry/lamol-b/gguf.part-b > $G || exit 4
echo "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53  $G" | sha256sum -c || exit 5
for r in lamol-tc160 lamol-decanlp160; do [ -d benchmarks/records/$r ] && cp -rn benchmarks/records/$r /tmp/rec/; mkdir -p /tmp/rec/$r; done
[ -n "${DRY:-}" ] || timeout 150 python3 -c "
from transformers import AutoModelForCausalLM
from lifelong.models.presets import instantiate, load_model_spec
instantiate(load_model_spec('smollm2-135m'), AutoModelForCausalLM); print('smollm2 ok')" 2>&1 | tail -n 1
export CUDA_MPS_PIPE_DIRECTORY=/tmp/mps CUDA_MPS_LOG_DIRECTORY=/tmp/mpslog
mkdir -p /tmp/mps /tmp/mpslog
if nvidia-cuda-mps-control -d && timeout 60 python3 -c "import torch; print('mps client ok', torch.ones(3, device='cuda').sum().item())"; then
  echo "MPS on at $(( $(date +%s) - T0 ))s"
else
  echo "MPS off"; echo quit | nvidia-cuda-mps-control 2>/dev/null; unset CUDA_MPS_PIPE_DIRECTORY CUDA_MPS_LOG_DIRECTORY
fi
pack() {
  (cd benchmarks/out && find lamol-tc160 lamol-decanlp160 -maxdepth 3 -name '*.log' 2>/dev/null) > /tmp/loglist
  tar czf $OUT/records.tgz.part -C /tmp rec glogs -C $PWD/benchmarks/out -T /tmp/loglist 2>/dev/null
  mv $OUT/records.tgz.part $OUT/records.tgz
}
( while sleep 15; do pack; done ) & PACKER=$!
( while sleep 30; do echo "$(( $(date +%s) - T0 ))s $(nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv,noheader)"; done ) >> $OUT/gpu.log & MON=$!
export SIZE="--data-dir /tmp/data --threads 1 --max-train 160 --max-eval 24 --epochs 3"
# one line per invocation: stream seed variants...; done runs are restored from /tmp/rec in a second
{
  for ss in "tc-i 1" "tc-i 2" "tc-iv 0" "tc-iv 1" "tc-iv 2"; do
    for fam in "finetune multitask-final" "ewc" "lamol-gen" "lamol-task lamol-gamma0" "lamol-task-g0.05 lamol-real"; do echo "$ss $fam"; done
  done
  for ss in "decanlp-sst-squad-woz 0" "decanlp-woz-squad-sst 0"; do
    for fam in "finetune multitask-final" "ewc" "lamol-gen" "lamol-task lamol-gamma0" "lamol-task-g0.05 lamol-real"; do echo "$ss $fam"; done
  done
} > /tmp/jobs.txt
one() {
  set -- $1; stream=$1; seed=$2; shift 2
  case $stream in tc-*) name=lamol-tc160;; *) name=lamol-decanlp160;; esac
  left=$(( LIMIT - ($(date +%s) - T0) )); [ $left -gt 60 ] || exit 0
  timeout $left python3 benchmarks/lamol/run_table.py --out benchmarks/out/$name --records /tmp/rec/$name $SIZE \
    --streams $stream --seeds $seed --variants "$@" ${DRY:-} > /tmp/glogs/$stream-$seed-${1}.txt 2>&1
}
export -f one; export T0 LIMIT
xargs -P $JOBS -I{} -d '\n' bash -c 'one "$@"' _ {} < /tmp/jobs.txt
pkill -TERM -f "lifelong run" && sleep 10  # timeout stops run_table.py, not the runs it started: stop them cleanly (they resume)
kill $PACKER $MON 2>/dev/null; pack
echo "done at $(( $(date +%s) - T0 ))s"; grep -h "\[ok\]\|FAILED" /tmp/glogs/*.txt
