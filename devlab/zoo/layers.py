"""GPU-friendly Keras layers, and the factories that pick naive or GPU-friendly layers from GraphOptions.

Each GPU-friendly layer keeps the weights of the Keras layer it replaces (same shapes, same order), so
`new.set_weights(old.get_weights())` carries a user's trained weights over and the zoo builders draw identical
seeded weights whichever form they build. Shapes are static (batch 1 models); every tensor stays <= 4-D.
"""

from __future__ import annotations

import math
from typing import Any

import keras
from keras import ops

from devlab.zoo import GraphOptions

_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)


@keras.saving.register_keras_serializable(package="devlab")
class GroupNorm4D(keras.layers.Layer):
    """GroupNorm on 4-D tensors with the normalized axis last.

    Keras GroupNormalization reshapes (1, H, W, C) to (1, H, W, G, C/G): a 5-D tensor the GPU delegate rejects.
    Here the groups are moved in front (1, G, 1, H*W*C/G), so both means reduce over the channel axis alone and
    the delegate can fuse MEAN-SUB-MUL-MEAN-ADD-RSQRT-MUL into its one mean_stddev_normalization kernel.
    """

    def __init__(self, groups: int = 32, epsilon: float = 1e-3, center: bool = True, scale: bool = True,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.groups = groups
        self.epsilon = epsilon
        self.center = center
        self.scale = scale

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        channels = int(input_shape[-1])
        if channels % self.groups:
            raise ValueError(f"{channels} channels do not split into {self.groups} groups")
        # Same creation order as keras GroupNormalization (gamma, then beta) so weights transfer positionally.
        self.gamma = self.add_weight(shape=(channels,), initializer="ones", name="gamma") if self.scale else None
        self.beta = self.add_weight(shape=(channels,), initializer="zeros", name="beta") if self.center else None

    def call(self, inputs: Any) -> Any:
        shape = tuple(int(d) for d in inputs.shape[1:])  # static: these models have fixed shapes
        channels = shape[-1]
        positions = math.prod(shape[:-1])
        per_group = channels // self.groups
        grouped = ops.reshape(inputs, (1, positions, self.groups, per_group))
        grouped = ops.transpose(grouped, (0, 2, 1, 3))
        flat = ops.reshape(grouped, (1, self.groups, 1, positions * per_group))
        mean = ops.mean(flat, axis=-1, keepdims=True)
        centered = flat - mean
        variance = ops.mean(centered * centered, axis=-1, keepdims=True)
        normalized = centered * ops.rsqrt(variance + self.epsilon)
        normalized = ops.reshape(normalized, (1, self.groups, positions, per_group))
        normalized = ops.transpose(normalized, (0, 2, 1, 3))
        out = ops.reshape(normalized, (1, *shape))
        if self.gamma is not None:
            out = out * self.gamma
        if self.beta is not None:
            out = out + self.beta
        return out

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        return input_shape

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "groups": self.groups, "epsilon": self.epsilon, "center": self.center,
                "scale": self.scale}


@keras.saving.register_keras_serializable(package="devlab")
def gelu_tanh(x: Any) -> Any:
    """GELU's tanh approximation written as element-wise ops: no erf, no GELU op needed by the runtime."""
    return 0.5 * x * (1.0 + ops.tanh(_SQRT_2_OVER_PI * (x + 0.044715 * x * x * x)))


@keras.saving.register_keras_serializable(package="devlab")
def gelu_builtin(x: Any) -> Any:
    """GELU that the TFLite converter emits as its one builtin GELU op (tanh approximation inside the op)."""
    return ops.gelu(x, approximate=True)


def gelu_activation(options: GraphOptions) -> Any:
    """The GELU callable for Dense(activation=...) or Activation(...) under these options."""
    if options.gelu == "tanh":
        return gelu_tanh
    if options.gelu == "builtin":
        return gelu_builtin
    return "gelu"  # keras' exact (erf) GELU, as a user writes it


