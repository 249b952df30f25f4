"""gpu_compat predictions on real models: the zoo's naive vs gpu variants (real TF conversion) and the real
fixture models from LiteRT's test data."""

from __future__ import annotations

import pytest

from devlab.build.gpu_compat import plan_gpu_delegation
from devlab.build.tflite_graph import read_tflite


def _plan(real_fixtures, name):
    return plan_gpu_delegation(read_tflite(real_fixtures / "models" / "litert" / name))


def test_fallback_model_scatter_nd_on_cpu(real_fixtures):
    plan = _plan(real_fixtures, "fallback_model.tflite")
    reasons = {v.op: v.reason for v in plan.cpu_ops()}
    assert "SCATTER_ND" in reasons and "Not supported op SCATTER_ND" in reasons["SCATTER_ND"]


def test_string_custom_op_unsupported(real_fixtures):
    plan = _plan(real_fixtures, "dynamic_string_custom_ops.tflite")
    assert any(v.op.startswith("CUSTOM:") and not v.supported for v in plan.verdicts)


def test_dynamic_shape_model_rejected(real_fixtures):
    plan = _plan(real_fixtures, "simple_add_dynamic_shape.tflite")
    assert plan.ops_on_gpu == 0
    reasons = [v.reason or "" for v in plan.verdicts]
    # the reason names the fix: a fixed shape before conversion (a None batch becomes 1; --input-shape for others)
    assert any("Dynamic shapes" in r and "None batch to 1" in r and "--input-shape" in r for r in reasons)


@pytest.mark.slow
def test_naive_sd_block_falls_back_on_5d_and_gpu_variant_is_fully_delegated():
    from devlab.build.convert import convert_keras
    from devlab.build.rewrites import graph_options_for
    from devlab.zoo import GraphOptions, get_zoo_model

    builder = get_zoo_model("sd-block").build
    naive = plan_gpu_delegation(read_tflite(convert_keras(builder(GraphOptions(), 0), "none").data))
    assert naive.applied == "partial"
    assert any("Tensor dimensions must be less than 5" in (v.reason or "") for v in naive.cpu_ops())
    gpu = plan_gpu_delegation(read_tflite(convert_keras(builder(graph_options_for(["gpu"]), 0), "fp16").data))
    assert gpu.applied == "full" and gpu.ops_on_cpu == 0


@pytest.mark.slow
def test_fp16_dequantize_stays_on_cpu_in_a_partial_delegation_and_partition_matches_fp32():
    """FP16GraphPartitionHelper: fp16-constant DEQUANTIZEs count as unsupported while partitioning. A model whose
    first GPU partition is short but has many weights: counting DEQUANTIZEs in would wrongly make it the largest
    (the sd-unet fp16 disagreement: predicted 401 GPU ops, the runtime took the same 72 as fp32)."""
    import keras

    from devlab.build.convert import convert_keras
    from devlab.build.gpu_compat import FP16_DEQUANTIZE_REASON

    x = keras.Input((4, 4, 32), batch_size=1)
    h = x
    for _ in range(6):  # 6 convs: their fp16 weights come through DEQUANTIZEs ready before the first CPU op
        h = keras.layers.Conv2D(32, 1)(h)
    h = keras.layers.GroupNormalization(8)(h)  # 5-D: on the CPU
    for _ in range(3):
        h = keras.layers.Activation("relu")(keras.layers.Add()([h, h]))
    model = keras.Model(x, h)
    fp32 = plan_gpu_delegation(read_tflite(convert_keras(model, "none").data))
    graph = read_tflite(convert_keras(model, "fp16").data)
    fp16 = plan_gpu_delegation(graph)
    dequantize = [v for v in fp16.verdicts if v.op == "DEQUANTIZE"]
    assert len(dequantize) >= 6 and all(not v.on_gpu and v.reason == FP16_DEQUANTIZE_REASON for v in dequantize)
    assert fp16.applied == "partial" and fp16.ops_on_gpu == fp32.ops_on_gpu
    assert sorted(graph.ops[i].op for i in fp16.delegated) == sorted(
        v.op for v in fp32.verdicts if v.on_gpu)


@pytest.mark.slow
def test_fp16_model_fully_supported_is_delegated_whole_dequantizes_included():
    import keras

    from devlab.build.convert import convert_keras

    x = keras.Input((4, 4, 8), batch_size=1)
    model = keras.Model(x, keras.layers.Conv2D(8, 3, padding="same")(keras.layers.Conv2D(8, 1)(x)))
    graph = read_tflite(convert_keras(model, "fp16").data)
    plan = plan_gpu_delegation(graph)
    assert any(node.op == "DEQUANTIZE" for node in graph.ops)
    assert plan.applied == "full" and plan.ops_on_gpu == len(graph.ops)


def test_every_suggested_fix_names_a_rewrite_devlab_has_or_an_option():
    """The fix column of --explain and the report names rewrites by name: they must exist, or the advice is stale."""
    import re
    from devlab.build import gpu_compat
    from devlab.build.variants import available_rewrites
    rewrites = set(available_rewrites())
    for start, fix in gpu_compat._FIX_BY_REASON:
        named = set(re.findall(r"\b[a-z0-9]+(?:-[a-z0-9]+)+\b", fix)) - {"1-d", "4-d"}
        assert named <= rewrites | {"input-shape"}, (start, named - rewrites)
        assert gpu_compat.rewrite_for(start + " (details)") == fix
