"""Fixed input shapes for conversion: a Keras model's `None` dimensions become numbers before the converter runs.

Why: the TF converter keeps a `None` batch as a dynamic dimension (shape_signature -1), and the GPU delegate
rejects every op on a dynamic tensor ("Dynamic shapes are not supported"): keras.applications models as they come
were predicted 2 of 114 ops on the GPU, and LiteRT's GPU accelerator refused to load such a file at all; the same
models built on an input of batch 1 are 100 % on the GPU. So a `None` batch is fixed to 1 by default (recorded in
the manifest); `--input-shape name=1x224x224x3` chooses another shape, and is required for other unknown dims
(a fully convolutional model's height and width), since no default is right for those.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

from devlab.errors import UsageError

if TYPE_CHECKING:
    import keras

DEFAULT_BATCH_NOTE = "batch None fixed to 1 for conversion (default; choose with --input-shape)"
OPTION_NOTE = "set by --input-shape"


@dataclass(frozen=True)
class RequestedShape:
    """One `--input-shape` value: `name=1x64x64x4`, or `1x64x64x4` for a model with one input."""
    name: str | None
    dims: tuple[int, ...]

    @property
    def text(self) -> str:
        return (f"{self.name}=" if self.name else "") + "x".join(map(str, self.dims))


@dataclass(frozen=True)
class FixedInput:
    """An input whose shape the build chose: the model's shape (None for unknown dims) and the one converted."""
    name: str
    model_shape: tuple[int | None, ...]
    shape: tuple[int, ...]
    how: str

    def to_json(self) -> dict[str, object]:
        return {"name": self.name, "model_shape": list(self.model_shape), "shape": list(self.shape),
                "how": self.how}


def parse_input_shapes(values: Sequence[str]) -> tuple[RequestedShape, ...]:
    """Parse `--input-shape` values (repeatable; each may also hold several, comma-separated)."""
    parsed: list[RequestedShape] = []
    for value in (part.strip() for text in values for part in text.split(",")):
        if not value:
            continue
        name, _, dims_text = value.rpartition("=")
        try:
            dims = tuple(int(d) for d in dims_text.lower().split("x"))
        except ValueError:
            dims = ()
        if not dims or any(d < 1 for d in dims):
            raise UsageError(f"--input-shape '{value}' is not NAME=DIMxDIMx... with positive dims",
                             "pass e.g. --input-shape image=1x224x224x3")
        if any(p.name == (name or None) for p in parsed):
            raise UsageError(f"--input-shape names input '{name or '(the only input)'}' twice", "pass it once")
        parsed.append(RequestedShape(name or None, dims))
    return tuple(parsed)


def plan_input_shapes(inputs: Sequence[tuple[str, tuple[int | None, ...]]],
                      requested: Sequence[RequestedShape]) -> tuple[FixedInput, ...]:
    """The inputs whose converted shape differs from the model's (name, shape) list: a None batch -> 1, and what
    --input-shape asks. UsageError (with the flag to pass) for an unknown name, a wrong rank, a dim the model fixes
    to another number, or an unknown dim left without a value."""
    names = [name for name, _ in inputs]
    by_name: dict[str, RequestedShape] = {}
    for request in requested:
        if request.name is None:
            if len(inputs) != 1:
                raise UsageError(f"--input-shape '{request.text}' names no input and the model has {len(inputs)}",
                                 f"write NAME=DIMS with NAME one of: {', '.join(names)}")
            by_name[names[0]] = request
        elif request.name not in names:
            raise UsageError(f"--input-shape names input '{request.name}', which the model does not have",
                             f"the model's inputs are: {', '.join(names)}")
        else:
            by_name[request.name] = request
    fixed: list[FixedInput] = []
    for name, shape in inputs:
        request = by_name.get(name)
        if request is not None:
            dims = _checked(name, shape, request)
            if dims != tuple(shape):   # the model's own fixed shape, asked again: nothing to change
                fixed.append(FixedInput(name, tuple(shape), dims, OPTION_NOTE))
        elif shape and shape[0] is None and all(d is not None for d in shape[1:]):
            fixed.append(FixedInput(name, tuple(shape), (1, *(int(d) for d in shape[1:])), DEFAULT_BATCH_NOTE))
        elif any(d is None for d in shape):
            example = "x".join(str(d) if d is not None else ("1" if i == 0 else "N") for i, d in enumerate(shape))
            raise UsageError(f"input '{name}' has unknown dimensions {_shape_text(shape)} besides the batch: the GPU "
                             f"delegate needs fixed shapes", f"pass --input-shape {name}={example} (N: your size)")
    return tuple(fixed)


def with_input_shapes(model: "keras.Model", fixed: Sequence[FixedInput]) -> "keras.Model":
    """The same model (a copy with the same weights) on inputs of the fixed shapes; `model` itself if none."""
    if not fixed:
        return model
    import keras

    shapes = {f.name: f.shape for f in fixed}
    new_inputs = [keras.Input(batch_shape=shapes.get(t.name, tuple(t.shape)), dtype=t.dtype, name=t.name)
                  for t in model.inputs]
    try:
        clone = keras.models.clone_model(model, input_tensors=new_inputs if len(new_inputs) > 1 else new_inputs[0])
    except (ValueError, TypeError) as exc:
        raise UsageError(f"cannot rebuild {model.name} on inputs {_shapes_text(fixed)}: {str(exc).splitlines()[0]}",
                         "use a functional or Sequential model, or give it fixed input shapes "
                         "(keras.Input(shape, batch_size=1))") from None
    clone.set_weights(model.get_weights())   # a clone has fresh weights; the model's own are what we convert
    return clone


def model_inputs(model: "keras.Model") -> tuple[tuple[str, tuple[int | None, ...]], ...]:
    """(name, shape) of each input; the name is the one the converted .tflite's signature carries."""
    inputs = getattr(model, "inputs", None) or []
    return tuple((t.name, tuple(None if d is None else int(d) for d in t.shape)) for t in inputs)


def _checked(name: str, shape: tuple[int | None, ...], request: RequestedShape) -> tuple[int, ...]:
    if len(request.dims) != len(shape):
        raise UsageError(f"--input-shape {request.text} has rank {len(request.dims)}, input '{name}' has rank "
                         f"{len(shape)} {_shape_text(shape)}", "give one number per dimension, joined with 'x'")
    for axis, (have, want) in enumerate(zip(shape, request.dims)):
        if have is not None and have != want:
            raise UsageError(f"--input-shape {request.text}: input '{name}' is {_shape_text(shape)}, dimension "
                             f"{axis} is fixed to {have} in the model", "set only the dimensions that are None")
    return request.dims


def _shape_text(shape: Sequence[int | None]) -> str:
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + ")"


def _shapes_text(fixed: Sequence[FixedInput]) -> str:
    return ", ".join(f"{f.name}={'x'.join(map(str, f.shape))}" for f in fixed)
