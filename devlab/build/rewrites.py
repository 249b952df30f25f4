"""GPU-aware graph rewrites: named, composable recipes from the reference work (../shared/specs/paper.md).

A user cannot add kernels to the stock GPU delegate, but can shape the graph so the delegate keeps it in one
partition and hits its fused kernels. Each recipe sets GraphOptions fields (zoo builders read them) and, for user
Keras models, drives a layer substitution (`rewrite_keras_model`). `fp16` is a quantization recipe the converter
applies; it is declared here so recipes compose in one namespace. `gpu` expands to all of them.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from devlab.errors import UsageError
from devlab.zoo import GraphOptions

if TYPE_CHECKING:
    import keras


@dataclass(frozen=True)
class Rewrite:
    name: str
    why: str
    options: Mapping[str, str]  # GraphOptions fields this recipe sets; empty for converter-level recipes


def _rewrite(name: str, why: str, **options: str) -> Rewrite:
    return Rewrite(name, why, MappingProxyType(dict(options)))


REWRITES: dict[str, Rewrite] = {r.name: r for r in (
    _rewrite("groupnorm-4d", "Keras GroupNormalization makes 5-D tensors the GPU delegate rejects; on 4-D tensors "
             "with the normalized axis last it stays on the GPU and can fuse into mean_stddev_normalization",
             groupnorm="4d"),
    _rewrite("gelu-builtin", "emit GELU as the one builtin GELU op (one GPU kernel), never an erf decomposition",
             gelu="builtin"),
    _rewrite("gelu-tanh", "GELU's tanh approximation as element-wise ops: no erf and no GELU op needed, so it "
             "runs on delegates that lack GELU", gelu="tanh"),
    _rewrite("attention-4d", "Q.K^T and .V as BATCH_MATMULs on <=4-D tensors around a beta=1 SOFTMAX, scale folded "
             "into the query weights", attention="4d"),
    _rewrite("attention-4d-fused-softmax", "attention-4d with softmax's element-wise part after the matmul with V, "
             "so the seq x seq scores are not normalized in a separate pass", attention="4d-fused-softmax"),
    _rewrite("upsample-resize", "keras UpSampling2D lowers to 5-D RESHAPE/TILE pairs the GPU delegate rejects; one "
             "RESIZE_NEAREST_NEIGHBOR stays on the GPU", upsample="resize"),
    _rewrite("gather-1d", "keras Embedding gathers with (1, T) token ids and the GPU accelerator takes only 1-D "
             "GATHER indices; ids flattened to (T,) keep the lookup on the GPU", embedding="1d"),
    _rewrite("fp16", "float16 weights (converter recipe): half the bytes to load, and the GPU computes in fp16 "
             "anyway"),
)}

# `gpu` = every rewrite; of the alternatives it takes the builtin GELU op (one kernel) and plain 4-D attention.
GPU_RECIPE = ("groupnorm-4d", "gelu-builtin", "attention-4d", "upsample-resize", "gather-1d", "fp16")
ALIASES: dict[str, tuple[str, ...]] = {"gpu": GPU_RECIPE}


def expand_recipes(recipes: Sequence[str]) -> tuple[str, ...]:
    """Resolve aliases (`gpu`), keep order, drop repeats; UsageError on an unknown name."""
    out: list[str] = []
    for name in recipes:
        for item in ALIASES.get(name, (name,)):
            if item not in REWRITES:
                known = ", ".join([*REWRITES, *ALIASES])
                raise UsageError(f"unknown rewrite recipe {item!r}", f"pick from: {known}")
            if item not in out:
                out.append(item)
    return tuple(out)


def graph_options_for(recipes: Sequence[str]) -> GraphOptions:
    """GraphOptions with every recipe's fields applied in order; two recipes setting one field is a usage error."""
    options = GraphOptions()
    set_by: dict[str, str] = {}
    for name in expand_recipes(recipes):
        for field_name, value in REWRITES[name].options.items():
            if field_name in set_by and set_by[field_name] != name:
                raise UsageError(f"recipes {set_by[field_name]!r} and {name!r} both set {field_name}",
                                 "pick one of them")
            set_by[field_name] = name
            options = replace(options, **{field_name: value})
    return options


def is_naive(options: GraphOptions) -> bool:
    return all(getattr(options, f.name) == f.default for f in fields(GraphOptions))


