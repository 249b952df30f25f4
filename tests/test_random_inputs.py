"""One recipe for random model inputs: seeded, and integer inputs (token ids) always valid table rows."""

from __future__ import annotations

import json

import numpy as np
import pytest

from cli_helpers import run_devlab
from devlab.random_inputs import MAX_INTEGER_INPUT, random_input


@pytest.mark.parametrize("dtype", ["int32", "int64", "int8", "uint8", "int16"])
def test_integer_inputs_are_small_non_negative_ids(dtype: str) -> None:
    values = random_input(np.random.default_rng(0), (4, 1000), np.dtype(dtype))
    assert values.dtype == np.dtype(dtype) and values.shape == (4, 1000)
    assert values.min() >= 0 and values.max() < min(MAX_INTEGER_INPUT, np.iinfo(dtype).max)
    assert len(np.unique(values)) > 50   # spread over the range, not a constant


def test_inputs_are_seeded_and_floats_are_standard_normal() -> None:
    a = random_input(np.random.default_rng(3), (20000,), np.dtype("float32"))
    b = random_input(np.random.default_rng(3), (20000,), np.dtype("float32"))
    assert np.array_equal(a, b) and a.dtype == np.float32
    assert abs(float(a.mean())) < 0.05 and abs(float(a.std()) - 1.0) < 0.05
    flags = random_input(np.random.default_rng(1), (1000,), np.dtype("bool"))
    assert flags.dtype == np.bool_ and 0 < flags.sum() < 1000


@pytest.mark.slow
def test_a_token_id_model_runs_on_the_host(tmp_path) -> None:
    # clip-text gathers its embedding table with the int32 ids: every id must be a row of that table
    result = run_devlab("run", "--model", "clip-text", "--variants", "fp32", "--accelerator", "cpu", "--runs", "3",
                        "--min-secs", "0", "--json", cwd=tmp_path, timeout=600)
    assert result.exit_code == 0, result.stderr
    (row,) = json.loads(result.stdout)["variants"]
    assert row["status"] == "ok" and row["timing"]["latency_ms"]["mean_ms"] > 0
