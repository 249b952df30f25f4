"""A CLIP-style text encoder: token and position embeddings, pre-LayerNorm transformer blocks with causal
self-attention and a GELU MLP, final LayerNorm. Small by default (16 tokens, width 64, 2 blocks); CLIP ViT-L/14,
SD 1.4's text encoder, is 77 tokens, width 768, 12 blocks, 12 heads.
"""

from __future__ import annotations

import keras

from devlab.zoo import GraphOptions
from devlab.zoo.layers import attention, embedding, gelu_activation, seed_weights


@keras.saving.register_keras_serializable(package="devlab")
class PositionEmbedding(keras.layers.Layer):
    """Adds a learned (1, T, D) position table to the token embeddings."""

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        self.table = self.add_weight(shape=(1, int(input_shape[1]), int(input_shape[2])), initializer="zeros",
                                     name="embeddings")

    def call(self, inputs: object) -> object:
        return inputs + self.table


def build_clip_text(options: GraphOptions, seed: int, *, tokens: int = 16, width: int = 64, blocks: int = 2,
                    heads: int = 4, vocab: int = 1000) -> keras.Model:
    ids = keras.Input((tokens,), batch_size=1, dtype="int32", name="token_ids")
    x = embedding(options, vocab, width, name="token_embedding")(ids)
    x = PositionEmbedding(name="position_embedding")(x)
    for index in range(blocks):
        a = keras.layers.LayerNormalization(epsilon=1e-5, name=f"block{index}_ln1")(x)
        a = attention(options, heads, width // heads, name=f"block{index}_attn")(a, a, use_causal_mask=True)
        x = x + a
        a = keras.layers.LayerNormalization(epsilon=1e-5, name=f"block{index}_ln2")(x)
        a = keras.layers.Dense(width * 4, activation=gelu_activation(options), name=f"block{index}_mlp_in")(a)
        x = x + keras.layers.Dense(width, name=f"block{index}_mlp_out")(a)
    x = keras.layers.LayerNormalization(epsilon=1e-5, name="final_ln")(x)
    return seed_weights(keras.Model(ids, x, name="clip_text"), seed)