@keras.saving.register_keras_serializable(package="devlab")
class Attention4D(keras.layers.Layer):
    """Multi-head attention as FULLY_CONNECTED projections and two BATCH_MATMULs around a beta=1 SOFTMAX.

    Weights mirror keras MultiHeadAttention (query, key, value, output; kernels (C, heads, dim) and
    (heads, dim, C_out)), reshaped to 2-D at trace time so the converter folds them into FULLY_CONNECTED weights.
    The 1/sqrt(dim) scale is folded into the query projection (no MUL on the activations). Tensors stay <= 4-D.
    `fused_softmax` writes softmax's element-wise part after the matmul with V: row max and row sum are small
    vectors, and the division touches (T, dim) values instead of the (T, S) score matrix.
    """

    def __init__(self, num_heads: int, key_dim: int, value_dim: int | None = None, output_dim: int | None = None,
                 use_bias: bool = True, fused_softmax: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.num_heads = num_heads
        self.key_dim = key_dim
        self.value_dim = value_dim or key_dim
        self.output_dim = output_dim
        self.use_bias = use_bias
        self.fused_softmax = fused_softmax

    def build(self, query_shape: Any, value_shape: Any = None, key_shape: Any = None) -> None:
        value_shape = value_shape or query_shape
        key_shape = key_shape or value_shape
        out_dim = self.output_dim or int(query_shape[-1])
        heads = self.num_heads
        self._projections = []
        # Creation order (kernel, bias per projection; query, key, value, output) matches MultiHeadAttention.
        for name, in_dim, dim in (("query", query_shape[-1], self.key_dim), ("key", key_shape[-1], self.key_dim),
                                  ("value", value_shape[-1], self.value_dim)):
            kernel = self.add_weight(shape=(int(in_dim), heads, dim), initializer="glorot_uniform",
                                     name=f"{name}_kernel")
            bias = self.add_weight(shape=(heads, dim), initializer="zeros", name=f"{name}_bias") \
                if self.use_bias else None
            self._projections.append((kernel, bias))
        self.output_kernel = self.add_weight(shape=(heads, self.value_dim, out_dim), initializer="glorot_uniform",
                                             name="output_kernel")
        self.output_bias = self.add_weight(shape=(out_dim,), initializer="zeros", name="output_bias") \
            if self.use_bias else None

    def _project(self, x: Any, index: int, scale: float = 1.0) -> Any:
        kernel, bias = self._projections[index]
        in_dim, heads, dim = kernel.shape
        out = ops.matmul(x, ops.reshape(kernel, (in_dim, heads * dim)) * scale)
        if bias is not None:
            out = out + ops.reshape(bias, (heads * dim,)) * scale
        return ops.reshape(out, (1, int(x.shape[1]), heads, dim))

    def call(self, query: Any, value: Any, key: Any = None, attention_mask: Any = None,
             return_attention_scores: bool = False, training: Any = None, use_causal_mask: bool = False) -> Any:
        if attention_mask is not None or return_attention_scores:
            raise ValueError("Attention4D supports neither attention_mask nor return_attention_scores")
        key = value if key is None else key
        q = ops.transpose(self._project(query, 0, 1.0 / math.sqrt(self.key_dim)), (0, 2, 1, 3))  # (1, h, T, d)
        k = ops.transpose(self._project(key, 1), (0, 2, 3, 1))                                      # (1, h, d, S)
        v = ops.transpose(self._project(value, 2), (0, 2, 1, 3))                                    # (1, h, S, dv)
        scores = ops.matmul(q, k)                                                                    # (1, h, T, S)
        if use_causal_mask:
            steps, keys = int(query.shape[1]), int(key.shape[1])
            future = ops.triu(ops.ones((steps, keys)), k=1)
            scores = scores + ops.reshape(future * -1e4, (1, 1, steps, keys))  # -1e4: finite in fp16
        if self.fused_softmax:
            row_max = ops.max(scores, axis=-1, keepdims=True)
            weights = ops.exp(scores - row_max)
            row_sum = ops.sum(weights, axis=-1, keepdims=True)
            attended = ops.matmul(weights, v) / row_sum
        else:
            attended = ops.matmul(ops.softmax(scores, axis=-1), v)                                  # (1, h, T, dv)
        # Output projection written as keras' own einsum: the converter then keeps a 3-D FULLY_CONNECTED
        # (keep_num_dims); a plain reshape+matmul became a 2-D FC whose residual ADD broadcasts [1,T,C]+[T,C],
        # which the delegate rejects.
        out = ops.einsum("abcd,cde->abe", ops.transpose(attended, (0, 2, 1, 3)), self.output_kernel)
        return out + self.output_bias if self.output_bias is not None else out

    def compute_output_shape(self, query_shape: Any, value_shape: Any = None, key_shape: Any = None) -> Any:
        return (*query_shape[:-1], self.output_dim or query_shape[-1])

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "num_heads": self.num_heads, "key_dim": self.key_dim,
                "value_dim": self.value_dim, "output_dim": self.output_dim, "use_bias": self.use_bias,
                "fused_softmax": self.fused_softmax}


