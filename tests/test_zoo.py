"""Zoo registry and builders (real Keras builds; conversion of every model is covered in test_equivalence)."""

from __future__ import annotations

import pytest

from devlab.errors import UsageError
from devlab.zoo import DEFAULT_MODEL, ZOO, GraphOptions, get_zoo_model


def test_registry_names_and_unknown_model():
    assert set(ZOO) == {"sd-block", "sd-unet", "sd14-unet", "clip-text", "mobilenet-v2"} and DEFAULT_MODEL in ZOO
    assert [name for name, model in ZOO.items() if model.timing_only] == ["sd14-unet"]
    with pytest.raises(UsageError, match="sd-block"):
        get_zoo_model("sd-unnet")


@pytest.mark.slow
def test_seeded_builds_are_deterministic_and_forms_share_weights():
    import numpy as np

    from devlab.build.rewrites import graph_options_for

    build = get_zoo_model("sd-block").build
    first, again = build(GraphOptions(), 3), build(GraphOptions(), 3)
    gpu = build(graph_options_for(["gpu"]), 3)
    other = build(GraphOptions(), 4)
    for a, b, c in zip(first.get_weights(), again.get_weights(), gpu.get_weights()):
        assert np.array_equal(a, b) and a.shape == c.shape and np.array_equal(a, c)
    assert not all(np.array_equal(a, b) for a, b in zip(first.get_weights(), other.get_weights()))


@pytest.mark.slow
def test_clip_text_gpu_form_gathers_with_1d_ids_on_the_same_weights():
    import numpy as np

    from devlab.build.rewrites import graph_options_for

    build = get_zoo_model("clip-text").build
    naive, gpu = build(GraphOptions(), 2), build(graph_options_for(["gpu"]), 2)
    assert type(gpu.get_layer("token_embedding")).__name__ == "Embedding1D"
    for a, b in zip(naive.get_weights(), gpu.get_weights()):
        assert np.array_equal(a, b)
    ids = np.arange(16, dtype="int32").reshape(1, 16) * 7
    assert np.abs(np.asarray(naive(ids)) - np.asarray(gpu(ids))).max() < 1e-2
