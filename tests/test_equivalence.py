"""Every zoo model converts (real TF converter) and every rewrite keeps outputs equivalent (real LiteRT)."""

from __future__ import annotations

from pathlib import Path

import pytest

from devlab.build.equivalence import Tolerance, check_equivalence, tolerance_for

pytestmark = pytest.mark.slow


def _convert(tmp_path: Path, model: str, recipes: tuple[str, ...], quantization: str = "none") -> Path:
    from devlab.build.convert import convert_keras
    from devlab.build.rewrites import graph_options_for
    from devlab.zoo import get_zoo_model
    from devlab.zoo.sd_unet import UNetConfig, build_sd_unet

    options = graph_options_for(recipes)
    if model == "sd-unet":  # smallest UNet that still has both paths: keeps the test in seconds
        keras_model = build_sd_unet(options, 0, UNetConfig(resolution=16, widths=(32, 32)))
    else:
        keras_model = get_zoo_model(model).build(options, 0)
    path = tmp_path / f"{model}-{'-'.join(recipes) or 'ref'}-{quantization}.tflite"
    path.write_bytes(convert_keras(keras_model, quantization).data)
    return path


@pytest.mark.parametrize("model, recipes", [
    ("sd-block", ("groupnorm-4d",)),
    ("sd-block", ("gelu-tanh",)),
    ("sd-block", ("attention-4d-fused-softmax",)),
    ("sd-unet", ("groupnorm-4d", "gelu-builtin", "attention-4d", "upsample-resize")),
    ("clip-text", ("attention-4d", "gelu-builtin")),
])
def test_rewrite_is_equivalent(tmp_path, model, recipes):
    reference = _convert(tmp_path, model, ())
    result = check_equivalence(reference, _convert(tmp_path, model, recipes), tolerance=tolerance_for(recipes))
    assert result.passed, result
    assert result.samples == 3 and result.max_abs_error <= result.tolerance.max_abs


def test_mobilenet_fp16_within_fp16_tolerance_and_a_tight_tolerance_fails(tmp_path):
    reference = _convert(tmp_path, "mobilenet-v2", ())
    candidate = _convert(tmp_path, "mobilenet-v2", (), "fp16")
    assert check_equivalence(reference, candidate, tolerance=tolerance_for(["fp16"])).passed
    strict = check_equivalence(reference, candidate, tolerance=Tolerance(0.0, 0.0))
    assert not strict.passed and strict.max_abs_error > 0  # fp16 weights do change the numbers


def test_the_fp32_reference_follows_the_seed(tmp_path):
    # without fp32 among the variants, equivalence needs a reference of its own: one built for another seed would
    # compare different weights and fail a correct rewrite
    from devlab.build.pipeline import REFERENCE_PREFIX, build_variants
    from devlab.build.sources import resolve_model
    from devlab.build.variants import parse_variants

    source = resolve_model("sd-block")
    for seed in (0, 1):
        manifest = build_variants(source, parse_variants("groupnorm-4d", source.kind), tmp_path, seed=seed)
        (variant,) = manifest.variants
        assert variant.equivalence["passed"] and variant.equivalence["max_abs_error"] < 1e-3
    assert len(list(tmp_path.glob(f"{REFERENCE_PREFIX}*.tflite"))) == 2


def _classifier(tmp_path: Path, name: str, *, logit_scale: float, quantization: str = "none",
                flip_logits: bool = False, constant_logits: bool = False) -> Path:
    """A classifier head as random-init keras.applications models end: softmax over logits so small that every
    class gets about 1/classes (MobileNetV3Small: 0.001 +- 1e-10). The logits are made small by the kernel, kept
    above fp16's normal range (6e-5) so that fp16 stays as exact as on a real model."""
    import keras
    import numpy as np

    from devlab.build.convert import convert_keras

    keras.utils.set_random_seed(0)
    dense = keras.layers.Dense(10, activation="softmax")
    if constant_logits:   # the input straight into a zero kernel: nothing in the graph depends on the input
        inputs = keras.Input((8,), batch_size=1)
        model = keras.Model(inputs, dense(inputs))
    else:
        inputs = keras.Input((8, 8, 3), batch_size=1)
        h = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(16, 3, activation="relu")(inputs))
        model = keras.Model(inputs, dense(h))
    kernel, bias = dense.get_weights()
    if constant_logits:
        kernel, bias = np.zeros_like(kernel), np.full_like(bias, 0.5)
    dense.set_weights([kernel * logit_scale * (-1 if flip_logits else 1), bias])
    path = tmp_path / f"{name}.tflite"
    path.write_bytes(convert_keras(model, quantization).data)
    return path


def test_a_near_constant_softmax_is_judged_on_its_logits(tmp_path):
    reference = _classifier(tmp_path, "ref", logit_scale=1e-3)
    tolerance = tolerance_for(["fp16"])
    # fp16 of the same model: compared on the pre-softmax logits, by relative error, and says so
    honest = check_equivalence(reference, _classifier(tmp_path, "fp16", logit_scale=1e-3, quantization="fp16"),
                               tolerance=tolerance)
    assert honest.passed is True and honest.informative
    (stand_in,) = honest.stand_ins
    assert stand_in.path == ("SOFTMAX",) and stand_in.tensor and "near-constant" in (honest.note or "")
    assert 0 < honest.max_rel_error <= tolerance.max_rel    # a real figure, not the softmax's 0.00e+00
    # a broken variant (logits of the opposite sign) has the same constant softmax: the old check passed it
    broken = check_equivalence(reference, _classifier(tmp_path, "flip", logit_scale=1e-3, flip_logits=True),
                               tolerance=tolerance)
    assert broken.passed is False and broken.max_rel_error > 1
    # outputs of a normal spread are compared as they are, with no stand-in
    normal = check_equivalence(_classifier(tmp_path, "big", logit_scale=300.0),
                               _classifier(tmp_path, "big16", logit_scale=300.0, quantization="fp16"),
                               tolerance=tolerance)
    assert normal.passed is True and normal.stand_ins == () and normal.note is None


def test_an_output_no_tensor_can_vouch_for_is_not_informative(tmp_path):
    reference = _classifier(tmp_path, "const", logit_scale=1.0, constant_logits=True)
    result = check_equivalence(reference, _classifier(tmp_path, "const16", logit_scale=1.0, constant_logits=True,
                                                      quantization="fp16"), tolerance=tolerance_for(["fp16"]))
    # the logits are the bias alone and the walk back stops at the model input: nothing tells a working variant
    # from a broken one, so the check says so instead of passing
    assert result.passed is None and not result.informative
    assert result.to_json()["informative"] is False and result.note.startswith("not informative")