def rewrite_keras_model(model: "keras.Model", recipes: Sequence[str]) -> "keras.Model":
    """Substitute GPU-friendly layers into a user's functional or Sequential Keras model, weights carried over.

    keras GroupNormalization (channels-last, <=4-D input) -> GroupNorm4D; UpSampling2D (nearest, square) ->
    ResizeNearest; Embedding on (1, T) ids (no mask_zero, not quantized) -> Embedding1D; GELU activations (Activation("gelu"),
    any layer with activation=gelu) -> the chosen GELU; MultiHeadAttention on 3-D inputs without masks ->
    Attention4D. Layers that do not qualify, and all others, are kept as they are (shared, not copied).
    """
    import keras

    from devlab.zoo import layers as gpu_layers

    options = graph_options_for(recipes)
    if is_naive(options):
        return model
    if not isinstance(model, (keras.Sequential, keras.Model)) or not getattr(model, "_is_graph_network", True):
        raise UsageError("layer substitution needs a functional or Sequential Keras model",
                         "rebuild a subclassed model with the functional API, or use a zoo model")
    replaced: list[tuple[Any, Any]] = []

    def substitute(layer: Any) -> Any:
        new = _substitute_layer(layer, options, gpu_layers, keras)
        if new is not layer:
            replaced.append((layer, new))
        return new

    try:
        clone = keras.models.clone_model(model, clone_function=substitute)
    except ValueError as exc:
        raise UsageError(f"cannot substitute layers in {model.name}: {exc}",
                         "use a functional or Sequential model") from None
    for old, new in replaced:
        new.set_weights(old.get_weights())
    return clone


def _substitute_layer(layer: Any, options: GraphOptions, gpu_layers: Any, keras: Any) -> Any:
    if options.groupnorm == "4d" and isinstance(layer, keras.layers.GroupNormalization):
        if layer.axis in (-1, len(layer.input.shape) - 1) and len(layer.input.shape) in (3, 4):
            return gpu_layers.GroupNorm4D(groups=layer.groups, epsilon=layer.epsilon, center=layer.center,
                                          scale=layer.scale, name=layer.name)
        return layer
    if options.attention != "keras" and isinstance(layer, keras.layers.MultiHeadAttention):
        if _plain_attention(layer):
            return gpu_layers.Attention4D(num_heads=layer.num_heads, key_dim=layer.key_dim,
                                          value_dim=layer.value_dim, output_dim=_mha_output_dim(layer),
                                          use_bias=layer.use_bias,
                                          fused_softmax=options.attention == "4d-fused-softmax", name=layer.name)
        return layer
    if options.upsample == "resize" and isinstance(layer, keras.layers.UpSampling2D):
        factor = tuple(layer.size)
        if layer.interpolation == "nearest" and factor[0] == factor[1] and layer.data_format == "channels_last":
            return gpu_layers.ResizeNearest(factor[0], name=layer.name)
        return layer
    if options.embedding == "1d" and isinstance(layer, keras.layers.Embedding):
        shape = tuple(layer.input.shape)
        if not layer.mask_zero and layer.quantization_mode is None and len(shape) == 2 and shape[0] == 1 and \
                shape[1] is not None:
            return gpu_layers.Embedding1D(layer.input_dim, layer.output_dim, name=layer.name)
        return layer
    if options.gelu != "erf" and _is_gelu(getattr(layer, "activation", None), keras):
        config = layer.get_config()
        config["activation"] = gpu_layers.gelu_activation(options)
        return layer.__class__.from_config(config)
    return layer


def _is_gelu(activation: Any, keras: Any) -> bool:
    return activation is not None and getattr(activation, "__name__", "") == "gelu"


def _plain_attention(layer: Any) -> bool:
    """Attention4D covers MHA over the sequence axis of 3-D inputs, no dropout, no masks at call time."""
    node = layer._inbound_nodes[0] if layer._inbound_nodes else None
    if node is None or len(layer._inbound_nodes) != 1 or layer.dropout:
        return False
    args = [t for t in node.arguments.keras_tensors]
    if any(len(t.shape) != 3 for t in args):
        return False
    kwargs = node.arguments.kwargs
    return kwargs.get("attention_mask") is None and not kwargs.get("return_attention_scores") and \
        (layer._attention_axes is None or tuple(layer._attention_axes) == (1,))


def _mha_output_dim(layer: Any) -> int | None:
    shape = layer._output_shape
    if shape is None:
        return None
    return int(shape if isinstance(shape, int) else shape[-1])
