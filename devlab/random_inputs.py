"""Seeded random model inputs, one recipe for every place that feeds a model (host benchmarks, equivalence checks).

Floats are standard normal. Integer inputs are usually token ids or indices (a GATHER's table rows), so they are
drawn small and non-negative: a negative id is out of range for every embedding table and would make a run fail or
time an error path. Booleans are 0/1.
"""

from __future__ import annotations

import numpy as np

MAX_INTEGER_INPUT = 100   # below the vocabulary / row count of any model we know of


def random_input(rng: np.random.Generator, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    dtype = np.dtype(dtype)
    if np.issubdtype(dtype, np.floating):
        return rng.standard_normal(shape).astype(dtype)
    if np.issubdtype(dtype, np.bool_):
        return rng.integers(0, 2, shape).astype(dtype)
    high = min(int(np.iinfo(dtype).max), MAX_INTEGER_INPUT)
    return rng.integers(0, high, shape).astype(dtype)