@keras.saving.register_keras_serializable(package="devlab")
class ResizeNearest(keras.layers.Layer):
    """Nearest-neighbour upsampling as one RESIZE_NEAREST_NEIGHBOR op.

    keras UpSampling2D repeats rows and columns through 5-D RESHAPE/TILE pairs, which the GPU delegate rejects.
    """

    def __init__(self, factor: int = 2, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.factor = factor

    def call(self, inputs: Any) -> Any:
        height, width = int(inputs.shape[1]), int(inputs.shape[2])
        return ops.image.resize(inputs, (height * self.factor, width * self.factor), interpolation="nearest")

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        batch, height, width, channels = input_shape
        return (batch, height * self.factor, width * self.factor, channels)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "factor": self.factor}


@keras.saving.register_keras_serializable(package="devlab")
class Embedding1D(keras.layers.Layer):
    """Token embedding whose GATHER takes 1-D indices: ids (1, T) are flattened to (T,) and looked up on axis 1 of
    the table viewed as (1, V, D), so the GATHER itself yields (1, T, D).

    keras Embedding gathers with the ids' own shape, (1, T) for a batch-1 text model, and LiteRT's GPU accelerator
    refuses a GATHER with indices of rank > 1 ("Only support 1D indices"). A (T, D) lookup reshaped back to
    (1, T, D) does not work either: the converter folds that RESHAPE into the next ADD with a constant (the position
    embedding), leaving a [T,D]+[1,T,D] broadcast the delegate rejects. Same weight as keras Embedding.
    Only for batch-1 ids (the zoo's and most on-device text models); other shapes keep the keras layer.
    """

    def __init__(self, input_dim: int, output_dim: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.input_dim = input_dim
        self.output_dim = output_dim

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        self.embeddings = self.add_weight(shape=(self.input_dim, self.output_dim), initializer="uniform",
                                          name="embeddings")

    def call(self, inputs: Any) -> Any:
        if inputs.dtype not in ("int32", "int64"):
            inputs = ops.cast(inputs, "int32")
        table = ops.reshape(self.embeddings, (1, self.input_dim, self.output_dim))  # folded to a constant
        # ops.take keeps keras Embedding's wrap-around of negative ids (LESS/ADD/SELECT on the 1-D ids), so the
        # layer equals keras Embedding for every input; a bare GATHER fails on the CPU for a negative id.
        return ops.cast(ops.take(table, ops.reshape(inputs, (-1,)), axis=1), self.compute_dtype)

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        return (1, int(input_shape[1]), self.output_dim)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "input_dim": self.input_dim, "output_dim": self.output_dim}


