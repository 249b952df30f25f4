"""Command-line parsing of the simulated benchmark_model builds, as TFLite's `tflite::Flags` does it.

Rules (google-ai-edge/LiteRT v2.2.0 `tflite/tools/command_line_flags.cc`, Flags::Parse / ParseFlag / Usage):
- a flag is consumed only as `--name=value` (a bare `--use_gpu` is NOT a flag: it stays unconsumed);
- bool values are exactly `true`, `false`, `1`, `0`; numbers are read with an istream (`12abc` reads 12);
  a value that does not parse is `Failed to parse flag '<name>' against argv '<arg>'` and the tool stops;
- whatever is left is reported by BenchmarkModel::ParseFlags as `Unconsumed cmdline flags: <args>` (a WARN; the
  run goes on with the defaults);
- `--help` as the first unconsumed argument (or `--help=true` where the tool has a `help` flag: the classic
  tool's default execution provider) makes the tool print Flags::Usage as an ERROR and stop.
LiteRT's main (`litert/tools/benchmark_litert_model_main.cc`) first drops vendor flags (`qualcomm_`, `mediatek_`,
`google_tensor_`, `intel_openvino_`, `samsung_` prefixes): those are Abseil flags, never unconsumed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from devlab.sim.bench_flag_tables import TOOL_FLAGS, ToolFlag

_VENDOR_PREFIXES = ("qualcomm_", "mediatek_", "google_tensor_", "intel_openvino_", "samsung_")
_INT = re.compile(r"^\s*[+-]?\d+")
_FLOAT = re.compile(r"^\s*[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
TOOLS = tuple(TOOL_FLAGS)


@dataclass(frozen=True)
class BenchFlags:
    tool: str
    values: dict[str, str]
    set_on_cmdline: frozenset[str]
    unknown: tuple[str, ...]
    errors: tuple[str, ...]
    help: bool

    def text(self, name: str) -> str:
        return self.values[name]

    def flag(self, name: str) -> bool:
        return self.values[name] in ("true", "1")

    def number(self, name: str) -> float:
        match = _FLOAT.match(self.values[name])
        return float(match.group(0)) if match else 0.0

    def has(self, name: str) -> bool:
        return name in self.values

    def echo_key(self) -> str:
        """What the flags say about the run (seeds the simulated noise)."""
        return ";".join(f"{k}={self.values[k]}" for k in sorted(self.set_on_cmdline))


def _value_ok(kind: str, value: str) -> bool:
    if kind == "bool":
        return value in ("true", "false", "0", "1")
    if kind in ("int32", "int64"):
        return bool(_INT.match(value))
    if kind == "float":
        return bool(_FLOAT.match(value))
    return True


def parse_flags(argv: list[str], tool: str = "classic") -> BenchFlags:
    """argv without argv[0]. Each flag takes the first `--name=` argument not yet consumed (as Flags::Parse)."""
    table: tuple[ToolFlag, ...] = TOOL_FLAGS[tool]
    if tool == "litert":
        argv = [a for a in argv if not _vendor_flag(a)]
    values = {name: default for name, _, default, _ in reversed(table)}   # first definition wins
    types = {name: kind for name, kind, _, _ in reversed(table)}
    consumed = [False] * len(argv)
    errors: list[str] = []
    set_on_cmdline: set[str] = set()
    for name in dict.fromkeys(name for name, _, _, _ in table):
        prefix = f"--{name}="
        for i, arg in enumerate(argv):
            if consumed[i] or not arg.startswith(prefix):
                continue
            consumed[i] = True
            value = arg[len(prefix):]
            if _value_ok(types[name], value):
                values[name] = value
                set_on_cmdline.add(name)
            else:
                errors.append(f"Failed to parse flag '{name}' against argv '{arg}'")
            break
    unknown = tuple(a for a, used in zip(argv, consumed) if not used)
    wants_help = bool(unknown and unknown[0] == "--help") or values.get("help") in ("true", "1")
    return BenchFlags(tool=tool, values=values, set_on_cmdline=frozenset(set_on_cmdline), unknown=unknown,
                      errors=tuple(errors), help=wants_help)


def _vendor_flag(arg: str) -> bool:
    name = arg.lstrip("-").split("=", 1)[0]
    return arg.startswith("-") and arg not in ("-", "--") and name.startswith(_VENDOR_PREFIXES)


def usage(argv0: str, tool: str) -> str:
    """Flags::Usage: `usage: <argv0> <flags>`, `Flags:`, then one tab-separated row per flag."""
    table = TOOL_FLAGS[tool]
    names = [f"--{name}={default}" for name, _, default, _ in table]
    width = max(len(n) for n in names)
    rows = [f"\t{n:<{width}}\t{kind}\toptional\t{text}" for n, (_, kind, _, text) in zip(names, table)]
    return "\n".join([f"usage: {argv0} <flags>", "Flags:", *rows]) + "\n"
