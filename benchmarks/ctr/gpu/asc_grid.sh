#!/bin/bash
# Device script: the ASC-19 paper-protocol grid (all seeds, all methods) under MPS, 16 runs at a time.
# carry [".carry/ctr"] (bash benchmarks/ctr/gpu/make_carry.sh); run as `LIMIT=560 bash benchmarks/ctr/gpu/asc_grid.sh
# 2>&1 | tee $OUT/run.log`. At most 8 files come back from $OUT (this writes 5), and the tracked benchmarks/records
# is reset to the checkout at every call, so records go to /tmp/rec (seeded from the committed ones).
# Back here: widen the model to /tmp/minilm as below and pass `--model /tmp/minilm` to run_tables.py, since
# records are matched by config. An ASC run takes 6 (hat) to 14 min (ctr) alone on the H200 (docs/results.md §4e),
# longer when many share it, and only finished runs come back: a session's 900 s hold about 800 s of work, in
# two calls on the warm machine (the second resumes the runs in /tmp/ctr-h200). So give one session to ctr alone
# (`METHODS=ctr JOBS=3`, then the same command again with LIMIT=230) and the others to the cheaper methods
# (`METHODS="hat adapter_one separate adapter_ncl finetune ewc multitask"`, at most ~8 at a time).
set -u
T0=$(date +%s); LIMIT=${LIMIT:-560}
export PYTHONPATH=$PWD/src PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
mkdir -p /tmp/data /tmp/minilm /tmp/rec $OUT
[ -d benchmarks/records/ctr-paper-h200 ] && cp -rn benchmarks/records/ctr-paper-h200 /tmp/rec/
tar xJf .carry/ctr/data.tar.xz -C /tmp/data
cp -r .carry/ctr/minilm/. /tmp/minilm/ && rm /tmp/minilm/model16.safetensors
python3 - <<'PY'
from safetensors.torch import load_file, save_file
t = load_file(".carry/ctr/minilm/model16.safetensors")
save_file({k: v.float() for k, v in t.items()}, "/tmp/minilm/model.safetensors")
PY
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
export CUDA_MPS_PIPE_DIRECTORY=/tmp/mps CUDA_MPS_LOG_DIRECTORY=/tmp/mpslog
mkdir -p /tmp/mps /tmp/mpslog
if command -v nvidia-cuda-mps-control >/dev/null && nvidia-cuda-mps-control -d && \
   timeout 60 python3 -c "import torch; print('mps client ok', torch.ones(3, device='cuda').sum().item())"; then
  echo "MPS on at $(( $(date +%s) - T0 ))s"
else
  echo "MPS off"; echo quit | nvidia-cuda-mps-control 2>/dev/null; unset CUDA_MPS_PIPE_DIRECTORY CUDA_MPS_LOG_DIRECTORY
fi
pack() { tar czf $OUT/records.tgz.part -C /tmp/rec ctr-paper-h200 2>/dev/null && mv $OUT/records.tgz.part $OUT/records.tgz; \
  cp /tmp/ctr-h200/timings.json $OUT/timings.json 2>/dev/null; }
( while sleep 15; do pack; done ) & PACKER=$!
( while sleep 30; do echo "$(( $(date +%s) - T0 ))s $(nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv,noheader)"; done ) >> $OUT/gpu.log & MON=$!
LEFT=$(( LIMIT - ($(date +%s) - T0) ))
COMMON="--protocol paper --model /tmp/minilm --out /tmp/ctr-h200 --records /tmp/rec/ctr-paper-h200 --data-dir /tmp/data --threads 1"
timeout $LEFT python3 benchmarks/ctr/run_tables.py $COMMON --benchmarks asc --seeds ${SEEDS:-0 1 2} --methods ${METHODS:-ctr hat adapter_one separate adapter_ncl finetune ewc multitask} --jobs ${JOBS:-16} > $OUT/asc.log 2>&1 & D=$!
wait $D
pkill -TERM -f "lifelong run" && sleep 10  # timeout stops the table script, not the runs it started: stop them cleanly (they resume)
kill $PACKER $MON 2>/dev/null; pack
echo "done at $(( $(date +%s) - T0 ))s"; grep -h "\[ok\]\|FAILED" $OUT/*.log
tail -n 3 /tmp/ctr-h200/asc-seed*/*/*.log 2>/dev/null | tail -n 20
