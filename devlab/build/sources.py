"""Where a model comes from: a zoo name, a .keras/.h5 file, a SavedModel directory, or a .tflite file."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from devlab.errors import ModelError
from devlab.fsutil import path_slug, sha256_file

SourceType = Literal["zoo", "keras-file", "saved-model", "tflite"]


@dataclass(frozen=True)
class ModelSource:
    name: str                  # short name used in folder names: zoo name or file stem
    type: SourceType
    path: Path | None          # None for zoo models (built from code)
    sha256: str | None         # of the source file (None for zoo models and SavedModel directories)

    @property
    def kind(self) -> Literal["keras", "tflite"]:
        return "tflite" if self.type == "tflite" else "keras"

    def to_json(self) -> dict[str, object]:
        return {"name": self.name, "type": self.type, "path": str(self.path) if self.path else None,
                "sha256": self.sha256}


def resolve_model(spec: str) -> ModelSource:
    from devlab.zoo import ZOO
    if spec in ZOO:
        return ModelSource(spec, "zoo", None, None)
    path = Path(spec).expanduser()
    if not path.exists():
        names = ", ".join(sorted(ZOO))
        raise ModelError(f"model '{spec}' is neither a zoo model nor an existing file",
                         f"pass a .tflite/.keras file, a SavedModel directory, or one of: {names}")
    if path.is_dir():
        if not (path / "saved_model.pb").exists():
            raise ModelError(f"directory {path} is not a SavedModel (no saved_model.pb)",
                             "pass a SavedModel directory, a .keras file or a .tflite file")
        return ModelSource(_safe_name(path.name), "saved-model", path, None)
    suffix = path.suffix.lower()
    if suffix == ".tflite":
        from devlab.build.tflite_graph import read_tflite
        read_tflite(path)  # fails early, with a clear message, on a corrupt file
        return ModelSource(_safe_name(path.stem), "tflite", path, sha256_file(path))
    if suffix in (".keras", ".h5"):
        return ModelSource(_safe_name(path.stem), "keras-file", path, sha256_file(path))
    raise ModelError(f"model file {path} has an unknown type '{suffix or '(none)'}'",
                     "pass a .tflite, .keras or .h5 file, or a SavedModel directory")


def _safe_name(name: str) -> str:
    """A folder-safe name: user file names may hold spaces, quotes or shell characters."""
    return path_slug(name, fallback="model", max_len=60)
