"""Variant names and what they mean.

A variant is a quantization plus zero or more graph rewrites, written `rewrite+rewrite+quantization`
(`groupnorm-4d+fp16`). Named shortcuts: `fp32`, `fp16`, `int8-dynamic`, and `gpu` (every GPU-aware rewrite plus
fp16, the reference paper's recipe). Models given as .tflite cannot be rewritten at the Keras level; they get
`as-is` and what ai-edge-quantizer offers on a flatbuffer (`int8-dynamic`, `int8-weight-only`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from devlab.errors import UsageError

Quantization = Literal["none", "fp16", "int8-dynamic", "int8-weight-only"]
SourceKind = Literal["keras", "tflite"]

KERAS_DEFAULT_VARIANTS = ("fp32", "fp16", "int8-dynamic")
TFLITE_DEFAULT_VARIANTS = ("as-is", "int8-dynamic", "int8-weight-only")
_QUANTIZATION_TOKENS: dict[str, Quantization] = {"fp32": "none", "fp16": "fp16", "int8-dynamic": "int8-dynamic",
                                                 "int8-weight-only": "int8-weight-only", "as-is": "none"}
_TFLITE_ONLY = {"as-is", "int8-weight-only"}


@dataclass(frozen=True)
class VariantSpec:
    name: str
    quantization: Quantization
    rewrites: tuple[str, ...] = ()

    @property
    def recipes(self) -> tuple[str, ...]:
        """Rewrites plus the quantization, as recipe names (for tolerances and the manifest)."""
        return self.rewrites + (() if self.quantization == "none" else (self.quantization,))

    @property
    def is_reference(self) -> bool:
        """The unmodified float model every other variant is checked against."""
        return self.quantization == "none" and not self.rewrites


def available_rewrites() -> dict[str, str]:
    """Rewrite name -> one-line why, from the rewrite registry."""
    from devlab.build import rewrites
    return {name: rewrite.why for name, rewrite in rewrites.REWRITES.items() if rewrite.options}


def gpu_recipe() -> tuple[str, ...]:
    from devlab.build import rewrites
    graph_level = available_rewrites()
    return tuple(name for name in rewrites.GPU_RECIPE if name in graph_level)


def parse_variant(name: str, source_kind: SourceKind) -> VariantSpec:
    text = name.strip()
    if not text:
        raise UsageError("empty variant name", "pass names like fp32,fp16,gpu to --variants")
    if text == "gpu":
        if source_kind == "tflite":
            raise UsageError("variant 'gpu' needs a Keras model (graph rewrites happen before conversion)",
                             "pass a zoo name, a .keras file or a SavedModel directory")
        return VariantSpec("gpu", "fp16", gpu_recipe())
    quantization: Quantization | None = None
    rewrites: list[str] = []
    known_rewrites = available_rewrites() if source_kind == "keras" else {}
    for token in text.split("+"):
        if token in _QUANTIZATION_TOKENS:
            if quantization is not None:
                raise UsageError(f"variant '{text}' names two quantizations", "use at most one of fp32/fp16/int8-*")
            if (token in _TFLITE_ONLY) != (source_kind == "tflite") and token not in ("int8-dynamic",):
                raise _unknown(text, token, source_kind, known_rewrites)
            quantization = _QUANTIZATION_TOKENS[token]
        elif token in known_rewrites:
            rewrites.append(token)
        else:
            raise _unknown(text, token, source_kind, known_rewrites)
    if source_kind == "tflite" and quantization is None:
        raise _unknown(text, text, source_kind, known_rewrites)
    return VariantSpec(text, quantization or "none", tuple(rewrites))


def parse_variants(names: str | None, source_kind: SourceKind) -> list[VariantSpec]:
    default = KERAS_DEFAULT_VARIANTS if source_kind == "keras" else TFLITE_DEFAULT_VARIANTS
    requested = [n.strip() for n in names.split(",")] if names else list(default)
    specs: list[VariantSpec] = []
    for name in requested:
        spec = parse_variant(name, source_kind)
        if spec.name not in {s.name for s in specs}:
            specs.append(spec)
    return specs


def _unknown(variant: str, token: str, source_kind: SourceKind, rewrites: dict[str, str]) -> UsageError:
    if source_kind == "tflite":
        choices = ", ".join(TFLITE_DEFAULT_VARIANTS)
        return UsageError(f"unknown variant '{variant}' for a .tflite model", f"choose from: {choices}")
    choices = ", ".join([*KERAS_DEFAULT_VARIANTS, "gpu", *rewrites])
    return UsageError(f"unknown variant '{variant}' ('{token}' is not a quantization or rewrite)",
                      f"choose from: {choices}, or combine them with '+'")
