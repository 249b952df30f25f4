"""benchmark_model's op-profiling tables (`--enable_op_profiling=true`), stdout and CSV modes.

Reads the `Run Order` table (one row per node, in execution order) and the `Summary by node type` table of the
initialization and regular-run sections, per subgraph. `Top by ...` tables repeat Run Order rows (and may be cut to
the top N), so they are skipped. Columns come from each table's own header: old builds have an extra `[start]`
column, LiteRT's profiler pads with spaces, logcat turns tabs into spaces, CSV mode separates with ", ".
Numbers here are op-profile numbers (inflated by the profiler): provenance `op-profile`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from devlab.bench.log_lines import LogLine, clean_lines
from devlab.bench.stats_line import NUMBER, StatsLine, parse_stats_line, to_float, to_int
from devlab.errors import ParseError
from devlab.provenance import OP_PROFILE, Source

Section = Literal["init", "run"]

# `convolution_2d 12`, `convolution_2d 3 -> relu 4`, `mat_mul_as_convolution`: the GPU delegate's kernel labels.
# XNNPACK also emits `Delegate/...` rows, but its labels look like `Convolution (NHWC, F32) IGEMM`.
_GPU_LABEL = re.compile(r"^[a-z][a-z0-9_]*(?: \d+)?(?: -> [a-z][a-z0-9_]*(?: \d+)?)*$")
_KERNEL_NAME = re.compile(r"^Delegate/(?P<label>.+):(?P<index>\d+)$")
_NODE_NAME = re.compile(r"^\[(?P<outputs>.*)\]:(?P<index>\d+)$")
_TITLE = re.compile(r"^=+ (?P<title>.+?) =+$")
_SUBGRAPH = re.compile(r"^Subgraph \(index: (?P<index>\d+)[^)]*\)\s*(?P<rest>.*)$")
_PRIMARY = re.compile(r"^Primary graph\b")


@dataclass(frozen=True)
class OpProfileRow:
    """One Run Order row. `node_index` is the TFLite node (`[outputs]:<index>`); kernel rows have none."""

    section: Section
    node_type: str
    name: str
    node_index: int | None
    first_ms: float | None
    avg_ms: float
    percent: float | None
    cdf_percent: float | None
    mem_kb: float | None
    times_called: int | None
    subgraph: int | None
    is_gpu_kernel: bool
    kernel_label: str | None           # `<label>` of a `Delegate/<label>:<i>` row (GPU or other delegate)
    kernel_index: int | None = None    # the `<i>` of `Delegate/<label>:<i>` (dispatch order, not a TFLite node)
    kernel_node_ids: tuple[int, ...] = ()  # GPU graph node ids in the label (`conv 3 -> relu 4` -> (3, 4))
    start_ms: float | None = None      # old builds only

    @property
    def is_delegate_node(self) -> bool:
        """The one row a delegate partition shows as a node (`TfLiteGpuDelegateV2`, `TfLiteNnapiDelegate`...; LiteRT's
        accelerators: `LITERT_CL`, `LITERT_OPENGL`, `LITERT_WEBGPU`... (ml_drift_delegate/delegate/delegate_*.cc
        custom_name), `DispatchDelegate` for NPUs)."""
        return self.node_type in ("DELEGATE", "DispatchDelegate") or self.node_type.startswith("LITERT_") or (
            self.node_type.startswith("TfLite") and "Delegate" in self.node_type)


@dataclass(frozen=True)
class OpTypeSummary:
    node_type: str
    count: int | None
    avg_ms: float | None
    avg_percent: float | None
    cdf_percent: float | None
    mem_kb: float | None
    times_called: int | None
    section: Section = "run"
    subgraph: int | None = None


@dataclass(frozen=True)
class ProfileTimings:
    """The `Timings (microseconds): ...` line closing a section: the sum of profiled op times per run."""

    section: Section
    subgraph: int | None
    stats: StatsLine


@dataclass(frozen=True)
class OpProfile:
    rows: tuple[OpProfileRow, ...]
    by_type: tuple[OpTypeSummary, ...]
    source: Source = OP_PROFILE
    timings: tuple[ProfileTimings, ...] = ()

    def run_rows(self) -> tuple[OpProfileRow, ...]:
        return tuple(row for row in self.rows if row.section == "run")

    def gpu_kernel_rows(self) -> tuple[OpProfileRow, ...]:
        return tuple(row for row in self.rows if row.is_gpu_kernel)

    def delegate_rows(self) -> tuple[OpProfileRow, ...]:
        return tuple(row for row in self.rows if row.is_delegate_node)

    def run_timings(self) -> StatsLine | None:
        """Per-run total of the regular runs' profile (primary graph when several)."""
        for timing in self.timings:
            if timing.section == "run" and timing.subgraph in (None, 0):
                return timing.stats
        return None


