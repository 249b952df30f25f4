"""Keras models with a dynamic batch (`None`): built on batch 1 by default, the manifest says so, `--input-shape`
chooses another shape; unknown dims other than the batch are a usage error that names the flag."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cli_helpers import run_devlab
from devlab.build.input_shapes import (DEFAULT_BATCH_NOTE, OPTION_NOTE, RequestedShape, parse_input_shapes,
                                       plan_input_shapes)
from devlab.errors import UsageError


def test_parse_input_shapes() -> None:
    assert parse_input_shapes(["image=1x64x64x4", "ids=1x77"]) == (
        RequestedShape("image", (1, 64, 64, 4)), RequestedShape("ids", (1, 77)))
    assert parse_input_shapes(["a=1x2,b=3"]) == (RequestedShape("a", (1, 2)), RequestedShape("b", (3,)))
    assert parse_input_shapes(["2x224x224x3"]) == (RequestedShape(None, (2, 224, 224, 3)),)
    for bad in ("image=", "image=1xx3", "image=0x3", "image=1x-3", "image=axb"):
        with pytest.raises(UsageError, match="NAME=DIMxDIMx"):
            parse_input_shapes([bad])
    with pytest.raises(UsageError, match="twice"):
        parse_input_shapes(["a=1", "a=2"])


def test_plan_fixes_a_none_batch_to_one_and_follows_the_option() -> None:
    (fixed,) = plan_input_shapes([("image", (None, 8, 8, 3))], ())
    assert (fixed.shape, fixed.how) == ((1, 8, 8, 3), DEFAULT_BATCH_NOTE)
    (fixed,) = plan_input_shapes([("image", (None, 8, 8, 3))], parse_input_shapes(["4x8x8x3"]))
    assert (fixed.shape, fixed.how) == ((4, 8, 8, 3), OPTION_NOTE)
    # static inputs are left alone; a fully convolutional model's size comes from the option
    assert plan_input_shapes([("image", (1, 8, 8, 3))], ()) == ()
    assert plan_input_shapes([("image", (1, 8, 8, 3))], parse_input_shapes(["1x8x8x3"])) == ()
    (fixed,) = plan_input_shapes([("x", (None, None, None, 3))], parse_input_shapes(["x=1x32x48x3"]))
    assert fixed.shape == (1, 32, 48, 3) and fixed.model_shape == (None, None, None, 3)


@pytest.mark.parametrize("inputs, option, message", [
    ([("x", (None, None, None, 3))], [], r"unknown dimensions \(None, None, None, 3\).*--input-shape x=1xNxNx3"),
    ([("x", (None, 8))], ["y=1x8"], "does not have.*inputs are: x"),
    ([("x", (None, 8))], ["x=1x8x8"], "rank 3, input 'x' has rank 2"),
    ([("x", (None, 8))], ["x=1x9"], "dimension 1 is fixed to 8"),
    ([("a", (None, 8)), ("b", (None, 8))], ["1x8"], "names no input and the model has 2"),
])
def test_plan_refuses_what_it_cannot_honour(inputs, option, message) -> None:
    with pytest.raises(UsageError, match=message):
        plan_input_shapes(inputs, parse_input_shapes(option))


def _save_dynamic_batch_model(path: Path) -> Path:
    import keras

    inputs = keras.Input((16, 16, 3), name="image")   # batch None, as keras.applications models come
    h = keras.layers.Conv2D(8, 3, padding="same", activation="relu")(inputs)
    h = keras.layers.BatchNormalization()(h)
    h = keras.layers.GlobalAveragePooling2D()(h)
    keras.Model(inputs, keras.layers.Dense(10, activation="softmax")(h)).save(path)
    return path


@pytest.mark.slow
def test_a_dynamic_batch_model_is_built_on_batch_one_and_fully_on_the_gpu(tmp_path) -> None:
    from devlab.build.tflite_graph import read_tflite

    model = _save_dynamic_batch_model(tmp_path / "dyn.keras")
    result = run_devlab("build", str(model), "--variants", "fp32,fp16", "--out", str(tmp_path / "out"),
                        cwd=tmp_path, timeout=600)
    assert result.exit_code == 0, result.stderr
    console = " ".join(result.stderr.split())   # the console is stderr, wrapped at its width
    assert "note: input 'image' (None, 16, 16, 3) converted as 1x16x16x3: batch None fixed to 1" in console
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    for variant in manifest["variants"]:
        assert variant["recipe"]["inputs"] == [{"name": "image", "model_shape": [None, 16, 16, 3],
                                                "shape": [1, 16, 16, 3], "how": DEFAULT_BATCH_NOTE}]
        graph = read_tflite(Path(variant["path"]))
        assert not any(t.dynamic for t in graph.tensors)   # the converter kept no -1 anywhere
        assert variant["delegation"]["applied"] == "full" and variant["delegation"]["ops_on_cpu"] == 0
    # another batch through the option: another build key, another file, said in the manifest
    result = run_devlab("build", str(model), "--variants", "fp32", "--input-shape", "image=2x16x16x3", "--out",
                        str(tmp_path / "out"), "--json", cwd=tmp_path, timeout=600)
    assert result.exit_code == 0, result.stderr
    (variant,) = json.loads(result.stdout[result.stdout.index("{"):result.stdout.rindex("}") + 1])["variants"]
    assert variant["recipe"]["inputs"][0]["shape"] == [2, 16, 16, 3]
    assert variant["recipe"]["inputs"][0]["how"] == OPTION_NOTE
    (tensor,) = [t for t in read_tflite(Path(variant["path"])).tensors if t.name.endswith("image:0")]
    assert tensor.shape == (2, 16, 16, 3)


@pytest.mark.slow
def test_input_shape_errors_are_one_line_usage_errors(tmp_path) -> None:
    import keras

    path = tmp_path / "fcn.keras"
    inputs = keras.Input((None, None, 3), name="frame")
    keras.Model(inputs, keras.layers.Conv2D(4, 3)(inputs)).save(path)
    result = run_devlab("build", str(path), "--variants", "fp32", cwd=tmp_path, timeout=300)
    assert result.exit_code == 2 and "Traceback" not in result.stderr
    assert "input 'frame' has unknown dimensions (None, None, None, 3)" in result.stderr
    assert "pass --input-shape frame=1xNxNx3" in result.stderr
    result = run_devlab("build", str(path), "--variants", "fp32", "--input-shape", "img=1x8x8x3", cwd=tmp_path,
                        timeout=300)
    assert result.exit_code == 2 and "the model's inputs are: frame" in result.stderr
    result = run_devlab("run", "--model", str(path), "--input-shape", "frame=1x8", cwd=tmp_path, timeout=300)
    assert result.exit_code == 2 and "rank 2, input 'frame' has rank 4" in result.stderr
    result = run_devlab("build", str(path), "--input-shape", "frame=1by8", cwd=tmp_path, timeout=60)
    assert result.exit_code == 2 and "is not NAME=DIMxDIMx" in result.stderr


def test_input_shape_needs_a_keras_source(tmp_path, real_fixtures) -> None:
    model = real_fixtures / "models" / "litert" / "simple_add_dynamic_shape.tflite"
    result = run_devlab("build", str(model), "--input-shape", "1x4", cwd=tmp_path, timeout=120)
    assert result.exit_code == 2 and "--input-shape needs a Keras model or a zoo name, not a tflite" in result.stderr
