"""Zoo registry and builders (real Keras builds; conversion of every model is covered in test_equivalence)."""

from __future__ import annotations

import pytest

from devlab.errors import UsageError
from devlab.zoo import DEFAULT_MODEL, ZOO, GraphOptions, get_zoo_model


def test_registry_names_and_unknown_model():
    assert set(ZOO) == {"sd-block", "sd-unet", "sd14-unet", "clip-text", "mobilenet-v2", "sd14-text-encoder",
                        "sd14-vae-decoder", "sd-small-text-encoder", "sd-small-unet", "sd-small-vae-decoder"}
    assert DEFAULT_MODEL in ZOO
    assert [name for name, model in ZOO.items() if model.timing_only] == ["sd14-unet", "sd14-text-encoder",
                                                                          "sd14-vae-decoder"]
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


@pytest.mark.slow
def test_full_size_text_encoder_and_vae_decoder_have_sd14_shapes_and_parameter_counts():
    """Keras graphs only (no conversion): CLIP ViT-L/14's text transformer is 123.06M weights (49408x768 tokens,
    77x768 positions, 12 x 7.08M blocks, final LayerNorm); SD's VAE decoder with post_quant_conv 49.49M."""
    from devlab.build.rewrites import graph_options_for

    text = get_zoo_model("sd14-text-encoder").build(graph_options_for(["gpu"]), 0)
    per_block = 4 * (768 * 768 + 768) + 2 * 768 * 3072 + 3072 + 768 + 2 * 2 * 768
    assert text.count_params() == 49408 * 768 + 77 * 768 + 12 * per_block + 2 * 768 == 123_060_480
    assert tuple(text.inputs[0].shape) == (1, 77) and tuple(text.outputs[0].shape) == (1, 77, 768)
    assert text.get_layer("block0_mlp_in").activation.__name__ == "quick_gelu"
    vae = get_zoo_model("sd14-vae-decoder").build(graph_options_for(["gpu"]), 0)
    assert tuple(vae.inputs[0].shape) == (1, 64, 64, 4) and tuple(vae.outputs[0].shape) == (1, 512, 512, 3)
    assert vae.count_params() == 49_490_199
    assert vae.get_layer("mid_attn_attn").num_heads == 1
    assert [vae.get_layer(f"up{level}_sample").filters for level in range(3)] == [512, 512, 256]


@pytest.mark.slow
def test_sd14_unet_mlp_is_geglu_and_the_gpu_form_keeps_its_weights():
    import numpy as np

    from devlab.build.rewrites import graph_options_for
    from devlab.zoo.sd_unet import SD14_FULL, SMALL_SD, build_sd_unet

    assert SMALL_SD.geglu and SD14_FULL.geglu
    naive, gpu = build_sd_unet(GraphOptions(), 5, SMALL_SD), build_sd_unet(graph_options_for(["gpu"]), 5, SMALL_SD)
    layer = naive.get_layer("down0_0_tx_mlp_in")
    assert layer.units == 8 * 32 and layer.activation.__name__ == "linear"   # value and gate, GELU on the gate
    assert gpu.get_layer("down0_0_tx_mlp_gelu").activation.__name__ == "gelu_builtin"
    for a, b in zip(naive.get_weights(), gpu.get_weights()):
        assert np.array_equal(a, b)
    rng = np.random.default_rng(0)
    inputs = [rng.standard_normal((1, 16, 16, 4)).astype("float32"), np.array([[10.0]], "float32"),
              rng.standard_normal((1, 16, 64)).astype("float32")]
    assert np.abs(np.asarray(naive(inputs)) - np.asarray(gpu(inputs))).max() < 5e-2


@pytest.mark.slow
def test_small_vae_decoder_gpu_form_is_predicted_fully_on_the_gpu(tmp_path):
    from pathlib import Path

    from devlab.build.pipeline import build_variants
    from devlab.build.sources import resolve_model
    from devlab.build.variants import parse_variants

    manifest = build_variants(resolve_model("sd-small-vae-decoder"), parse_variants("fp32,gpu", "keras"),
                              Path(tmp_path), seed=0)
    naive, gpu = manifest.variant("fp32"), manifest.variant("gpu")
    # naive: Keras GroupNormalization's 5-D reshapes and UpSampling2D's 5-D TILEs leave the GPU
    assert naive.delegation["applied"] == "partial" and "TILE" in naive.op_histogram
    assert gpu.delegation["applied"] == "full" and gpu.delegation["ops_on_cpu"] == 0
    assert gpu.op_histogram["RESIZE_NEAREST_NEIGHBOR"] == 3 and gpu.equivalence["passed"] is True
