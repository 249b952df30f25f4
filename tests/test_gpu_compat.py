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
    assert any("Dynamic shapes" in (v.reason or "") for v in plan.verdicts)


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
