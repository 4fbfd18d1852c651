#!/bin/bash
# LAMOL on the GPU, call 1 of 2: keep the first half of the smollm2 GGUF and the data in /tmp (the machine stays
# warm for call 2, which brings the second half: the whole file is over one call's 64 MiB), and check that LAMOL
# works on CUDA with the tiny model: the built-in stream, then the decaNLP stream on the real data (its runs
# failed on CUDA on 2026-12-04 within 30 s; the traceback of this smoke shows why).
# $OUT gets at most 3 files (a call brings back at most 8).
set -u
T0=$(date +%s)
mkdir -p /tmp/lamol /tmp/data && cp .carry/lamol-a/gguf.part-a /tmp/lamol/ && echo "part a kept: $(stat -c %s /tmp/lamol/gguf.part-a) bytes"
tar xJf .carry/lamol-a/data.tar.xz -C /tmp/data && ls /tmp/data
# the device's Python lacks some of our dependencies (rouge-score: QA scoring; decaNLP runs failed on it): add
# the missing ones, pure wheels (regex for several Pythons), into /tmp/site, which call 2 keeps using
MISSING=$(python3 -c "
import importlib.util as u
mods = {'rouge_score': 'rouge_score', 'absl': 'absl-py', 'nltk': 'nltk', 'regex': 'regex', 'click': 'click', 'joblib': 'joblib', 'six': 'six'}
print(' '.join(p for m, p in mods.items() if u.find_spec(m) is None))")
echo "missing on this machine: ${MISSING:-none}"
[ -z "$MISSING" ] || python3 -m pip install -q --no-index --no-deps --no-compile --find-links .carry/lamol-a/wheels --target /tmp/site $MISSING
python3 -c "import sys; print(sys.version)"
export PYTHONPATH=/tmp/site:$PWD/src PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
rm -rf /tmp/lsmoke /tmp/dsmoke
timeout ${SMOKE_S:-120} python3 -m lifelong run --set model.name=tiny-gpt2 --set method=lamol --set stream.max_train=16 \
  --set stream.max_eval=8 --set training.epochs=1 --out /tmp/lsmoke > $OUT/smoke.log 2>&1
echo "smoke rc=$?"; tail -n 2 $OUT/smoke.log; grep -h -i -A3 "traceback\|error" $OUT/smoke.log | head -30
timeout ${SMOKE_S:-120} python3 -m lifelong run --set model.name=tiny-gpt2 --set method=lamol --set stream.benchmark=decanlp \
  --set stream.order=woz-squad-sst --set stream.max_train=8 --set stream.max_eval=4 --set training.epochs=1 \
  --set data_dir=/tmp/data --set model.max_length=320 --set model.max_answer_length=24 --out /tmp/dsmoke > $OUT/dsmoke.log 2>&1
echo "decanlp smoke rc=$?"; tail -n 2 $OUT/dsmoke.log; grep -h -i -B2 -A12 "traceback" $OUT/dsmoke.log | head -60
python3 -c "import json, sys; e=json.load(open('/tmp/lsmoke/environment.json')); print({k: e.get(k) for k in ('cuda', 'torch', 'transformers')}, sys.version)" 2>&1
echo "call 1 done at $(( $(date +%s) - T0 ))s"