# Header cell text (lower case, brackets and spaces dropped) -> field name.
_COLUMN_NAMES = {
    "nodetype": "node_type", "start": "start", "first": "first", "avgms": "avg_ms", "avg_ms": "avg_ms",
    "%": "percent", "cdf%": "cdf", "memkb": "mem_kb", "timescalled": "times_called", "name": "name",
    "count": "count", "avg%": "percent",
}
_PERCENT_FIELDS = {"percent", "cdf"}


@dataclass(frozen=True)
class _Table:
    kind: Literal["run_order", "by_type"]
    columns: tuple[str, ...]
    csv: bool
    pattern: re.Pattern[str]


def _header_table(line: str) -> _Table | None:
    stripped = line.strip()
    lowered = stripped.lower()
    if lowered.startswith("[node type]"):
        cells = re.findall(r"\[([^\]]*)\]", stripped)
        csv = False
    elif lowered.startswith("node type,"):
        cells = [cell for cell in stripped.split(",")]
        csv = True
    else:
        return None
    columns = tuple(_COLUMN_NAMES.get(re.sub(r"\s+", "", cell.lower()), "?") for cell in cells)
    if "?" in columns or columns[0] != "node_type" or "avg_ms" not in columns or len(set(columns)) != len(columns):
        return None   # not a table benchmark_model writes (a repeated column has no one meaning)
    kind: Literal["run_order", "by_type"] = "by_type" if "count" in columns else "run_order"
    if kind == "run_order" and columns[-1] != "name":
        return None
    return _Table(kind=kind, columns=columns, csv=csv, pattern=_row_pattern(columns, csv))


def _row_pattern(columns: tuple[str, ...], csv: bool) -> re.Pattern[str]:
    """A row regex anchored on the numeric columns, so node types and names may hold spaces and commas."""
    sep = r"\s*,\s*" if csv else r"\s+"
    parts: list[str] = []
    for index, column in enumerate(columns):
        if column == "node_type":
            cell = r"(?P<node_type>\S.*?)"
        elif column == "name":
            cell = r"(?P<name>\S.*?)"
        elif column in _PERCENT_FIELDS:
            cell = rf"(?P<{column}>{NUMBER})%"
        elif column in ("times_called", "count"):
            cell = rf"(?P<{column}>\d+)"
        else:
            cell = rf"(?P<{column}>{NUMBER})"
        if index:
            # `100.000%` follows its tab directly; a percent may touch the next cell in space-padded output.
            parts.append(r"\s*" if columns[index - 1] in _PERCENT_FIELDS and not csv else sep)
        parts.append(cell)
    return re.compile(r"^\s*" + "".join(parts) + r"\s*$", re.IGNORECASE)


def _kernel_fields(name: str) -> tuple[str | None, int | None, tuple[int, ...], bool]:
    match = _KERNEL_NAME.match(name)
    if not match:
        return None, None, (), False
    label = match.group("label")
    is_gpu = bool(_GPU_LABEL.match(label))
    node_ids = tuple(int(n) for n in re.findall(r" (\d+)(?= ->|$)", label)) if is_gpu else ()
    return label, int(match.group("index")), node_ids, is_gpu


