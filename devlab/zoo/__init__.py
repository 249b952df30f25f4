"""The model zoo: small builders of real architectures with seeded random weights (no downloads).

Every builder takes `GraphOptions` (how GroupNorm, GELU and attention are written into the graph: the naive Keras
way or the GPU-friendly way of devlab.zoo.layers) and a seed, and returns a Keras model with static batch 1.
Builders import TensorFlow/Keras lazily: importing this package stays cheap.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Literal

from devlab.errors import UsageError

if TYPE_CHECKING:
    import keras

GroupNormImpl = Literal["keras", "4d"]
GeluImpl = Literal["erf", "builtin", "tanh"]
AttentionImpl = Literal["keras", "4d", "4d-fused-softmax"]
UpsampleImpl = Literal["keras", "resize"]
EmbeddingImpl = Literal["keras", "1d"]


@dataclass(frozen=True)
class GraphOptions:
    """How the GPU-sensitive blocks are written; the defaults are what a user writes in plain Keras."""

    groupnorm: GroupNormImpl = "keras"
    gelu: GeluImpl = "erf"
    attention: AttentionImpl = "keras"
    upsample: UpsampleImpl = "keras"  # keras UpSampling2D lowers to 5-D TILEs; "resize": RESIZE_NEAREST_NEIGHBOR
    embedding: EmbeddingImpl = "keras"  # keras Embedding gathers with (1, T) indices; "1d": ids flattened to (T,)


@dataclass(frozen=True)
class ZooModel:
    name: str
    description: str
    build: Callable[[GraphOptions, int], "keras.Model"]  # (options, seed) -> model with seeded random weights
    timing_only: bool = False   # constant weights whatever the seed: built only with --constant-weights


def _sd_block(options: GraphOptions, seed: int) -> "keras.Model":
    from devlab.zoo.sd_block import build_sd_block
    return build_sd_block(options, seed)


def _sd_unet(options: GraphOptions, seed: int) -> "keras.Model":
    from devlab.zoo.sd_unet import build_sd_unet
    return build_sd_unet(options, seed)


def _sd14_unet(options: GraphOptions, seed: int) -> "keras.Model":
    from devlab.zoo.sd_unet import SD14_FULL, build_sd_unet
    return build_sd_unet(options, None, SD14_FULL)   # 810M weights: a fill, not 810M random draws


def _clip_text(options: GraphOptions, seed: int) -> "keras.Model":
    from devlab.zoo.clip_text import build_clip_text
    return build_clip_text(options, seed)


def _sd14_text_encoder(options: GraphOptions, seed: int) -> "keras.Model":
    from devlab.zoo.clip_text import SD14_TEXT, build_clip_text
    return build_clip_text(options, None, SD14_TEXT)


def _sd14_vae_decoder(options: GraphOptions, seed: int) -> "keras.Model":
    from devlab.zoo.sd_vae import SD14_VAE, build_vae_decoder
    return build_vae_decoder(options, None, SD14_VAE)


def _sd_small_text_encoder(options: GraphOptions, seed: int) -> "keras.Model":
    from devlab.zoo.clip_text import SMALL_SD_TEXT, build_clip_text
    return build_clip_text(options, seed, SMALL_SD_TEXT)


def _sd_small_unet(options: GraphOptions, seed: int) -> "keras.Model":
    from devlab.zoo.sd_unet import SMALL_SD, build_sd_unet
    return build_sd_unet(options, seed, SMALL_SD)


def _sd_small_vae_decoder(options: GraphOptions, seed: int) -> "keras.Model":
    from devlab.zoo.sd_vae import SMALL_VAE, build_vae_decoder
    return build_vae_decoder(options, seed, SMALL_VAE)


def _mobilenet_v2(options: GraphOptions, seed: int) -> "keras.Model":
    from devlab.zoo.mobilenet import build_mobilenet_v2
    return build_mobilenet_v2(options, seed)


ZOO: dict[str, ZooModel] = {
    "sd-block": ZooModel("sd-block", "Stable-Diffusion-style UNet block: GroupNorm(32), 3x3 conv, self-attention "
                         "(4 heads), GELU MLP on a 32x32x64 feature map", _sd_block),
    "sd-unet": ZooModel("sd-unet", "SD-1.4-architecture UNet (resnet blocks, cross-attention on a text context, "
                        "timestep embedding, down/up paths with skips), small width and resolution", _sd_unet),
    "sd14-unet": ZooModel("sd14-unet", "the SD 1.4 UNet at full size (860M parameters, GEGLU MLPs, 64x64x4 latent, "
                          "77x768 context) with constant weights: timing only, build with --constant-weights",
                          _sd14_unet, timing_only=True),
    "sd14-text-encoder": ZooModel("sd14-text-encoder", "SD 1.4's text encoder at full size (CLIP ViT-L/14 text "
                                  "transformer: 77 tokens, width 768, 12 layers, 12 heads, quick-GELU; 123M "
                                  "parameters) with constant weights: timing only, build with --constant-weights",
                                  _sd14_text_encoder, timing_only=True),
    "sd14-vae-decoder": ZooModel("sd14-vae-decoder", "SD 1.4's VAE decoder at full size (64x64x4 latent -> "
                                 "512x512x3; 49M parameters) with constant weights: timing only, build with "
                                 "--constant-weights", _sd14_vae_decoder, timing_only=True),
    "sd-small-text-encoder": ZooModel("sd-small-text-encoder", "the sd-small pipeline's text encoder: SD 1.4's form "
                                      "(causal CLIP, quick-GELU) at 16 tokens, width 64", _sd_small_text_encoder),
    "sd-small-unet": ZooModel("sd-small-unet", "the sd-small pipeline's UNet: SD 1.4's form (GEGLU) on a 16x16x4 "
                              "latent with a 16x64 context", _sd_small_unet),
    "sd-small-vae-decoder": ZooModel("sd-small-vae-decoder", "the sd-small pipeline's VAE decoder: SD 1.4's form "
                                     "(mid attention, 4 up blocks) from a 16x16x4 latent to 128x128x3",
                                     _sd_small_vae_decoder),
    "clip-text": ZooModel("clip-text", "CLIP-style text encoder: token + position embeddings, pre-LayerNorm "
                          "transformer blocks with causal self-attention and GELU MLP", _clip_text),
    "mobilenet-v2": ZooModel("mobilenet-v2", "keras.applications.MobileNetV2 (alpha 0.35, 128x128), seeded random "
                             "weights", _mobilenet_v2),
}

DEFAULT_MODEL = "sd-block"


def get_zoo_model(name: str) -> ZooModel:
    model = ZOO.get(name)
    if model is None:
        raise UsageError(f"unknown zoo model {name!r}", f"pick one of: {', '.join(sorted(ZOO))}")
    return model
