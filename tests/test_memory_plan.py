"""Memory analysis of built graphs (devlab.build.memory_plan): hand-checked small real graphs, the plan's invariants
on real models, and the manifest / `build --explain` through the installed script."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cli_helpers import run_devlab
from devlab.build.memory_plan import Usage, greedy_by_size, plan_memory, usages
from devlab.build.tflite_graph import read_tflite

LITERT = Path("models") / "litert"


def _model(real_fixtures: Path, name: str):
    return read_tflite(real_fixtures / "models" / name)


def test_island_partial_by_hand(real_fixtures):
    # MUL(a0,a1)->m; MUL(m,c)->m1; MUL(m,c)->m2; ADD(m2,c)->s; MUL(m1,s)->out; every tensor (3,) float32 = 12 bytes,
    # three constants of 12 bytes. Seven runtime tensors (84 bytes); at most three are live at any op (36 bytes).
    graph = _model(real_fixtures, "litert/island_partial.tflite")
    plan = plan_memory(graph)
    assert plan.weights_bytes == 36 and plan.weights_by_dtype == {"float32": 36}
    assert plan.activations_naive_bytes == 84 and plan.activation_tensors == 7
    assert plan.activations_planned_bytes == 36
    assert plan.planned_fp16_bytes == 18 and plan.activations_by_dtype == {"float32": 84}
    lives = {u.tensor: (u.first, u.last) for u in usages(graph)[0]}
    assert lives == {0: (0, 0), 1: (0, 0), 5: (0, 2), 6: (1, 4), 7: (2, 3), 8: (3, 4), 9: (4, 4)}


def test_fallback_model_by_hand(real_fixtures):
    # ADD(in[1,4], c) -> r[1,4]; SCATTER_ND(const, r, const shape) -> out[2,4]: r (16) and out (32) meet at op 1.
    plan = plan_memory(_model(real_fixtures, "litert/fallback_model.tflite"))
    assert plan.weights_bytes == 16 and plan.weights_by_dtype == {"float32": 4, "int32": 12}
    assert (plan.activations_naive_bytes, plan.activations_planned_bytes) == (16 + 16 + 32, 48)
    assert plan.largest_tensor_bytes == 32 and plan.largest_tensor == "PartitionedCall:0"


def test_mixed_dtypes_counted_as_built(real_fixtures):
    # CAST(int32[1,10]) -> f; ADD(f, float input) -> a; MUL(a, c) -> out: int32 40 bytes, four float32 tensors.
    plan = plan_memory(_model(real_fixtures, "litert/mixed_input_model.tflite"))
    assert plan.activations_by_dtype == {"float32": 160, "int32": 40}
    assert plan.activations_planned_bytes == 120   # op 1 holds the float input, the cast and the sum


def test_greedy_by_size_takes_the_smallest_gap_that_fits():
    # By size: A (100, ops 0-1) at 0; E (60, ops 1-3) overlaps A: above it at 100; B (50, ops 3-4) overlaps only
    # E: the 100-byte gap below E takes it at 0; C (40, ops 0-4) overlaps all three: above E at 160;
    # D (30, op 2) overlaps E and C only: the gap below E again, at 0. Peak 200 (naive 280).
    records = [Usage(0, 100, 0, 1), Usage(1, 50, 3, 4), Usage(2, 40, 0, 4), Usage(3, 30, 2, 2),
               Usage(4, 60, 1, 3)]
    total, offsets = greedy_by_size(records)
    assert offsets == {0: 0, 4: 100, 1: 0, 2: 160, 3: 0} and total == 200


@pytest.mark.parametrize("name", ["litert/torchaudio_conformer.tflite", "poco_x3/mnv3_seg_quant.tflite",
                                  "poco_x3/mnv3_seg_float.tflite", "litert/rope.tflite"])
def test_plan_is_valid_and_between_its_bounds_on_real_models(real_fixtures, name):
    graph = _model(real_fixtures, name)
    plan = plan_memory(graph)
    records, _ = usages(graph)
    by_tensor = {r.tensor: r for r in records}
    # no two tensors alive at one op share a byte
    for a in records:
        for b in records:
            if a.tensor < b.tensor and a.overlaps(b) and a.size and b.size:
                start_a, start_b = plan.offsets[a.tensor], plan.offsets[b.tensor]
                assert start_a + a.size <= start_b or start_b + b.size <= start_a, (a, b)
    # the arena holds every tensor and is at least the busiest op's live set, at most the naive sum
    busiest = max(sum(r.size for r in records if r.first <= op <= r.last) for op in range(len(graph.ops)))
    assert busiest <= plan.activations_planned_bytes < plan.activations_naive_bytes
    assert all(plan.offsets[t] + by_tensor[t].size <= plan.activations_planned_bytes for t in plan.offsets)
    assert plan.weights_bytes == sum(t.buffer_bytes for t in graph.tensors if t.is_constant)


@pytest.mark.slow
def test_manifest_and_explain_carry_the_memory_plan(tmp_path):
    out = tmp_path / "build"
    result = run_devlab("build", "sd-block", "--variants", "fp32,fp16", "--explain", "--out", str(out))
    assert result.exit_code == 0, result.stderr
    entries = {v["name"]: v for v in json.loads((out / "manifest.json").read_text())["variants"]}
    fp32, fp16 = entries["fp32"]["memory"], entries["fp16"]["memory"]
    assert fp32["source"] == "estimated" and "float16" not in fp32["weights_by_dtype"]  # int32: reshape shapes
    # fp16 halves the stored weights; its DEQUANTIZE outputs are weights computed once, not activations
    assert fp16["weights_by_dtype"].get("float16", 0) > 0.9 * fp32["weights_bytes"] / 2
    assert fp16["derived_constant_bytes"] > 0 and fp32["derived_constant_bytes"] == 0
    assert fp16["activations_planned_bytes"] == fp32["activations_planned_bytes"]
    # 32x32x64 float32 feature map = 256 KB; attention scores (4 heads, 1024x1024) = 16 MB dominate
    assert fp32["largest_tensor"]["bytes"] == 4 * 1024 * 1024 * 4
    assert fp32["activations_planned_bytes"] < fp32["activations_naive_bytes"]
    graph = read_tflite(out / "fp32.tflite")
    assert fp32["activations_planned_bytes"] == plan_memory(graph).activations_planned_bytes
    line = next(line for line in result.stderr.splitlines() if line.startswith("fp32: memory (estimated)"))
    assert "weights" in line and "planned 32.8 MB as built, 16.4 MB at fp16" in line
    # a cached rebuild keeps the figures
    again = run_devlab("build", "sd-block", "--variants", "fp32", "--explain", "--out", str(out))
    assert again.exit_code == 0 and line in again.stderr.splitlines()
