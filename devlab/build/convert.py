"""Conversion: Keras / SavedModel -> .tflite with the real TF converter, and .tflite -> .tflite with
ai-edge-quantizer. Converter chatter goes into the returned log, not onto the user's terminal."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from devlab.build.sources import ModelSource
from devlab.build.variants import Quantization
from devlab.errors import ModelError, ToolError
from devlab.native_output import captured_native_output
from devlab.versions import package_version


@dataclass(frozen=True)
class Converted:
    data: bytes
    log: str
    converter: str             # "tf.lite.TFLiteConverter <version>" or "ai-edge-quantizer <version>"
    fixups: tuple[dict[str, object], ...] = ()   # post-conversion fixes applied (devlab.build.fp16_fixups)


def load_keras_model(source: ModelSource):
    """The user's Keras model (zoo models are built by the pipeline, not loaded)."""
    import keras
    assert source.path is not None
    try:
        with captured_native_output():
            return keras.models.load_model(source.path, compile=False)
    except Exception as exc:
        raise ModelError(f"cannot load Keras model {source.path}: {type(exc).__name__}: {exc}",
                         "check that the file was saved with model.save() from Keras 3") from None


def convert_keras(model, quantization: Quantization) -> Converted:
    import tensorflow as tf
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    return run_converter(converter, quantization, tf.__version__)


def convert_saved_model(path: Path, quantization: Quantization) -> Converted:
    import tensorflow as tf
    converter = tf.lite.TFLiteConverter.from_saved_model(str(path))
    return run_converter(converter, quantization, tf.__version__)


def run_converter(converter, quantization: Quantization, tf_version: str) -> Converted:
    """Apply the quantization recipe to a prepared tf.lite.TFLiteConverter and run it, its chatter captured."""
    import tensorflow as tf
    if quantization == "fp16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif quantization == "int8-dynamic":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]  # dynamic-range: int8 weights, float activations
    elif quantization != "none":
        raise ToolError(f"the TF converter has no '{quantization}' recipe", "use fp32, fp16 or int8-dynamic",
                        stage="convert")
    with captured_native_output() as capture:
        try:
            data = converter.convert()
            error = None
        except Exception as exc:
            data, error = b"", exc
    if error is not None:
        raise ToolError(f"TF conversion failed: {type(error).__name__}: {str(error).splitlines()[0][:300]}",
                        "run `devlab build --debug` for the converter log; unsupported TF ops may need "
                        "a graph rewrite", stage="convert")
    converted = Converted(bytes(data), capture.text, f"tf.lite.TFLiteConverter {tf_version}")
    if quantization == "fp16":
        # The converter cannot keep a tensor fp32 under its fp16 recipe; fix what the GPU refuses afterwards.
        from devlab.build.fp16_fixups import apply_fp16_fixups
        fixed = apply_fp16_fixups(converted.data)
        converted = Converted(fixed.data, converted.log, converted.converter, tuple(fixed.recipe_entries()))
    return converted


def quantize_tflite(data: bytes, quantization: Quantization) -> Converted:
    if quantization == "none":
        return Converted(data, "", "none (as-is)")
    from ai_edge_quantizer import quantizer, recipe
    recipes = {"int8-dynamic": recipe.dynamic_wi8_afp32, "int8-weight-only": recipe.weight_only_wi8_afp32}
    if quantization not in recipes:
        raise ToolError(f"ai-edge-quantizer has no '{quantization}' recipe for a .tflite input",
                        "use as-is, int8-dynamic or int8-weight-only", stage="quantize")
    with captured_native_output() as capture:
        try:
            engine = quantizer.Quantizer(bytearray(data))
            engine.load_quantization_recipe(recipes[quantization]())
            result = bytes(engine.quantize().quantized_model)
            error = None
        except Exception as exc:
            result, error = b"", exc
    if error is not None:
        raise ToolError(f"ai-edge-quantizer failed ({quantization}): {type(error).__name__}: "
                        f"{str(error).splitlines()[0][:300] if str(error) else ''}",
                        "try another variant; this model may hold ops the quantizer does not handle",
                        stage="quantize")
    quantizer_version = package_version("ai-edge-quantizer") or "unknown"
    return Converted(result, capture.text, f"ai-edge-quantizer {quantizer_version}")
