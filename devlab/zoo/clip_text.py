"""A CLIP-style text encoder: token and position embeddings, pre-LayerNorm transformer blocks with causal
self-attention and a GELU MLP, final LayerNorm. Small by default (16 tokens, width 64, 2 blocks); CLIP ViT-L/14,
SD 1.4's text encoder (`SD14_TEXT`), is 77 tokens, width 768, 12 blocks, 12 heads, vocab 49408, MLP 3072 with
quick-GELU (x * sigmoid(1.702 x), CLIP's own activation: LOGISTIC and MUL, both GPU ops, so no rewrite needs it).
"""

from __future__ import annotations

import keras

from dataclasses import dataclass
from typing import Any, Literal

from keras import ops

from devlab.zoo import GraphOptions
from devlab.zoo.layers import attention, constant_weights, embedding, gelu_activation, seed_weights


@dataclass(frozen=True)
class TextConfig:
    tokens: int = 16
    width: int = 64
    blocks: int = 2
    heads: int = 4
    vocab: int = 1000
    activation: Literal["gelu", "quick-gelu"] = "gelu"


SD14_TEXT = TextConfig(tokens=77, width=768, blocks=12, heads=12, vocab=49408, activation="quick-gelu")
SMALL_SD_TEXT = TextConfig(activation="quick-gelu")   # the sd-small pipeline's: SD 1.4's form, small sizes


@keras.saving.register_keras_serializable(package="devlab")
def quick_gelu(x: Any) -> Any:
    """CLIP's activation (openai/CLIP model.py QuickGELU, HF CLIPTextConfig hidden_act="quick_gelu")."""
    return x * ops.sigmoid(1.702 * x)


@keras.saving.register_keras_serializable(package="devlab")
class PositionEmbedding(keras.layers.Layer):
    """Adds a learned (1, T, D) position table to the token embeddings."""

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        self.table = self.add_weight(shape=(1, int(input_shape[1]), int(input_shape[2])), initializer="zeros",
                                     name="embeddings")

    def call(self, inputs: object) -> object:
        return inputs + self.table


def build_clip_text(options: GraphOptions, seed: int | None, config: TextConfig = TextConfig()) -> keras.Model:
    """seed None: constant weights (timing-only builds of the full size, see layers.constant_weights)."""
    tokens, width, blocks, heads, vocab = config.tokens, config.width, config.blocks, config.heads, config.vocab
    activation = quick_gelu if config.activation == "quick-gelu" else gelu_activation(options)
    ids = keras.Input((tokens,), batch_size=1, dtype="int32", name="token_ids")
    x = embedding(options, vocab, width, name="token_embedding")(ids)
    x = PositionEmbedding(name="position_embedding")(x)
    for index in range(blocks):
        a = keras.layers.LayerNormalization(epsilon=1e-5, name=f"block{index}_ln1")(x)
        a = attention(options, heads, width // heads, name=f"block{index}_attn")(a, a, use_causal_mask=True)
        x = x + a
        a = keras.layers.LayerNormalization(epsilon=1e-5, name=f"block{index}_ln2")(x)
        a = keras.layers.Dense(width * 4, activation=activation, name=f"block{index}_mlp_in")(a)
        x = x + keras.layers.Dense(width, name=f"block{index}_mlp_out")(a)
    x = keras.layers.LayerNormalization(epsilon=1e-5, name="final_ln")(x)
    model = keras.Model(ids, x, name="clip_text")
    return constant_weights(model) if seed is None else seed_weights(model, seed)
