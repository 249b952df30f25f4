"""LiteRT benchmark_model's `========== BENCHMARK RESULTS ==========` block.

Printed by BenchmarkLoggingListener::OnBenchmarkEnd (google-ai-edge/LiteRT: litert/tools/benchmark_litert_model.h)
through LITERT_LOG, one call per line: `Model initialization: %.2f ms`, `Warmup (first): %.2f ms`,
`Warmup (avg): %.2f ms (%d runs)`, `Inference (avg): %.2f ms (%d runs)`, then `Inference (min|max): %.2f ms` and
`Inference (std): %.2f` (ms, no unit printed) or `No inference runs were performed.`, `Throughput: %.2f MB/s`,
`Memory Usage:` with `Init footprint` / `Overall footprint` / `Peak memory: %.2f MB`, and a closing rule. The
header's and `Memory Usage:`'s format strings start with "\n", so on stderr those lines arrive bare, after an
empty `INFO: [benchmark_litert_model.h:NN] ` line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from devlab.bench.stats_line import NUMBER, to_float

BLOCK_START = re.compile(r"^=+ BENCHMARK RESULTS =+$")
_BLOCK_END = re.compile(r"^=+$")
_ITEM = re.compile(rf"^(?P<key>[A-Za-z][A-Za-z ()]*?):\s*(?P<v>{NUMBER})\s*(?P<unit>ms|us|s|MB|KB|GB)?\b"
                   rf"(?:\s*\((?P<n>\d+) runs?\))?")
_NO_RUNS = re.compile(r"^No inference runs were performed\.?$")
_UNIT_TO_US = {"us": 1.0, "ms": 1000.0, "s": 1_000_000.0}
_UNIT_TO_MB = {"MB": 1.0, "KB": 1.0 / 1024.0, "GB": 1024.0}


@dataclass(frozen=True)
class BlockItem:
    value: float | None   # None: printed as nan (an average over no runs)
    unit: str | None
    runs: int | None


class ResultsBlock:
    """The items of one block, read line by line: `feed` returns False once the block has ended."""

    def __init__(self) -> None:
        self.items: dict[str, BlockItem] = {}
        self.no_inference_runs = False

    def feed(self, text: str) -> bool:
        if _BLOCK_END.match(text):
            return False
        if _NO_RUNS.match(text):
            self.no_inference_runs = True
        elif item := _ITEM.match(text):
            self.items[item.group("key").strip().lower()] = BlockItem(
                to_float(item.group("v")), item.group("unit"), int(item.group("n")) if item.group("n") else None)
        return True

    def us(self, key: str, default_unit: str | None = None) -> float | None:
        """An item in microseconds; `default_unit` for the std line, which prints none (it is in ms)."""
        item = self.items.get(key)
        if item is None or item.value is None:
            return None
        factor = _UNIT_TO_US.get(item.unit or default_unit or "")
        return None if factor is None else round(item.value * factor, 3)

    def mb(self, key: str) -> float | None:
        item = self.items.get(key)
        factor = None if item is None else _UNIT_TO_MB.get(item.unit or "")
        return None if item is None or item.value is None or factor is None else round(item.value * factor, 6)

    def runs(self, key: str) -> int | None:
        item = self.items.get(key)
        return None if item is None else item.runs
