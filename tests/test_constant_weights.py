"""Timing-only builds with constant weights (devlab/build/constant_weights.py): the same graph as the regular
conversion, every weight one fill value, finite outputs, and the gpu recipe still fully on the GPU."""

from __future__ import annotations

import numpy as np
import pytest

from devlab.build.constant_weights import convert_keras_constant_weights
from devlab.build.convert import convert_keras
from devlab.build.gpu_compat import plan_gpu_delegation
from devlab.build.rewrites import graph_options_for
from devlab.build.tflite_graph import read_tflite
from devlab.zoo import GraphOptions
from devlab.zoo.layers import fill_value
from devlab.zoo.sd_unet import UNetConfig, build_sd_unet

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def naive():
    return build_sd_unet(GraphOptions(), 0, UNetConfig())


def test_same_graph_and_size_as_the_regular_conversion(naive) -> None:
    regular = read_tflite(convert_keras(naive, "none").data)
    constant = read_tflite(convert_keras_constant_weights(naive, "none").data)
    assert constant.op_histogram() == regular.op_histogram()
    # every weight is written out in full (no two merged into one buffer): the file is as large as the real one
    assert constant.size_bytes == pytest.approx(regular.size_bytes, rel=0.01)


def test_every_weight_is_one_fill_and_the_outputs_stay_finite(naive) -> None:
    import tensorflow as tf

    data = convert_keras_constant_weights(naive, "none").data
    constants = [t for t in read_tflite(data).tensors if t.is_constant]
    interpreter = tf.lite.Interpreter(model_content=data)
    interpreter.allocate_tensors()
    fills, fill_bytes = set(), 0
    for tensor in constants:
        unique = np.unique(interpreter.get_tensor(tensor.index))
        if unique.size == 1:
            fills.add(float(unique[0]))
            fill_bytes += tensor.buffer_bytes
    # the weights are fills; what is not (e.g. the timestep embedding's frequency table) is a sliver of the bytes
    assert fill_bytes > 0.99 * sum(t.buffer_bytes for t in constants)
    assert len(fills) > 20    # distinct values per weight, not one shared buffer
    rng = np.random.default_rng(0)
    for detail in interpreter.get_input_details():
        interpreter.set_tensor(detail["index"], rng.standard_normal(detail["shape"]).astype(detail["dtype"]))
    interpreter.invoke()
    for detail in interpreter.get_output_details():
        assert np.isfinite(interpreter.get_tensor(detail["index"])).all()


def test_the_gpu_recipe_with_constant_weights_stays_whole_on_the_gpu() -> None:
    model = build_sd_unet(graph_options_for(["gpu"]), 0, UNetConfig())
    plan = plan_gpu_delegation(read_tflite(convert_keras_constant_weights(model, "fp16").data))
    assert plan.ops_on_cpu == 0 and plan.ops_on_gpu > 100


def test_model_state_that_is_not_a_weight_does_not_crash_the_fill_list() -> None:
    """keras.applications' MobileNetV3Small and EfficientNetB0 crashed here with a KeyError: a Dropout's
    seed-generator state is a non-trainable variable but not one of `model.weights`."""
    import keras

    inputs = keras.Input((8, 8, 3), batch_size=1)
    h = keras.layers.BatchNormalization()(keras.layers.Conv2D(4, 3)(inputs))   # moving mean / variance
    h = keras.layers.Dropout(0.2)(keras.layers.GlobalAveragePooling2D()(h))      # int64 seed-generator state
    model = keras.Model(inputs, keras.layers.Dense(5)(h))
    assert len(model.non_trainable_variables) > len(model.non_trainable_weights)   # the state that crashed it
    data = convert_keras_constant_weights(model, "fp16").data
    assert plan_gpu_delegation(read_tflite(data)).ops_on_cpu == 0
    interpreter = tf_interpreter(data)
    (detail,) = interpreter.get_input_details()
    interpreter.set_tensor(detail["index"], np.random.default_rng(0).standard_normal((1, 8, 8, 3)).astype("float32"))
    interpreter.invoke()
    assert np.isfinite(interpreter.get_tensor(interpreter.get_output_details()[0]["index"])).all()


def tf_interpreter(data: bytes):
    import tensorflow as tf

    interpreter = tf.lite.Interpreter(model_content=data)
    interpreter.allocate_tensors()
    return interpreter


def test_fill_values_are_about_one_over_fan_in_and_distinct() -> None:
    assert fill_value(0, "conv/kernel", (3, 3, 320, 640)) == pytest.approx(1 / (3 * 3 * 320))
    assert fill_value(0, "norm/gamma", (640,)) == 1.0 and fill_value(0, "norm/beta", (640,)) == 0.01
    assert fill_value(1, "conv/kernel", (3, 3, 8, 8)) != fill_value(2, "conv/kernel", (3, 3, 8, 8))


def test_timing_only_zoo_model_and_non_keras_sources_are_usage_errors(tmp_path, real_fixtures) -> None:
    from cli_helpers import run_devlab

    result = run_devlab("build", "sd14-unet", "--variants", "gpu", cwd=tmp_path, timeout=120)
    assert result.exit_code == 2 and "Traceback" not in result.stderr
    assert "sd14-unet has constant weights only" in result.stderr and "--constant-weights" in result.stderr
    model = next((real_fixtures / "models").rglob("*.tflite"))
    result = run_devlab("build", str(model), "--constant-weights", cwd=tmp_path, timeout=120)
    assert result.exit_code == 2 and "needs a Keras model or a zoo name, not a tflite source" in result.stderr
    broken = tmp_path / "broken.keras"
    broken.write_bytes(b"not a keras archive")
    result = run_devlab("build", str(broken), "--constant-weights", "--variants", "fp32", cwd=tmp_path, timeout=300)
    # the conversion runs in a child process; its error comes back as the same one-line ModelError
    assert result.exit_code == 2 and "Traceback" not in result.stderr
    assert "cannot load Keras model" in result.stderr and "model.save()" in result.stderr


def test_a_constant_weights_run_says_timing_only_everywhere(tmp_path) -> None:
    import json

    from cli_helpers import run_devlab

    result = run_devlab("run", "--model", "sd-unet", "--variants", "gpu", "--accelerator", "cpu", "--runs", "3",
                        "--min-secs", "0", "--constant-weights", "--json", cwd=tmp_path, timeout=600)
    assert result.exit_code == 0, result.stderr
    record = json.loads(result.stdout)
    assert record["settings"]["constant_weights"] is True
    assert any(note.startswith("timing only: the variants were built with constant weights") for note in record["notes"])
    assert record["build"]["gpu"]["recipe"]["weights"].startswith("constant:")
    (row,) = record["variants"]
    assert row["status"] == "ok" and row["timing"]["source"] == "measured"
    # the equivalence check compared the gpu variant with a constant-weight fp32 reference, not a random-weight one
    assert record["build"]["gpu"]["equivalence"]["passed"] is True
