#!/bin/bash
# Build the two carry folders the GPU calls need (ignored by git: .carry is in .git/info/exclude). Each call
# may carry at most 64 MiB, and the smollm2 GGUF is 98 MB, so it travels in two halves:
#   .carry/lamol-a: first half of the GGUF, the tc + decaNLP data, wheels of dependencies the device lacks
#   .carry/lamol-b: second half of the GGUF, the gguf reader wheel
# Usage: bash benchmarks/lamol/gpu/make_carry.sh [DATA_DIR]   (after `lifelong fetch smollm2-135m`)
set -eu
DATA=${1:-../shared/data}
G=${LIFELONG_CACHE:-$HOME/.cache/lifelong}/smollm2-135m/SmolLM2-135M-Instruct.Q4_1.gguf
HALF=49181216
mkdir -p .carry/lamol-a/wheels .carry/lamol-b
head -c $HALF "$G" > .carry/lamol-a/gguf.part-a
tail -c +$((HALF + 1)) "$G" > .carry/lamol-b/gguf.part-b
tar cJf .carry/lamol-a/data.tar.xz -C "$DATA" README.md tc decanlp
pip download -q --no-deps --only-binary=:all: gguf==0.19.0 -d .carry/lamol-b
pip wheel -q --no-deps rouge_score==0.1.2 -w .carry/lamol-a/wheels
pip download -q --no-deps --only-binary=:all: absl-py nltk click joblib six -d .carry/lamol-a/wheels
for v in 310 311 312 313 314; do
  pip download -q --no-deps --only-binary=:all: --python-version $v --platform manylinux2014_x86_64 \
    --platform manylinux_2_17_x86_64 --platform manylinux_2_28_x86_64 regex -d .carry/lamol-a/wheels
done
du -sh .carry/lamol-a .carry/lamol-b
