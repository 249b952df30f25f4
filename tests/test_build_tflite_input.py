"""A .tflite model as input: as-is plus ai-edge-quantizer's recipes, each checked against the original."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest

from devlab.build.pipeline import build_variants
from devlab.build.sources import resolve_model
from devlab.build.tflite_graph import read_tflite
from devlab.build.variants import parse_variants


@pytest.fixture(scope="module")
def float_tflite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small float model converted by the real TF converter, saved under a hostile user file name."""
    import keras

    from devlab.build.convert import convert_keras
    keras.utils.set_random_seed(1)
    inputs = keras.Input((16, 16, 8), batch_size=1)
    x = keras.layers.Conv2D(32, 3, padding="same", activation="relu")(inputs)
    x = keras.layers.Conv2D(32, 3, padding="same")(x)
    outputs = keras.layers.Dense(16)(x)
    path = tmp_path_factory.mktemp("tflite-input") / "my model; (v1).tflite"
    path.write_bytes(convert_keras(keras.Model(inputs, outputs), "none").data)
    return path


def test_tflite_variants_are_quantized_and_checked(float_tflite: Path, tmp_path: Path) -> None:
    source = resolve_model(str(float_tflite))
    assert source.type == "tflite" and source.name == "my_model_v1"
    manifest = build_variants(source, parse_variants(None, "tflite"), tmp_path / "out")
    assert [v.name for v in manifest.variants] == ["as-is", "int8-dynamic", "int8-weight-only"]
    as_is = manifest.variant("as-is")
    assert as_is.sha256 == hashlib.sha256(float_tflite.read_bytes()).hexdigest()
    assert as_is.op_histogram == read_tflite(float_tflite).op_histogram()
    for name in ("int8-dynamic", "int8-weight-only"):
        variant = manifest.variant(name)
        assert variant.bytes < as_is.bytes * 0.5, "int8 weights should shrink the float model"
        assert variant.equivalence is not None and variant.equivalence["passed"]
        assert variant.equivalence["max_abs_error"] > 0  # quantization changes the numbers a little
        assert "warning" not in variant.recipe
    assert float_tflite.read_bytes()[4:8] == b"TFL3"  # the user's file is untouched


def test_a_quantizer_no_op_is_flagged(real_fixtures: Path, tmp_path: Path) -> None:
    # ai-edge-quantizer has no rule for this TF 2.4-era phone model: the "int8" file is the float model.
    model = tmp_path / "mnv3_seg_float.tflite"
    shutil.copyfile(real_fixtures / "models" / "poco_x3" / "mnv3_seg_float.tflite", model)
    manifest = build_variants(resolve_model(str(model)), parse_variants("as-is,int8-dynamic", "tflite"),
                              tmp_path / "out")
    assert sum(manifest.variant("as-is").op_histogram.values()) == 77  # per the fixture's ops_summary.jsonl
    assert "quantized no weights" in manifest.variant("int8-dynamic").recipe["warning"]


def test_variant_grammar() -> None:
    spec = parse_variants("groupnorm-4d+fp16,fp32,gpu", "keras")
    assert [s.name for s in spec] == ["groupnorm-4d+fp16", "fp32", "gpu"]
    assert spec[0].rewrites == ("groupnorm-4d",) and spec[0].quantization == "fp16"
    assert spec[1].is_reference
    assert spec[2].quantization == "fp16" and "groupnorm-4d" in spec[2].rewrites
