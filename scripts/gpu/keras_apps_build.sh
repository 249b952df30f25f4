#!/bin/bash
# Issue 17, step 1 (here, with TensorFlow): every keras.applications architecture of the matrix as a user makes it
# (weights=None, 224x224 or the model's default, saved as .keras), built by devlab with constant weights (they
# compress, so the files fit the GPU machine's 64 MiB carry), gzipped into models/build/kapps-gz.
# Step 2 runs on the lent GPU machine: scripts/gpu/keras_apps_run.sh (docs/real-models.md).
set -euo pipefail
cd "$(dirname "$0")/../.."
work=$(mktemp -d)
mkdir -p models/build/kapps-gz
for name in MobileNetV2 MobileNetV3Small MobileNetV3Large EfficientNetB0 EfficientNetV2B0 ConvNeXtTiny ResNet50 \
            DenseNet121 Xception NASNetMobile; do
  .venv/bin/python - "$name" "$work/$name.keras" <<'PY'
import sys
import keras
name, out = sys.argv[1], sys.argv[2]
shape = {} if name == "Xception" else {"input_shape": (224, 224, 3)}     # Xception: its default 299x299
getattr(keras.applications, name)(weights=None, **shape).save(out)
PY
  .venv/bin/devlab build "$work/$name.keras" --constant-weights --variants fp32,gpu --out "models/build/kapps-$name"
  for v in fp32 gpu; do gzip -1 -c "models/build/kapps-$name/$v.tflite" > "models/build/kapps-gz/$name-$v.tflite.gz"; done
done
