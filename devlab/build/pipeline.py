"""Build the requested variants of one model into a folder, with a manifest entry per variant.

Each entry records path, sha256, bytes, op histogram, where it came from, the recipe, the predicted GPU
delegation and, for every variant that is not the float reference, its numerical equivalence to it.
Builds are cached by a key over everything that shapes the output, so a second `devlab run` converts nothing.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

from devlab import __version__
from devlab.build.convert import Converted, convert_keras, convert_saved_model, load_keras_model, quantize_tflite
from devlab.build.fp16_fixups import FIXUP_WHYS
from devlab.build.gpu_compat import plan_gpu_delegation
from devlab.build.input_shapes import FixedInput, RequestedShape, model_inputs, plan_input_shapes, with_input_shapes
from devlab.build.memory_plan import plan_memory
from devlab.build.sources import ModelSource
from devlab.build.tflite_graph import read_tflite
from devlab.build.variants import VariantSpec
from devlab import errors
from devlab.errors import ToolError, UsageError
from devlab.native_output import captured_native_output
from devlab.versions import package_version
from devlab.fsutil import atomic_write_bytes, atomic_write_json, sha256_bytes, sha256_file

MANIFEST_NAME = "manifest.json"
MANIFEST_SCHEMA_VERSION = 1
REFERENCE_PREFIX = "_reference-fp32-"   # + the build key of an fp32 variant of the same source, seed and weights

CONSTANT_WEIGHTS_NOTE = ("constant: every weight one fill value (timing only; outputs are meaningless, GPU time is "
                         "that of trained weights)")

Progress = Callable[[str], None]


@dataclass(frozen=True)
class BuiltVariant:
    name: str
    path: Path
    sha256: str
    bytes: int
    op_histogram: dict[str, int]
    recipe: dict[str, object]
    delegation: dict[str, object]          # predicted by gpu_compat: source "estimated"
    equivalence: dict[str, object] | None  # vs the fp32 reference; None for the reference itself
    cached: bool
    build_seconds: float
    build_key: str
    memory: dict[str, object] | None = None   # devlab.build.memory_plan: weights and activations, estimated

    def to_json(self) -> dict[str, object]:
        return {"name": self.name, "path": str(self.path), "sha256": self.sha256, "bytes": self.bytes,
                "op_histogram": self.op_histogram, "recipe": self.recipe, "delegation": self.delegation,
                "equivalence": self.equivalence, "build_key": self.build_key, "memory": self.memory}


@dataclass(frozen=True)
class Manifest:
    model: ModelSource
    directory: Path
    variants: tuple[BuiltVariant, ...]
    logs: dict[str, str] = field(default_factory=dict)

    def variant(self, name: str) -> BuiltVariant:
        return next(v for v in self.variants if v.name == name)

    def to_json(self) -> dict[str, object]:
        return {"schema_version": MANIFEST_SCHEMA_VERSION, "model": self.model.to_json(),
                "variants": [v.to_json() for v in self.variants]}


def default_build_dir(root: Path, source: ModelSource) -> Path:
    return root / "models" / "build" / source.name


def build_variants(source: ModelSource, specs: list[VariantSpec], out_dir: Path, *, seed: int = 0,
                   constant_weights: bool = False, input_shapes: tuple[RequestedShape, ...] = (),
                   progress: Progress = lambda _: None) -> Manifest:
    """`constant_weights`: timing-only builds (devlab.build.constant_weights) for models too big to convert here.
    `input_shapes`: --input-shape values; a Keras model's None batch is fixed to 1 without them
    (devlab.build.input_shapes)."""
    builder = _Builder(source, out_dir, seed, constant_weights, input_shapes)
    out_dir.mkdir(parents=True, exist_ok=True)
    previous = _read_previous(out_dir / MANIFEST_NAME)
    built: list[BuiltVariant] = []
    reference_path: Path | None = None
    for spec in _reference_first(specs):
        progress(spec.name)
        key = builder.key(spec)
        cached = previous.get(spec.name)
        path = out_dir / f"{spec.name}.tflite"
        start = time.perf_counter()
        if cached and cached.get("build_key") == key and path.is_file() and sha256_file(path) == cached.get("sha256"):
            variant = _from_cache(spec, path, cached, key)
        else:
            converted = builder.convert(spec)
            atomic_write_bytes(path, converted.data)
            variant = _describe(spec, path, converted, key, time.perf_counter() - start, builder.recipe(spec, converted))
            builder.logs[spec.name] = converted.log
            del converted   # a timing-only build's bytes run to GBs: not held while the next variant converts
        if spec.is_reference:
            reference_path = path
        built.append(variant)
    if any(not v.equivalence and not spec.is_reference for v, spec in zip(built, _reference_first(specs))):
        reference_path = reference_path or builder.reference()
        built = [_with_equivalence(v, spec, reference_path, seed)
                 for v, spec in zip(built, _reference_first(specs))]
    ordered = [next(v for v in built if v.name == spec.name) for spec in specs]
    manifest = Manifest(source, out_dir, tuple(ordered), builder.logs)
    merged = {**previous, **{v.name: v.to_json() for v in ordered}}
    atomic_write_json(out_dir / MANIFEST_NAME, {**manifest.to_json(), "variants": list(merged.values())})
    _fail_beyond_tolerance(ordered)
    return manifest


def _fail_beyond_tolerance(variants: list[BuiltVariant]) -> None:
    """A recipe that changes the numbers beyond its tolerance is a broken recipe, not a variant to benchmark."""
    # passed None: the check was not informative (said in the notes), which is not a failure of the recipe
    failed = [v for v in variants if v.equivalence and v.equivalence.get("passed") is False]
    if not failed:
        return
    details = "; ".join(
        f"{v.name}: max abs error {v.equivalence['max_abs_error']:.3g} (tolerance "
        f"{v.equivalence['tolerance']['max_abs']:.3g}), max rel error {v.equivalence['max_rel_error']:.3g} "
        f"(tolerance {v.equivalence['tolerance']['max_rel']:.3g})" for v in failed)
    raise ToolError(f"variants differ from the fp32 reference beyond tolerance: {details}",
                    "drop these variants from --variants, or fix the rewrite; the numbers are in manifest.json",
                    stage="equivalence")


def build_notes(manifest: Manifest) -> list[str]:
    """What the user should know about how the variants were built: input shapes devlab chose, and equivalence
    checks that compared a stand-in tensor or could not tell anything."""
    notes: list[str] = []
    for fixed in next((v.recipe.get("inputs") for v in manifest.variants if v.recipe.get("inputs")), None) or []:
        model_shape = "(" + ", ".join("None" if d is None else str(d) for d in fixed["model_shape"]) + ")"
        notes.append(f"input '{fixed['name']}' {model_shape} converted as {'x'.join(map(str, fixed['shape']))}: "
                     f"{fixed['how']}")
    for variant in manifest.variants:
        note = (variant.equivalence or {}).get("note")
        if note:
            notes.append(f"{variant.name}: equivalence {note}")
    return notes


class _Builder:
    """Turns a spec into .tflite bytes for one source; keeps the Keras model between variants."""

    def __init__(self, source: ModelSource, out_dir: Path, seed: int, constant_weights: bool = False,
                 input_shapes: tuple[RequestedShape, ...] = ()) -> None:
        if source.type == "zoo" and not constant_weights:
            from devlab.zoo import get_zoo_model
            if get_zoo_model(source.name).timing_only:
                raise UsageError(f"{source.name} has constant weights only (timing-only, too big to convert the "
                                 f"regular way on most machines)", "add --constant-weights")
        if constant_weights and source.type not in ("zoo", "keras-file"):
            raise UsageError(f"--constant-weights needs a Keras model or a zoo name, not a {source.type} source",
                             "pass the .keras file (or drop --constant-weights)")
        if input_shapes and source.type not in ("zoo", "keras-file"):
            raise UsageError(f"--input-shape needs a Keras model or a zoo name, not a {source.type} source "
                             f"(its shapes were fixed when it was converted)",
                             "pass the .keras file, or convert the model with fixed input shapes")
        self.source = source
        self.input_shapes = input_shapes
        self.fixed_inputs: tuple[FixedInput, ...] = ()   # known once the Keras model is loaded
        self.out_dir = out_dir
        self.seed = seed
        self.constant_weights = constant_weights
        self.logs: dict[str, str] = {}
        self.warnings: dict[str, str] = {}
        self._keras_cache: dict[tuple[str, ...], object] = {}

    def key(self, spec: VariantSpec) -> str:
        return sha256_bytes(json.dumps({
            "devlab": __version__, "source": self.source.to_json() | {"path": None}, "seed": self.seed,
            "quantization": spec.quantization, "rewrites": list(spec.rewrites),
            "tf": package_version("tensorflow") or "unknown",
            # fp16 files from before the post-conversion fixups must be rebuilt, not served from the cache
            **({"fixups": sorted(FIXUP_WHYS)} if spec.quantization == "fp16" else {}),
            **({"weights": "constant"} if self.constant_weights else {}),
            # files from before a None batch was fixed to 1 must be rebuilt; other --input-shape, other files
            **({"inputs": ["fixed", *(r.text for r in self.input_shapes)]} if self.source.kind == "keras" else {}),
        }, sort_keys=True).encode())[:16]

    def recipe(self, spec: VariantSpec, converted: Converted) -> dict[str, object]:
        from devlab.build.variants import available_rewrites
        whys = available_rewrites() if spec.rewrites else {}
        recipe: dict[str, object] = {"quantization": spec.quantization, "converter": converted.converter,
                                     "seed": self.seed,
                                     "rewrites": [{"name": r, "why": whys.get(r, "")} for r in spec.rewrites]}
        if converted.fixups:
            recipe["fixups"] = list(converted.fixups)
        if self.constant_weights:
            recipe["weights"] = CONSTANT_WEIGHTS_NOTE
        if self.fixed_inputs:
            recipe["inputs"] = [fixed.to_json() for fixed in self.fixed_inputs]
        if spec.name in self.warnings:
            recipe["warning"] = self.warnings[spec.name]
        return recipe

    def convert(self, spec: VariantSpec) -> Converted:
        if self.source.type == "tflite":
            assert self.source.path is not None
            original = self.source.path.read_bytes()
            converted = quantize_tflite(original, spec.quantization)
            if spec.quantization != "none" and len(converted.data) >= 0.98 * len(original):
                # e.g. ops the quantizer has no rule for: say so rather than benchmark a copy as "int8"
                converted = replace(converted, log=converted.log + "\nwarning: the quantizer left the weights "
                                    "as they were; this variant is effectively the original model\n")
                self.warnings[spec.name] = "ai-edge-quantizer quantized no weights of this model"
            return converted
        _import_tensorflow_quietly()   # only now: a fully cached build never pays for importing TensorFlow
        if self.source.type == "saved-model" and not spec.rewrites:
            assert self.source.path is not None
            return convert_saved_model(self.source.path, spec.quantization)
        if self.constant_weights:
            return self._convert_in_child(spec)
        return convert_keras(self._keras_model(spec.rewrites), spec.quantization)

    def _convert_in_child(self, spec: VariantSpec) -> Converted:
        """Timing-only builds are models too big for the regular path: each conversion runs in a fresh process, so
        its peak (18 GB for the full SD 1.4 UNet) is given back before the next, and the parent never holds a Keras
        model of that size."""
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor
        from concurrent.futures.process import BrokenProcessPool

        path = self.out_dir / f".{spec.name}.child.tflite"
        try:
            with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
                outcome = pool.submit(_constant_weights_child, self.source, self.seed, spec, path,
                                      self.input_shapes).result()
        except BrokenProcessPool:
            path.unlink(missing_ok=True)
            raise ToolError(f"converting {spec.name} with constant weights: the converter process died (most "
                            f"likely out of memory)", "build one variant at a time (--variants), or on a machine "
                            "with more memory", stage="convert") from None
        if "error" in outcome:   # the child's DevlabError, raised here as the same class with the same words
            kind, problem, fix = outcome["error"]
            error_class = getattr(errors, kind, ToolError)
            raise error_class(problem, fix, stage="convert")
        log, converter, fixups, fixed_inputs = outcome["converted"]
        self.fixed_inputs = fixed_inputs
        data = path.read_bytes()
        path.unlink()
        return Converted(data, log, converter, fixups)

    def reference(self) -> Path:
        """The fp32 file equivalence compares against when fp32 is not among the variants; named by its build key,
        so another seed, source or weights never meets a stale one."""
        spec = VariantSpec("fp32", "none")
        path = self.out_dir / f"{REFERENCE_PREFIX}{self.key(spec)}.tflite"
        if not path.is_file():
            atomic_write_bytes(path, self.convert(spec).data)
        return path

    def _keras_model(self, rewrites: tuple[str, ...]):
        if rewrites not in self._keras_cache:
            from devlab.build import rewrites as rewrite_registry
            if self.source.type == "zoo":
                from devlab.zoo import get_zoo_model
                options = rewrite_registry.graph_options_for(rewrites)
                model = self._fixed(get_zoo_model(self.source.name).build(options, self.seed))
            else:
                if self.source.type == "saved-model":
                    raise ToolError("graph rewrites need a Keras model, not a SavedModel directory",
                                    "save the model as .keras (model.save('m.keras')) and pass that file",
                                    stage="build")
                model = self._fixed(load_keras_model(self.source))
                if rewrites:
                    model = rewrite_registry.rewrite_keras_model(model, rewrites)
            self._keras_cache[rewrites] = model
        return self._keras_cache[rewrites]

    def _fixed(self, model):
        """The model on fixed input shapes (before any rewrite: rewrites judge layers by their input shapes)."""
        self.fixed_inputs = plan_input_shapes(model_inputs(model), self.input_shapes)
        return with_input_shapes(model, self.fixed_inputs)


def _constant_weights_child(source: ModelSource, seed: int, spec: VariantSpec, path: Path,
                            input_shapes: tuple[RequestedShape, ...] = ()) -> dict[str, tuple]:
    """In the child process: {"converted": (log, converter, fixups, fixed inputs)} with the .tflite written to
    `path`, or
    {"error": (class name, problem, fix)} (exceptions with keyword-only fields do not survive pickling)."""
    _import_tensorflow_quietly()   # before anything imports keras: TF's start-up chatter stays off the terminal
    from devlab.build.constant_weights import convert_keras_constant_weights
    try:
        builder = _Builder(source, path.parent, seed, constant_weights=True, input_shapes=input_shapes)
        model = builder._keras_model(spec.rewrites)
        converted = convert_keras_constant_weights(model, spec.quantization)
    except errors.DevlabError as exc:
        return {"error": (type(exc).__name__, exc.problem, exc.fix)}
    atomic_write_bytes(path, converted.data)
    return {"converted": (converted.log, converted.converter, converted.fixups, builder.fixed_inputs)}


def _reference_first(specs: list[VariantSpec]) -> list[VariantSpec]:
    return sorted(specs, key=lambda spec: not spec.is_reference)


def _describe(spec: VariantSpec, path: Path, converted: Converted, key: str, seconds: float,
              recipe: dict[str, object]) -> BuiltVariant:
    graph = read_tflite(converted.data)
    return BuiltVariant(
        name=spec.name, path=path, sha256=graph.sha256, bytes=graph.size_bytes,
        op_histogram=graph.op_histogram(), recipe=recipe, delegation=plan_gpu_delegation(graph).to_json(),
        equivalence=None, cached=False, build_seconds=seconds, build_key=key,
        memory=plan_memory(graph).to_json(),
    )


def _from_cache(spec: VariantSpec, path: Path, entry: dict, key: str) -> BuiltVariant:
    return BuiltVariant(
        name=spec.name, path=path, sha256=str(entry["sha256"]), bytes=int(entry["bytes"]),
        op_histogram=dict(entry["op_histogram"]), recipe=dict(entry["recipe"]),
        delegation=dict(entry["delegation"]), equivalence=entry.get("equivalence"), cached=True,
        build_seconds=0.0, build_key=key,
        # manifests from before the memory plan: computed from the cached file, not rebuilt
        memory=entry.get("memory") or plan_memory(read_tflite(path)).to_json(),
    )


def _with_equivalence(variant: BuiltVariant, spec: VariantSpec, reference: Path, seed: int) -> BuiltVariant:
    if spec.is_reference or variant.equivalence is not None:
        return variant
    from devlab.build.equivalence import check_equivalence, tolerance_for
    with captured_native_output():  # the LiteRT interpreter announces its XNNPACK delegate on fd 2
        result = check_equivalence(reference, variant.path, seed=seed, tolerance=tolerance_for(spec.recipes))
    return replace(variant, equivalence=result.to_json())


def _import_tensorflow_quietly() -> None:
    """TensorFlow's native start-up lines (absl pre-init warning, oneDNN notice) bypass its log level; importing
    it once under a capture keeps them off the user's terminal. Later imports are cached and print nothing."""
    if "tensorflow" in sys.modules:
        return
    with captured_native_output():
        import tensorflow  # noqa: F401


def _read_previous(path: Path) -> dict[str, dict]:
    try:
        data = json.loads(path.read_text())
        return {entry["name"]: entry for entry in data.get("variants", [])}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}  # no manifest, or one from an older devlab: rebuild
