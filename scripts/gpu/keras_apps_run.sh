#!/bin/bash
# Issue 17, step 2 (on the lent GPU machine, in the repository root; carry .gl, .gpuwheels and models/build/kapps-gz):
# each fp32 file on the CPU and the GPU, each `gpu` file on the GPU. .gl holds the Vulkan/GL loader .debs and
# .gpuwheels devlab's cp312 wheels (docs/gpu-results.md, set-up). Prints the table docs/real-models.md holds.
set -uo pipefail
R=$PWD
if [ ! -d /tmp/pk ]; then
  for f in .gl/*.deb; do dpkg -x "$f" /; done; ldconfig
  python3 -m pip install -q --no-deps --no-index --target /tmp/pk .gpuwheels/*.whl
fi
export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json PYTHONPATH=/tmp/pk:$R
out=${OUT:-/tmp/ka-out}/ka
mkdir -p /tmp/ka "$out"
for f in "$R"/models/build/kapps-gz/*.gz; do gunzip -c "$f" > "/tmp/ka/$(basename "$f" .gz)"; done
for f in /tmp/ka/*.tflite; do
  n=$(basename "$f" .tflite)
  case $n in *-fp32) acc=all;; *) acc=gpu;; esac
  timeout 240 python3 -m devlab run --model "$f" --variants as-is --accelerator $acc --runs 10 --min-secs 0.2 \
    --out /tmp/ka/traces --json > "$out/$n.json" 2> "$out/$n.err"
  echo "== $n accelerator=$acc exit=$?"
done
python3 "$R/scripts/gpu/keras_apps_summary.py" "$out"
