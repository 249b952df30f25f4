"""Run one function per device in parallel threads; every device's result or failure is kept (Mobly's
`concurrent_exec` idea): one device raising never loses the others' results."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Generic, TypeVar

from devlab.errors import DevlabError

T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True)
class Outcome(Generic[T, R]):
    item: T
    value: R | None
    error: str | None          # one line: a DevlabError's own line, or the type and text of anything else

    @property
    def ok(self) -> bool:
        return self.error is None


def run_each(fn: Callable[[T], R], items: list[T], max_workers: int | None = None) -> list[Outcome[T, R]]:
    """fn(item) for every item at once; results in the order of items."""
    if not items:
        return []

    def guarded(item: T) -> Outcome[T, R]:
        try:
            return Outcome(item, fn(item), None)
        except DevlabError as exc:
            return Outcome(item, None, exc.one_line())
        except Exception as exc:  # a bug in one device's path must not take the others down; it is reported
            return Outcome(item, None, f"internal error: {type(exc).__name__}: {exc}")

    with ThreadPoolExecutor(max_workers=max_workers or len(items), thread_name_prefix="farm") as pool:
        return list(pool.map(guarded, items))
