"""Pipeline definitions: a TOML file naming the components, the variant of each, and how often each runs.

    name = "sd-small"
    steps = 20                 # denoising steps
    guidance_scale = 7.5       # classifier-free guidance
    unet_batch = 1             # 1: UNet x2 per step (conditional, unconditional); 2: x1 per step at batch 2
    constant_weights = false   # timing-only component builds (full-size zoo models)
    [[components]]             # in execution order; roles: text_encoder, unet, vae_decoder
    role = "text_encoder"
    model = "sd-small-text-encoder"   # zoo name or model file
    variant = "gpu"
    invocations = 2

`devlab pipeline run NAME` finds NAME.toml among the built-in definitions (devlab/pipeline/definitions/); a path
ending in .toml is read as given. Every mistake is a UsageError naming the file and the key.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devlab.errors import UsageError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10 (pyproject allows it; tomli is its dependency there)
    import tomli as tomllib

DEFINITIONS = Path(__file__).resolve().parent / "definitions"
ROLES = ("text_encoder", "unet", "vae_decoder")
_TOP_KEYS = {"name", "description", "steps", "guidance_scale", "unet_batch", "constant_weights", "components"}
_COMPONENT_KEYS = {"role", "model", "variant", "invocations"}


@dataclass(frozen=True)
class Component:
    role: str
    model: str
    variant: str
    invocations: int

    def to_json(self) -> dict[str, object]:
        return {"role": self.role, "model": self.model, "variant": self.variant, "invocations": self.invocations}


@dataclass(frozen=True)
class PipelineDefinition:
    name: str
    description: str
    steps: int
    guidance_scale: float
    unet_batch: int
    constant_weights: bool
    components: tuple[Component, ...]
    path: Path

    def component(self, role: str) -> Component:
        return next(c for c in self.components if c.role == role)

    @property
    def guidance(self) -> str:
        if self.unet_batch == 2:
            return f"classifier-free guidance at batch 2: UNet x{self.steps} (one batch-2 run per step)"
        return f"classifier-free guidance at batch 1: UNet x{2 * self.steps} (conditional + unconditional per step)"

    def to_json(self) -> dict[str, object]:
        return {"name": self.name, "description": self.description, "file": str(self.path), "steps": self.steps,
                "guidance_scale": self.guidance_scale, "unet_batch": self.unet_batch, "guidance": self.guidance,
                "constant_weights": self.constant_weights, "components": [c.to_json() for c in self.components]}


def builtin_names() -> list[str]:
    return sorted(path.stem for path in DEFINITIONS.glob("*.toml"))


def resolve_definition(name_or_path: str) -> Path:
    if name_or_path.endswith(".toml") or "/" in name_or_path:
        path = Path(name_or_path)
        if not path.is_file():
            raise UsageError(f"pipeline file {name_or_path} does not exist",
                             f"check the path, or name a built-in pipeline: {', '.join(builtin_names())}")
        return path
    path = DEFINITIONS / f"{name_or_path}.toml"
    if not path.is_file():
        raise UsageError(f"unknown pipeline {name_or_path!r}",
                         f"pick one of: {', '.join(builtin_names())}, or pass a .toml file")
    return path


def load_definition(name_or_path: str) -> PipelineDefinition:
    path = resolve_definition(name_or_path)
    try:
        data = tomllib.loads(path.read_text("utf-8"))
    except UnicodeDecodeError:
        raise UsageError(f"pipeline file {path} is not UTF-8 text", "save it as a UTF-8 TOML file") from None
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"pipeline file {path} is not valid TOML: {exc}", "fix the line it names") from None
    return parse_definition(data, path)


def parse_definition(data: dict[str, Any], path: Path) -> PipelineDefinition:
    def bad(key: str, problem: str, fix: str) -> UsageError:
        return UsageError(f"pipeline file {path}: {key} {problem}", fix)

    unknown = sorted(set(data) - _TOP_KEYS)
    if unknown:
        raise bad(unknown[0], "is not a pipeline key", f"use only: {', '.join(sorted(_TOP_KEYS))}")
    name = _string(data, "name", bad, default=path.stem)
    steps = _positive_int(data, "steps", bad)
    unet_batch = data.get("unet_batch", 1)
    if unet_batch not in (1, 2) or isinstance(unet_batch, bool):
        raise bad("unet_batch", f"must be 1 or 2 (got {unet_batch!r})",
                  "1: the UNet runs twice per step at batch 1; 2: once per step at batch 2")
    guidance = data.get("guidance_scale", 7.5)
    if isinstance(guidance, bool) or not isinstance(guidance, (int, float)) or guidance < 1:
        raise bad("guidance_scale", f"must be a number >= 1 (got {guidance!r})", "SD's default is 7.5")
    constant = data.get("constant_weights", False)
    if not isinstance(constant, bool):
        raise bad("constant_weights", f"must be true or false (got {constant!r})", "write constant_weights = true")
    raw = data.get("components")
    if not isinstance(raw, list) or not raw or not all(isinstance(item, dict) for item in raw):
        raise bad("components", "must be a list of [[components]] tables", "add one [[components]] table per model")
    components = tuple(_component(item, index, bad) for index, item in enumerate(raw))
    roles = [c.role for c in components]
    if roles != list(ROLES):
        raise bad("components", f"must be text_encoder, unet, vae_decoder in that order (got {', '.join(roles)})",
                  "list one [[components]] table per role, in execution order")
    expected = {"text_encoder": 2, "unet": steps * (2 if unet_batch == 1 else 1), "vae_decoder": 1}
    for index, component in enumerate(components):
        if component.invocations != expected[component.role]:
            raise bad(f"components[{index}].invocations",
                      f"is {component.invocations} but steps = {steps} with unet_batch = {unet_batch} runs the "
                      f"{component.role} {expected[component.role]} times",
                      f"set invocations = {expected[component.role]}, or change steps / unet_batch")
    return PipelineDefinition(name=name, description=_string(data, "description", bad, default=""), steps=steps,
                              guidance_scale=float(guidance), unet_batch=int(unet_batch), constant_weights=constant,
                              components=components, path=path)


def _component(item: dict[str, Any], index: int, bad) -> Component:
    where = f"components[{index}]"
    unknown = sorted(set(item) - _COMPONENT_KEYS)
    if unknown:
        raise bad(f"{where}.{unknown[0]}", "is not a component key", f"use only: {', '.join(sorted(_COMPONENT_KEYS))}")
    role = _string(item, "role", bad, prefix=where)
    if role not in ROLES:
        raise bad(f"{where}.role", f"is {role!r}, not a known role", f"use one of: {', '.join(ROLES)}")
    return Component(role=role, model=_string(item, "model", bad, prefix=where),
                     variant=_string(item, "variant", bad, prefix=where, default="gpu"),
                     invocations=_positive_int(item, "invocations", bad, prefix=where))


def _string(table: dict[str, Any], key: str, bad, prefix: str = "", default: str | None = None) -> str:
    label = f"{prefix}.{key}" if prefix else key
    value = table.get(key, default)
    if value is None:
        raise bad(label, "is missing", f"add {key} = \"...\"")
    if not isinstance(value, str) or (not value.strip() and default is None):
        raise bad(label, f"must be a non-empty string (got {value!r})", f"write {key} = \"...\"")
    return value.strip()


def _positive_int(table: dict[str, Any], key: str, bad, prefix: str = "") -> int:
    label = f"{prefix}.{key}" if prefix else key
    if key not in table:
        raise bad(label, "is missing", f"add {key} = N (a whole number >= 1)")
    value = table[key]
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise bad(label, f"must be a whole number >= 1 (got {value!r})", f"write {key} = N with N >= 1")
    return value
