"""The Stable Diffusion VAE decoder (diffusers AutoencoderKL's Decoder with SD 1.4's configuration): latent
(1, R, R, 4) -> image (1, 8R, 8R, 3).

post_quant_conv (1x1, 4->4), conv_in (3x3, 4->512), mid block (resnet, single-head self-attention over all R*R
positions, resnet), up blocks of widths 512, 512, 256, 128 with 3 resnets each and nearest 2x upsampling + 3x3 conv
after all but the last, GroupNorm(32) + SiLU, conv_out (3x3 -> 3). `SD14_VAE` is the full size (~49M weights,
64x64 latent -> 512x512); `SMALL_VAE` keeps the form at test sizes. The 1/0.18215 latent scaling is the pipeline's
job (diffusers does it outside the decoder too). GroupNorm epsilon is devlab's 1e-5 (diffusers: 1e-6), which does
not change the graph's ops or shapes.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras

from devlab.zoo import GraphOptions
from devlab.zoo.layers import attention, constant_weights, group_norm, seed_weights, upsample
from devlab.zoo.sd_block import resnet_block


@dataclass(frozen=True)
class VAEConfig:
    resolution: int = 8                         # latent height and width
    widths: tuple[int, ...] = (64, 64, 32, 32)  # up blocks, in decoding order (multiples of 32: GroupNorm(32))
    resnets_per_block: int = 1
    latent_channels: int = 4


SD14_VAE = VAEConfig(resolution=64, widths=(512, 512, 256, 128), resnets_per_block=3)
SMALL_VAE = VAEConfig(resolution=16)   # decodes the sd-small UNet's 16x16 latent to 128x128


def build_vae_decoder(options: GraphOptions, seed: int | None, config: VAEConfig = VAEConfig()) -> keras.Model:
    """seed None: constant weights (timing-only builds of the full size, see layers.constant_weights)."""
    latent = keras.Input((config.resolution, config.resolution, config.latent_channels), batch_size=1,
                         name="latent")
    x = keras.layers.Conv2D(config.latent_channels, 1, name="post_quant_conv")(latent)
    top = config.widths[0]
    x = keras.layers.Conv2D(top, 3, padding="same", name="conv_in")(x)
    x = resnet_block(x, top, options, "mid_res1")
    x = _attention_block(x, options, "mid_attn")
    x = resnet_block(x, top, options, "mid_res2")
    for level, width in enumerate(config.widths):
        for index in range(config.resnets_per_block):
            x = resnet_block(x, width, options, f"up{level}_res{index}")
        if level < len(config.widths) - 1:
            x = upsample(options, name=f"up{level}_resize")(x)
            x = keras.layers.Conv2D(width, 3, padding="same", name=f"up{level}_sample")(x)
    x = group_norm(options, name="out_norm")(x)
    x = keras.layers.Activation("silu")(x)
    x = keras.layers.Conv2D(3, 3, padding="same", name="conv_out")(x)
    model = keras.Model(latent, x, name="vae_decoder")
    return constant_weights(model) if seed is None else seed_weights(model, seed)


def _attention_block(x: keras.KerasTensor, options: GraphOptions, name: str) -> keras.KerasTensor:
    """diffusers' VAE Attention: GroupNorm, one head over all H*W positions (q, k, v, out projections), residual."""
    height, width, channels = (int(d) for d in x.shape[1:])
    h = group_norm(options, name=f"{name}_norm")(x)
    h = keras.layers.Reshape((height * width, channels))(h)
    h = attention(options, 1, channels, name=f"{name}_attn")(h, h)
    return x + keras.layers.Reshape((height, width, channels))(h)
