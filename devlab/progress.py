"""How the core reports progress without printing: a sink the CLI implements with Rich, tests with nothing."""

from __future__ import annotations

from typing import Protocol


class ProgressSink(Protocol):
    def start(self, stage: str, total: int) -> None: ...

    def step(self, stage: str, what: str) -> None: ...


class NoProgress:
    def start(self, stage: str, total: int) -> None:
        return None

    def step(self, stage: str, what: str) -> None:
        return None
