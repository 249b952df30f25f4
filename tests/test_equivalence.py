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