def _row(table: _Table, line: str, section: Section, subgraph: int | None) -> OpProfileRow | OpTypeSummary | None:
    match = table.pattern.match(line)
    if not match:
        return None
    cells = match.groupdict()

    def number(column: str) -> float | None:
        return to_float(cells[column]) if cells.get(column) is not None else None

    def integer(column: str) -> int | None:
        return to_int(cells[column]) if cells.get(column) is not None else None

    node_type = cells["node_type"].strip()
    avg_ms = number("avg_ms")
    if table.kind == "by_type":
        return OpTypeSummary(node_type=node_type, count=integer("count"), avg_ms=avg_ms,
                             avg_percent=number("percent"), cdf_percent=number("cdf"), mem_kb=number("mem_kb"),
                             times_called=integer("times_called"), section=section, subgraph=subgraph)
    if avg_ms is None:  # a row without its one essential number is no row (e.g. `nan`)
        return None
    name = cells["name"].strip()
    node = _NODE_NAME.match(name)
    label, kernel_index, node_ids, is_gpu = _kernel_fields(name)
    return OpProfileRow(section=section, node_type=node_type, name=name,
                        node_index=int(node.group("index")) if node else None,
                        first_ms=number("first"), avg_ms=avg_ms, percent=number("percent"),
                        cdf_percent=number("cdf"), mem_kb=number("mem_kb"), times_called=integer("times_called"),
                        subgraph=subgraph, is_gpu_kernel=is_gpu, kernel_label=label, kernel_index=kernel_index,
                        kernel_node_ids=node_ids, start_ms=number("start"))


def parse_op_profile_lines(lines: list[LogLine]) -> OpProfile | None:
    """The op-profile tables among already cleaned lines (see log_lines.clean_lines), or None."""
    rows: list[OpProfileRow] = []
    by_type: list[OpTypeSummary] = []
    timings: list[ProfileTimings] = []
    # A fragment with no section heading (summary-only pastes) is a regular-run table: the init section only
    # ever holds ModifyGraphWithDelegate/AllocateTensors.
    section: Section = "run"
    subgraph: int | None = None
    table_kind: str | None = None   # title of the table being read
    table: _Table | None = None
    found = False
    for log_line in lines:
        line = log_line.text
        stripped = line.strip()
        if not stripped:
            continue
        if stripped.startswith("Profiling Info for Benchmark Initialization"):
            section, subgraph, table_kind, table = "init", None, None, None
            continue
        if stripped.startswith("Operator-wise Profiling Info for Regular Benchmark Runs"):
            section, subgraph, table_kind, table = "run", None, None, None
            continue
        if _PRIMARY.match(stripped):
            subgraph, table_kind, table = 0, None, None
            continue
        sub = _SUBGRAPH.match(stripped)
        if sub and not sub.group("rest").startswith("Timings"):
            subgraph, table_kind, table = int(sub.group("index")), None, None
            continue
        if stripped.startswith("Delegate internal:"):
            subgraph, table_kind, table = None, None, None
            continue
        title = _TITLE.match(stripped)
        if title:
            table_kind, table = title.group("title").strip().lower(), None
            continue
        timing_text = sub.group("rest") if sub else stripped
        if timing_text.startswith("Timings (microseconds):"):
            stats = parse_stats_line(timing_text.split(":", 1)[1])
            if stats is not None:
                found = True
                timings.append(ProfileTimings(section=section, subgraph=int(sub.group("index")) if sub else subgraph,
                                              stats=stats))
            continue
        header = _header_table(line)
        if header is not None:
            table = header
            continue
        if table is None or table_kind not in ("run order", "summary by node type"):
            continue
        if (table.kind == "run_order") != (table_kind == "run order"):
            continue
        parsed = _row(table, line, section, subgraph)
        if isinstance(parsed, OpProfileRow):
            rows.append(parsed)
            found = True
        elif isinstance(parsed, OpTypeSummary):
            by_type.append(parsed)
            found = True
    if not found:
        return None
    return OpProfile(rows=tuple(rows), by_type=tuple(by_type), timings=tuple(timings))


def parse_op_profile_tables(text: str) -> OpProfile | None:
    """The op-profile tables in a stdout/logcat capture, or None when it holds none."""
    return parse_op_profile_lines(clean_lines(text))


def parse_op_profile_csv(text: str) -> OpProfile:
    """An `--op_profiling_output_mode=csv` file. Raises ParseError when it holds no profile table."""
    profile = parse_op_profile_lines(clean_lines(text))
    if profile is None:
        raise ParseError("the file holds no op-profiling table (no `node type, ...` header with rows)",
                         "pass the file benchmark_model wrote with --enable_op_profiling=true "
                         "--op_profiling_output_mode=csv --op_profiling_output_file=<path>",
                         stage="parse op profile")
    return profile