def embedding(options: GraphOptions, input_dim: int, output_dim: int, name: str | None = None
              ) -> keras.layers.Layer:
    if options.embedding == "1d":
        return Embedding1D(input_dim, output_dim, name=name)
    return keras.layers.Embedding(input_dim, output_dim, name=name)


def upsample(options: GraphOptions, factor: int = 2, name: str | None = None) -> keras.layers.Layer:
    if options.upsample == "resize":
        return ResizeNearest(factor, name=name)
    return keras.layers.UpSampling2D(factor, interpolation="nearest", name=name)


def group_norm(options: GraphOptions, groups: int = 32, epsilon: float = 1e-5, name: str | None = None
               ) -> keras.layers.Layer:
    if options.groupnorm == "4d":
        return GroupNorm4D(groups=groups, epsilon=epsilon, name=name)
    return keras.layers.GroupNormalization(groups=groups, epsilon=epsilon, name=name)


def attention(options: GraphOptions, num_heads: int, key_dim: int, name: str | None = None) -> keras.layers.Layer:
    if options.attention == "keras":
        return keras.layers.MultiHeadAttention(num_heads=num_heads, key_dim=key_dim, name=name)
    return Attention4D(num_heads=num_heads, key_dim=key_dim, fused_softmax=options.attention == "4d-fused-softmax",
                       name=name)


def seed_weights(model: keras.Model, seed: int) -> keras.Model:
    """Overwrite every weight with values drawn from `seed`, in weight order, scaled by kind.

    Drawing by position (not by layer class) gives the naive and the GPU-friendly form of a model identical
    weights, which the equivalence check relies on. Scales keep activations O(1) through deep stacks.
    """
    import numpy as np

    rng = np.random.default_rng(seed)
    for weight in model.weights:
        shape = tuple(int(d) for d in weight.shape)
        path = weight.path.lower()
        name = path.rsplit("/", 1)[-1]
        noise = rng.standard_normal(shape).astype("float32")
        if "gamma" in name or "moving_variance" in name:
            value = 1.0 + 0.1 * noise
            if "moving_variance" in name:
                value = np.abs(value)
        elif "beta" in name or "bias" in name or "moving_mean" in name:
            value = 0.05 * noise
        else:
            fan_in = max(1, int(np.prod(shape[:-1])) if len(shape) > 1 else shape[0])
            if len(shape) == 3 and "output" in path:  # attention output kernel (heads, dim, out)
                fan_in = shape[0] * shape[1]
            elif len(shape) == 3:                     # attention projection kernel (in, heads, dim)
                fan_in = shape[0]
            value = noise / np.sqrt(fan_in)
        weight.assign(value)
    return model


def fill_value(index: int, path: str, shape: tuple[int, ...]) -> float:
    """The one value weight number `index` is filled with in timing-only builds: kernels ~1/fan_in, scales ~1,
    offsets ~0.01, a little different per weight (so the converter cannot merge equal constants into one shared
    buffer, which a trained model would not have either). Keeps activations finite through a deep UNet."""
    name = path.lower().rsplit("/", 1)[-1]
    step = 1.0 + 0.002 * index
    if "gamma" in name or "moving_variance" in name:
        return step
    if "beta" in name or "bias" in name or "moving_mean" in name:
        return 0.01 * step
    fan_in = math.prod(shape[:-1]) if len(shape) > 1 else (shape[0] if shape else 1)
    return step / max(1, fan_in)


def constant_weights(model: keras.Model) -> keras.Model:
    """Fill each weight with its `fill_value`.

    For timing-only builds of big models: GPU time does not depend on the values, such a .tflite compresses to
    almost nothing, and no random draw of ~10^9 numbers is needed.
    """
    import numpy as np

    for index, weight in enumerate(model.weights):
        shape = tuple(int(d) for d in weight.shape)
        weight.assign(np.full(shape, fill_value(index, weight.path, shape), dtype="float32"))
    return model
