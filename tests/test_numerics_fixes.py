"""The fix bisect suggests follows what the measurement shows: on an fp32 GPU an op that is still off is the GPU's
kernel, not precision (seen on an H200 with LiteRT's island_partial.tflite, docs/numerics.md)."""

from __future__ import annotations

from devlab.numerics.bisect import Culprit, _with_fix


def _culprit(op: str = "MUL", rel: float = 6.5) -> Culprit:
    return Culprit(node=1, op=op, output="tfl.mul1", dtype="float32", max_abs_error=0.46, max_rel_error=rel,
                   non_finite=0, reference_max_abs=1.0, fp16_overflow=False, fp16_subnormal=0.0,
                   inputs_out_of_fp16=False, fix=None)


def test_fp16_gpu_error_points_at_precision_and_fp32_gpu_error_at_the_kernel():
    on_fp16 = _with_fix(_culprit(), "gpu", tolerance=0.05, on_gpu_fp16=True)
    on_fp32 = _with_fix(_culprit(), "gpu", tolerance=0.05, on_gpu_fp16=False)
    assert "--gpu-precision fp32" in on_fp16.fix
    assert "not a precision issue" in on_fp32.fix and "--gpu-precision" not in on_fp32.fix


def test_within_tolerance_needs_no_fix():
    assert _with_fix(_culprit(rel=0.001), "gpu", tolerance=0.05, on_gpu_fp16=False).fix is None
