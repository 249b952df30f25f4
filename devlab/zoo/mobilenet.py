"""MobileNetV2 from keras.applications with seeded random weights (weights=None: no download).

It has no GroupNorm, GELU or attention, so GraphOptions change nothing: it is the control model whose naive
conversion the GPU delegate already takes whole (only fp16 differs between its variants).
"""

from __future__ import annotations

import keras

from devlab.zoo import GraphOptions
from devlab.zoo.layers import seed_weights


def build_mobilenet_v2(options: GraphOptions, seed: int, *, size: int = 128, alpha: float = 0.35) -> keras.Model:
    del options  # nothing in MobileNetV2 for the rewrites to change
    inputs = keras.Input((size, size, 3), batch_size=1, name="image")
    model = keras.applications.MobileNetV2(input_tensor=inputs, alpha=alpha, weights=None, classes=1000)
    return seed_weights(model, seed)
