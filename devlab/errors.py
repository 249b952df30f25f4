"""The one error hierarchy of devlab.

Every error carries the problem and the fix, and optionally the device and the stage, so the CLI can print one
clear line (`error: <device>: <stage>: <problem> — <fix>`) and pick the exit code from the class:
0 ok, 1 run failed (device/tool error), 2 usage error, 3 gate failed, 130 interrupted (Ctrl-C).
"""

from __future__ import annotations


class DevlabError(Exception):
    """Base class. `exit_code` follows the CLI contract in DESIGN.md."""

    exit_code: int = 1

    def __init__(self, problem: str, fix: str | None = None, *, device: str | None = None,
                 stage: str | None = None) -> None:
        self.problem = problem
        self.fix = fix
        self.device = device
        self.stage = stage
        super().__init__(self.one_line())

    def one_line(self) -> str:
        where = ": ".join(part for part in (self.device, self.stage) if part)
        text = f"{where}: {self.problem}" if where else self.problem
        text = " ".join(text.split())  # one line, whatever the problem text held
        if self.fix:
            text += f" — {' '.join(self.fix.split())}"
        return text


class UsageError(DevlabError):
    """The user asked for something that cannot work as asked (bad flag, unknown variant, missing file)."""

    exit_code = 2


class ModelError(UsageError):
    """A model file is missing, unreadable or not a model."""


class ConfigError(UsageError):
    """devlab.toml or a trace config is malformed."""


class DeviceError(DevlabError):
    """A device could not be reached, disappeared, or refused a command."""


class DeviceNotFound(UsageError):
    """`--device` names nothing attached (or names several)."""


class ToolError(DevlabError):
    """An external tool (benchmark_model, perfetto, TF converter, LiteRT) failed."""


class ParseError(DevlabError):
    """Tool output or a file could not be read as the format it claims to be."""


class GateFailed(DevlabError):
    """A CI gate found a significant regression."""

    exit_code = 3


class Interrupted(DevlabError):
    """The user pressed Ctrl-C (SIGINT) during a run; what finished is kept in the run folder."""

    exit_code = 130
