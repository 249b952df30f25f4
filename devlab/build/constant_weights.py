"""Timing-only conversion of big Keras models: every weight a constant fill, kept compact until the flatbuffer.

Why: a GPU spends the same time on a constant-filled weight as on a trained one, and a file of constant buffers
gzips ~1000x, so a full-size model (SD 1.4's UNet: 860M parameters, 3.2 GB in fp32) can be built on a small machine
and carried to a GPU as a few MB. The regular path cannot build it here: freezing Keras variables copies every
weight into the graph and the converter holds several copies at once (OOM at 22.6 GB on a 24 GB machine).

How: the model is traced through `model.stateless_call` with each variable replaced by `tf.constant(value, shape=)`
(a scalar plus a shape: a splat in the GraphDef and in MLIR, a few bytes however large the tensor), so nothing
large exists until the flatbuffer is written. Each weight gets its own value (distinct buffers, as in a trained
model; MLIR would merge identical constants), chosen by devlab.zoo.layers.fill_value (about 1/fan-in for kernels)
so activations stay finite. A model over the 2 GB flatbuffer limit is written with buffers past the flatbuffer
(`offset`/`size`), which LiteRT reads.

Numbers measured on such a model are real timings of the architecture with meaningless outputs: say so wherever
they are reported.
"""

from __future__ import annotations

import math

from devlab.build.convert import Converted, run_converter
from devlab.build.variants import Quantization
from devlab.zoo.layers import fill_value

FLATBUFFER_LIMIT_BYTES = 2**31 - 2**26   # 2 GB less headroom for the graph itself


def convert_keras_constant_weights(model, quantization: Quantization) -> Converted:
    """The model's graph with constant weights, converted by the real TF converter (same recipes as
    devlab.build.convert.convert_keras)."""
    import tensorflow as tf

    position = {id(w): i for i, w in enumerate(model.weights)}
    fills = [[_fill(v, position) for v in variables]
             for variables in (model.trainable_variables, model.non_trainable_variables)]
    signature = [tf.TensorSpec(t.shape, t.dtype, name=t.name.split(":")[0]) for t in model.inputs]

    @tf.function(input_signature=signature)
    def serve(*inputs):
        # a scalar and a shape: a splat constant, however large the tensor
        trainable, non_trainable = ([tf.constant(value, dtype=dtype, shape=shape) for shape, dtype, value in group]
                                    for group in fills)
        outputs, _ = model.stateless_call(trainable, non_trainable, list(inputs), training=False)
        return outputs

    function = serve.get_concrete_function()
    converter = tf.lite.TFLiteConverter.from_concrete_functions([function], model)
    parameters = sum(math.prod(shape) for group in fills for shape, _, _ in group)
    bytes_per_weight = 2 if quantization == "fp16" else 4 if quantization == "none" else 1
    if parameters * bytes_per_weight > FLATBUFFER_LIMIT_BYTES:
        converter._experimental_use_buffer_offset = True   # the converter's own switch for > 2 GB models
    return run_converter(converter, quantization, tf.__version__)


def _fill(variable, position: dict[int, int]) -> tuple[tuple[int, ...], str, object]:
    """(shape, dtype, value) of one variable's constant. Model state that is not a weight keeps its own value:
    a Dropout's seed-generator state (int64, not in `model.weights`, a fill would not even be an integer) and
    any other non-float state are a few numbers, not what makes a model big."""
    shape = tuple(int(d) for d in variable.shape)
    if id(variable) not in position or "float" not in str(variable.dtype):
        return shape, variable.dtype, variable.numpy()
    return shape, variable.dtype, fill_value(position[id(variable)], variable.path, shape)
