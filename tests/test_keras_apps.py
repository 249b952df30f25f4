"""keras.applications models as a user brings them (weights=None, saved as .keras, batch None) through the whole
build, with no flag a user would not know to pass: fp32 / fp16 / gpu and a --constant-weights gpu build, each with
a delegation prediction that gives a reason for every CPU op and an equivalence figure that is not vacuous.

Three small architectures run in the default suite (slow); the whole matrix needs DEVLAB_KERAS_APPS=all (it takes
tens of minutes on a 2-core machine: times in docs/real-models.md).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from cli_helpers import run_devlab
from devlab.build.input_shapes import DEFAULT_BATCH_NOTE

pytestmark = pytest.mark.slow

# name -> input size: 224x224 (Xception: its default 299x299); MobileNetV3 with weights=None has no default size
SIZES = {"MobileNetV3Small": 224, "EfficientNetB0": 224, "MobileNetV2": 224, "MobileNetV3Large": 224,
         "EfficientNetV2B0": 224, "ConvNeXtTiny": 224, "ResNet50": 224, "DenseNet121": 224, "Xception": 299,
         "NASNetMobile": 224}
# the three (MobileNetV3Small, EfficientNetB0, ConvNeXtTiny) less EfficientNetB0, slower to convert here
# (135-266 s; its constant-weights crash is covered by test_constant_weights), plus ResNet50 (103-112 s)
DEFAULT_SUITE = ("MobileNetV3Small", "ConvNeXtTiny", "ResNet50")
MATRIX_ENV = "DEVLAB_KERAS_APPS"


def _selected(name: str) -> None:
    if name not in DEFAULT_SUITE and os.environ.get(MATRIX_ENV) != "all":
        pytest.skip(f"{name}: the full keras.applications matrix runs with {MATRIX_ENV}=all")


def _save(name: str, folder: Path) -> Path:
    import keras

    keras.utils.set_random_seed(0)
    size = SIZES[name]
    model = getattr(keras.applications, name)(weights=None, input_shape=(size, size, 3))
    assert model.inputs[0].shape[0] is None     # as keras.applications makes them: a dynamic batch
    path = folder / f"{name}.keras"
    model.save(path)
    return path


def _build(model: Path, cwd: Path, *args: str) -> dict:
    result = run_devlab("build", str(model), "--json", *args, cwd=cwd, timeout=3600)
    assert result.exit_code == 0, result.stderr
    return {v["name"]: v for v in json.loads(result.stdout)["variants"]}


def _check_delegation(variant: dict) -> None:
    delegation = variant["delegation"]
    assert delegation["source"] == "estimated"
    assert delegation["ops_on_gpu"] + delegation["ops_on_cpu"] == sum(variant["op_histogram"].values())
    assert all(op["reason"] for op in delegation["cpu_ops"])   # a reason for every op left on the CPU


@pytest.mark.parametrize("name", list(SIZES))
def test_keras_application_through_the_build(name, tmp_path) -> None:
    _selected(name)
    model = _save(name, tmp_path)
    built = _build(model, tmp_path, "--variants", "fp32,fp16,gpu")
    for variant in built.values():
        # the None batch became 1 without a flag, and the manifest says so
        (fixed,) = variant["recipe"]["inputs"]
        assert fixed["model_shape"][0] is None and fixed["shape"] == [1, SIZES[name], SIZES[name], 3]
        assert fixed["how"] == DEFAULT_BATCH_NOTE
        _check_delegation(variant)
    assert built["gpu"]["delegation"]["applied"] == "full", built["gpu"]["delegation"]["cpu_ops"][:5]
    for variant in (built["fp16"], built["gpu"]):
        equivalence = variant["equivalence"]
        # a figure that means something: informative (a near-constant softmax is judged on its logits) and > 0
        assert equivalence["informative"] and equivalence["passed"], equivalence
        assert equivalence["max_rel_error"] > 0

    constant = _build(model, tmp_path, "--variants", "gpu", "--constant-weights", "--out", str(tmp_path / "cw"))
    gpu = constant["gpu"]
    _check_delegation(gpu)
    assert gpu["recipe"]["weights"].startswith("constant:")
    # the regular gpu variant's prediction holds for the timing-only build. The graphs differ only where a random
    # init makes constants trivial: equal zero biases shared as one fp16 constant (MobileNetV3Small: 81 DEQUANTIZEs
    # against 111), zero BatchNorm offsets folded away (DenseNet121: no ADD against 62); constant weights are
    # distinct fills, as a trained model's weights are
    assert set(gpu["op_histogram"]) >= set(built["gpu"]["op_histogram"])
    assert gpu["delegation"]["applied"] == built["gpu"]["delegation"]["applied"]
    assert gpu["delegation"]["ops_on_cpu"] == built["gpu"]["delegation"]["ops_on_cpu"]
    # constant weights average every activation towards one value: the check says whether it could tell anything
    equivalence = gpu["equivalence"]
    assert equivalence["passed"] is not False, equivalence
    assert equivalence["informative"] == (equivalence["passed"] is True)
    assert equivalence["informative"] or equivalence["note"].startswith("not informative")


def test_a_keras_application_runs_on_host_and_on_the_simulated_phone(cli_env, sim_phone, tmp_path) -> None:
    """No flag beyond what a user passes for any model: the batch is fixed by default on both paths."""
    model = _save("MobileNetV3Small", tmp_path)
    quick = ("--variants", "gpu", "--runs", "3", "--warmup", "1", "--min-secs", "0", "--max-secs", "5", "--json")
    result = run_devlab("run", "--model", str(model), "--accelerator", "cpu", *quick, cwd=tmp_path, env=cli_env,
                        timeout=1200)
    assert result.exit_code == 0, result.stderr
    record = json.loads(result.stdout)
    (row,) = record["variants"]
    assert row["status"] == "ok" and row["timing"]["source"] == "measured"
    name = record["build"]["gpu"]["recipe"]["inputs"][0]["name"]   # input_layer, _1, ...: Keras numbers them
    assert f"input '{name}' (None, 224, 224, 3) converted as 1x224x224x3: {DEFAULT_BATCH_NOTE}" in record["notes"]
    result = run_devlab("run", "--device", "s23", "--model", str(model), *quick, cwd=tmp_path, env=cli_env,
                        timeout=1200)
    assert result.exit_code == 0, result.stderr
    record = json.loads(result.stdout)
    (row,) = record["variants"]
    assert row["status"] == "ok" and row["timing"]["source"] == "simulated"
    # the simulated delegate takes the whole batch-1 graph, as the prediction says
    reported = row["delegation"]["reported"]
    assert reported["source"] == "simulated" and reported["ops_on_cpu"] == 0
    assert reported["ops_on_delegate"] == record["build"]["gpu"]["delegation"]["ops_on_gpu"]
