"""A Stable-Diffusion-style UNet block: resnet (GroupNorm, SiLU, 3x3 conv) then a transformer (GroupNorm, 1x1
projection, LayerNorm + self-attention, LayerNorm + GELU MLP), as in SD 1.4's down blocks.

32x32x64 with 4 heads: tens of ms per CPU inference on 2 cores, seconds to convert. GroupNorm, GELU and attention
come from GraphOptions, so the same weights (seed) give the naive and the GPU-friendly graph.
"""

from __future__ import annotations

import keras
from keras import ops

from devlab.zoo import GraphOptions
from devlab.zoo.layers import attention, gelu_activation, group_norm, seed_weights

SIZE = 32
CHANNELS = 64
HEADS = 4


def build_sd_block(options: GraphOptions, seed: int, *, size: int = SIZE, channels: int = CHANNELS,
                   heads: int = HEADS) -> keras.Model:
    inputs = keras.Input((size, size, channels), batch_size=1, name="latent")
    x = resnet_block(inputs, channels, options, "res")
    x = transformer_block(x, heads, options, "tx")
    return seed_weights(keras.Model(inputs, x, name="sd_block"), seed)


def resnet_block(x: keras.KerasTensor, channels: int, options: GraphOptions, name: str,
                 time_embedding: keras.KerasTensor | None = None) -> keras.KerasTensor:
    """GN-SiLU-Conv, optional timestep bias, GN-SiLU-Conv, plus a (1x1-projected when widths differ) skip."""
    h = group_norm(options, name=f"{name}_norm1")(x)
    h = keras.layers.Activation("silu")(h)
    h = keras.layers.Conv2D(channels, 3, padding="same", name=f"{name}_conv1")(h)
    if time_embedding is not None:
        t = keras.layers.Dense(channels, name=f"{name}_time")(keras.layers.Activation("silu")(time_embedding))
        h = h + keras.layers.Reshape((1, 1, channels))(t)
    h = group_norm(options, name=f"{name}_norm2")(h)
    h = keras.layers.Activation("silu")(h)
    h = keras.layers.Conv2D(channels, 3, padding="same", name=f"{name}_conv2")(h)
    if int(x.shape[-1]) != channels:
        x = keras.layers.Conv2D(channels, 1, name=f"{name}_skip")(x)
    return x + h


def transformer_block(x: keras.KerasTensor, heads: int, options: GraphOptions, name: str,
                      context: keras.KerasTensor | None = None, geglu: bool = False) -> keras.KerasTensor:
    """SD's spatial transformer: GN, 1x1 in, [self-attn, cross-attn on `context`, MLP], 1x1 out, skip.

    The MLP is GELU (Dense 4C, GELU, Dense C) or, with `geglu`, SD 1.4's GEGLU (diffusers FeedForward
    activation_fn="geglu"): Dense 8C split in halves, value * GELU(gate), Dense C."""
    height, width, channels = (int(d) for d in x.shape[1:])
    h = group_norm(options, name=f"{name}_norm")(x)
    h = keras.layers.Conv2D(channels, 1, name=f"{name}_proj_in")(h)
    h = keras.layers.Reshape((height * width, channels))(h)
    a = keras.layers.LayerNormalization(epsilon=1e-5, name=f"{name}_ln1")(h)
    h = h + attention(options, heads, channels // heads, name=f"{name}_self_attn")(a, a)
    if context is not None:
        a = keras.layers.LayerNormalization(epsilon=1e-5, name=f"{name}_ln2")(h)
        h = h + attention(options, heads, channels // heads, name=f"{name}_cross_attn")(a, context)
    a = keras.layers.LayerNormalization(epsilon=1e-5, name=f"{name}_ln3")(h)
    if geglu:
        value, gate = ops.split(keras.layers.Dense(channels * 8, name=f"{name}_mlp_in")(a), 2, axis=-1)
        a = value * keras.layers.Activation(gelu_activation(options), name=f"{name}_mlp_gelu")(gate)
    else:
        a = keras.layers.Dense(channels * 4, activation=gelu_activation(options), name=f"{name}_mlp_in")(a)
    h = h + keras.layers.Dense(channels, name=f"{name}_mlp_out")(a)
    h = keras.layers.Reshape((height, width, channels))(h)
    return x + keras.layers.Conv2D(channels, 1, name=f"{name}_proj_out")(h)
