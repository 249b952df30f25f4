"""A Rich progress display on stderr, implementing the core's ProgressSink."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

from rich.progress import BarColumn, Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn

from devlab.cli.common import console


class RichProgress:
    def __init__(self, progress: Progress) -> None:
        self._progress = progress
        self._tasks: dict[str, TaskID] = {}
        self._running: dict[str, bool] = {}

    def start(self, stage: str, total: int) -> None:
        self._tasks[stage] = self._progress.add_task(stage, total=total)

    def step(self, stage: str, what: str) -> None:
        if stage not in self._tasks:
            self.start(stage, 0)
        task = self._tasks[stage]
        if self._running.get(stage):
            self._progress.advance(task)
        self._running[stage] = True
        self._progress.update(task, description=f"{stage}: {what}")

    def finish(self) -> None:
        for stage, task in self._tasks.items():
            if self._running.get(stage):
                self._progress.advance(task)
                self._progress.update(task, description=f"{stage}: done")


@contextmanager
def rich_progress() -> Iterator[RichProgress]:
    columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
               TextColumn("{task.completed}/{task.total}"), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=not console.is_terminal) as progress:
        sink = RichProgress(progress)
        yield sink
        sink.finish()
