#!/bin/bash
# Device script: where a paper-protocol ASC update spends its time on the GPU (cProfile, task 1, 3 epochs).
# carry [".carry/ctr"] (benchmarks/ctr/gpu/make_carry.sh); `bash benchmarks/ctr/gpu/profile.sh 2>&1 | tee $OUT/run.log`, timeout ~480.
# Measures the GPU time per update of hat, finetune and ctr (rerun it after changes to the plugins, results §4e-f).
set -u
T0=$(date +%s)
export PYTHONPATH=$PWD/src PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false OMP_NUM_THREADS=1
mkdir -p /tmp/data /tmp/minilm $OUT
tar xJf .carry/ctr/data.tar.xz -C /tmp/data
cp -r .carry/ctr/minilm/. /tmp/minilm/ && rm /tmp/minilm/model16.safetensors
python3 - <<'PY'
from safetensors.torch import load_file, save_file
t = load_file(".carry/ctr/minilm/model16.safetensors")
save_file({k: v.float() for k, v in t.items()}, "/tmp/minilm/model.safetensors")
PY
python3 benchmarks/ctr/run_tables.py --protocol paper --tasks 1 --epochs 3 --methods hat ctr finetune --seeds 0 --benchmarks asc --model /tmp/minilm --out /tmp/prof --no-records --data-dir /tmp/data --threads 1 --dry-run > /dev/null
# ctrc: ctr with method_args.compile_routing (torch.compile of the capsules and routing), the A/B of §4f
python3 -c "
import yaml
c = yaml.safe_load(open('/tmp/prof/asc-seed0/ctr.yaml'))
c['method_args'] = {**(c.get('method_args') or {}), 'compile_routing': True}
yaml.safe_dump(c, open('/tmp/prof/asc-seed0/ctrc.yaml', 'w'), sort_keys=False)"
for m in hat finetune ctr ctrc; do  # $OUT gets run.log and one .prof.txt per method (at most 8 files come back)
  timeout $([ $m = ctrc ] && echo 150 || echo 80) python3 -m cProfile -o /tmp/prof/$m.prof -m lifelong run /tmp/prof/asc-seed0/$m.yaml --out /tmp/prof/asc-seed0/$m > /tmp/prof/$m.log 2>&1
  echo "$m rc=$? at $(( $(date +%s) - T0 ))s"
  python3 -c "
import json, pstats, sys
m = '$m'
try:
    t = json.load(open(f'/tmp/prof/asc-seed0/{m}/metrics.json'))['training']; print(m, t)
except Exception as e: print(m, 'no metrics', e)
s = pstats.Stats(f'/tmp/prof/{m}.prof', stream=sys.stdout)
s.sort_stats('tottime').print_stats(40); s.sort_stats('cumtime').print_stats('lifelong', 40)
" > $OUT/$m.prof.txt 2>&1
  tail -n 30 /tmp/prof/$m.log >> $OUT/$m.prof.txt
  head -3 $OUT/$m.prof.txt | cut -c1-300
done
echo "done at $(( $(date +%s) - T0 ))s"
