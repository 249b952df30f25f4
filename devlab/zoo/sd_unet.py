"""An SD-1.4-architecture UNet: timestep embedding, conv_in, down path (resnet + cross-attention transformer per
level, strided-conv downsampling), mid block, up path (skip concatenation, resnet + transformer, nearest upsample),
GroupNorm-SiLU-conv_out. Inputs: latent (1, R, R, 4), timestep (1, 1), text context (1, T, D).

`UNetConfig()` is small (seconds to convert, ms per CPU run); `SD14_FULL` is the real SD 1.4 shape
(320/640/1280/1280 widths, 8 heads, 64x64 latent, 77x768 context, two resnets per level, GEGLU MLPs: 860M
weights, as SD 1.4's UNet).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import keras
from keras import ops

from devlab.zoo import GraphOptions
from devlab.zoo.layers import constant_weights, group_norm, seed_weights, upsample
from devlab.zoo.sd_block import resnet_block, transformer_block


@dataclass(frozen=True)
class UNetConfig:
    resolution: int = 32                       # latent height and width
    widths: tuple[int, ...] = (32, 64)         # channels per level (each a multiple of 32: GroupNorm has 32 groups)
    attention_levels: tuple[bool, ...] = (True, True)
    layers_per_level: int = 1
    heads: int = 4
    context_length: int = 16
    context_dim: int = 64
    latent_channels: int = 4
    geglu: bool = False                        # SD 1.4's GEGLU transformer MLP instead of GELU


SD14_FULL = UNetConfig(resolution=64, widths=(320, 640, 1280, 1280), attention_levels=(True, True, True, False),
                       layers_per_level=2, heads=8, context_length=77, context_dim=768, geglu=True)
# The sd-small pipeline's UNet: SD 1.4's form (GEGLU, context from the small text encoder) on a 16x16 latent.
SMALL_SD = UNetConfig(resolution=16, widths=(32, 64), geglu=True)


@keras.saving.register_keras_serializable(package="devlab")
class TimestepEmbedding(keras.layers.Layer):
    """Sinusoidal embedding of the (1, 1) timestep, as in SD: [cos(t*f), sin(t*f)], f = 10000^(-i/half)."""

    def __init__(self, dim: int, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.dim = dim

    def call(self, timestep: object) -> object:
        half = self.dim // 2
        freqs = ops.exp(-math.log(10000.0) * ops.arange(half, dtype="float32") / half)
        angles = timestep * ops.reshape(freqs, (1, half))
        return ops.concatenate([ops.cos(angles), ops.sin(angles)], axis=-1)

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        return (input_shape[0], self.dim)

    def get_config(self) -> dict[str, object]:
        return {**super().get_config(), "dim": self.dim}


def build_sd_unet(options: GraphOptions, seed: int | None, config: UNetConfig = UNetConfig()) -> keras.Model:
    """seed None: constant weights (timing-only builds of big configs, see layers.constant_weights)."""
    latent = keras.Input((config.resolution, config.resolution, config.latent_channels), batch_size=1,
                         name="latent")
    timestep = keras.Input((1,), batch_size=1, name="timestep")
    context = keras.Input((config.context_length, config.context_dim), batch_size=1, name="context")

    base = config.widths[0]
    t = TimestepEmbedding(base, name="time_proj")(timestep)
    t = keras.layers.Dense(base * 4, activation="silu", name="time_mlp1")(t)
    t = keras.layers.Dense(base * 4, name="time_mlp2")(t)

    x = keras.layers.Conv2D(base, 3, padding="same", name="conv_in")(latent)
    skips = [x]
    for level, width in enumerate(config.widths):
        for index in range(config.layers_per_level):
            x = _stage(x, width, config, config.attention_levels[level], options, f"down{level}_{index}", t, context)
            skips.append(x)
        if level < len(config.widths) - 1:
            x = keras.layers.Conv2D(width, 3, strides=2, padding="same", name=f"down{level}_sample")(x)
            skips.append(x)

    top = config.widths[-1]
    x = resnet_block(x, top, options, "mid_res1", t)
    x = transformer_block(x, config.heads, options, "mid_tx", context, config.geglu)
    x = resnet_block(x, top, options, "mid_res2", t)

    for level in reversed(range(len(config.widths))):
        width = config.widths[level]
        for index in range(config.layers_per_level + 1):
            x = keras.layers.Concatenate(axis=-1)([x, skips.pop()])
            x = _stage(x, width, config, config.attention_levels[level], options, f"up{level}_{index}", t, context)
        if level > 0:
            x = upsample(options, name=f"up{level}_resize")(x)
            x = keras.layers.Conv2D(width, 3, padding="same", name=f"up{level}_sample")(x)

    x = group_norm(options, name="out_norm")(x)
    x = keras.layers.Activation("silu")(x)
    x = keras.layers.Conv2D(config.latent_channels, 3, padding="same", name="conv_out")(x)
    model = keras.Model([latent, timestep, context], x, name="sd_unet")
    return constant_weights(model) if seed is None else seed_weights(model, seed)


def _stage(x: keras.KerasTensor, width: int, config: UNetConfig, with_attention: bool, options: GraphOptions,
           name: str, t: keras.KerasTensor, context: keras.KerasTensor) -> keras.KerasTensor:
    x = resnet_block(x, width, options, f"{name}_res", t)
    if with_attention:
        x = transformer_block(x, config.heads, options, f"{name}_tx", context, config.geglu)
    return x
