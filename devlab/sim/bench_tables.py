"""benchmark_model's op-profiling tables, as the classic tool prints them (stdout mode) or writes them (CSV mode)."""

from __future__ import annotations

from dataclasses import dataclass

_RUN_HEADER = ("[node type]", "[first]", "[avg ms]", "[%]", "[cdf%]", "[mem KB]", "[times called]", "[Name]")
_TYPE_HEADER = ("[Node type]", "[count]", "[avg ms]", "[avg %]", "[cdf %]", "[mem KB]", "[times called]")
CSV_RUN_HEADER = "node type, first, avg_ms, %, cdf%, mem KB, times called, name"
CSV_TYPE_HEADER = "node type, count, avg_ms, avg %, cdf %, mem KB, times called"


@dataclass(frozen=True)
class Row:
    node_type: str
    name: str
    first_ms: float
    avg_ms: float
    mem_kb: float = 0.0
    times_called: int = 1


def stats_text(values: list[float]) -> str:
    """`count=.. first=.. curr=.. min=.. max=.. avg=.. std=..` as TFLite's Stat<int64> prints it (integer us)."""
    if not values:
        return "count=0"
    ints = [int(round(v)) for v in values]
    if len(set(ints)) == 1:
        return f"count={len(ints)} curr={ints[-1]}" + (" (all same)" if len(ints) > 1 else "")
    avg = sum(values) / len(values)
    std = int(round((sum((v - avg) ** 2 for v in values) / len(values)) ** 0.5))
    ordered = sorted(ints)

    def pct(p: float) -> int:
        return ordered[min(len(ordered) - 1, int(p * len(ordered)))]
    return (f"count={len(ints)} first={ints[0]} curr={ints[-1]} min={ordered[0]} max={ordered[-1]} "
            f"avg={avg:g} std={std} p5={pct(0.05)} median={pct(0.5)} p95={pct(0.95)}")


def _shares(rows: list[Row]) -> list[tuple[Row, float, float]]:
    total = sum(r.avg_ms for r in rows) or 1.0
    out, cdf = [], 0.0
    for row in rows:
        share = 100.0 * row.avg_ms / total
        cdf += share
        out.append((row, share, cdf))
    return out


def _title(title: str) -> str:
    return f"============================== {title} =============================="


def _run_table(title: str, rows: list[Row]) -> list[str]:
    lines = [_title(title),
             "\t" + "\t".join(f"{h:>{w}}" for h, w in zip(_RUN_HEADER, (24, 9, 9, 8, 8, 10, 14, 0)))]
    for row, share, cdf in _shares(rows):
        lines.append(f"\t{row.node_type:>24}\t{row.first_ms:>9.3f}\t{row.avg_ms:>9.3f}\t{share:>7.3f}%\t"
                     f"{cdf:>7.3f}%\t{row.mem_kb:>10.3f}\t{row.times_called:>9}\t{row.name}")
    return lines


def _by_type(rows: list[Row]) -> list[Row]:
    groups: dict[str, list[Row]] = {}
    for row in rows:
        groups.setdefault(row.node_type, []).append(row)
    merged = [Row(t, str(len(g)), 0.0, sum(r.avg_ms for r in g), sum(r.mem_kb for r in g),
                  sum(r.times_called for r in g)) for t, g in groups.items()]
    return sorted(merged, key=lambda r: -r.avg_ms)


def stdout_section(heading: str, rows: list[Row], totals_us: list[float]) -> list[str]:
    lines = [heading]
    lines += _run_table("Run Order", rows) + [""]
    lines += _run_table("Top by Computation Time", sorted(rows, key=lambda r: -r.avg_ms)[:10]) + [""]
    lines.append(f"Number of nodes executed: {len(rows)}")
    lines.append("============================== Summary by node type ==============================")
    lines.append("\t" + "\t".join(f"{h:>{w}}" for h, w in zip(_TYPE_HEADER, (24, 9, 10, 11, 11, 10, 14))))
    for row, share, cdf in _shares(_by_type(rows)):
        lines.append(f"\t{row.node_type:>24}\t{row.name:>9}\t{row.avg_ms:>10.3f}\t{share:>10.3f}%\t{cdf:>10.3f}%\t"
                     f"{row.mem_kb:>10.3f}\t{row.times_called:>9}")
    lines += ["", f"Timings (microseconds): {stats_text(totals_us)}", "Memory (bytes): count=0",
              f"{len(rows)} nodes observed", "", ""]
    return lines


def csv_section(heading: str, rows: list[Row], totals_us: list[float]) -> list[str]:
    lines = [heading, _title("Run Order"), CSV_RUN_HEADER]
    for row, share, cdf in _shares(rows):
        lines.append(f"{row.node_type}, {row.first_ms:.3f}, {row.avg_ms:.3f}, {share:.3f}%, {cdf:.3f}%, "
                     f"{row.mem_kb:.3f}, {row.times_called}, {row.name}")
    lines += [_title("Summary by node type"), CSV_TYPE_HEADER]
    for row, share, cdf in _shares(_by_type(rows)):
        lines.append(f"{row.node_type}, {row.name}, {row.avg_ms:.3f}, {share:.3f}%, {cdf:.3f}%, {row.mem_kb:.3f}, "
                     f"{row.times_called}")
    lines += ["", f"Timings (microseconds): {stats_text(totals_us)}", "Memory (bytes): count=0", ""]
    return lines


# --- LiteRT's --use_profiler summary (litert/runtime/profiler_summarizer.cc, LiteRtProfileSummarizer at v2.2.0) ---

@dataclass(frozen=True)
class LiteRtNode:
    node_type: str       # op tag (`CONV_2D`, `LITERT_CL`) or `Delegate/<dispatch label>`
    name: str            # `[Builtin]:<node index>` or `[Delegate]:<dispatch index>`
    start_ms: float      # first start, relative to the earliest node
    first_ms: float
    total_us: float      # over every profiled run (warm-up runs included: the summarizer accumulates them all)
    count: int
    delegated: bool      # a DELEGATE_PROFILED event (also listed under "Delegate Statistics")


def _litert_header(title: str, width: int) -> str:
    label = f" {title} "
    remaining = max(0, width - len(label))
    return "=" * (remaining // 2) + label + "=" * (remaining - remaining // 2)


def litert_summary(nodes: list[LiteRtNode]) -> list[str]:
    """GetOutputString: Run Order, Top by Computation Time, Summary by node type, Delegate Statistics, Timings.
    Percentages are of the sum over all rows (delegate kernel rows and their delegate node alike)."""
    total = sum(n.total_us for n in nodes)
    safe = total if total > 0 else 1.0
    head = "%60s %10s %10s %10s %10s %10s %10s %14s   %s" % ("[node type]", "[start]", "[first]", "[avg ms]", "[%]",
                                                         "[cdf%]", "[mem KB]", "[times called]", "[Name]")

    def table(ordered: list[LiteRtNode]) -> list[str]:
        out, cdf = [head], 0.0
        for n in ordered:
            cdf += n.total_us
            out.append("%60s %10.3f %10.3f %10.3f %9.3f%% %9.3f%% %10.3f %14d   %s" % (
                n.node_type, n.start_ms, n.first_ms, n.total_us / n.count / 1000.0, n.total_us / safe * 100.0,
                cdf / safe * 100.0, 0.0, n.count, n.name))
        return out

    lines = [_litert_header("Run Order", 150)] + table(nodes)
    lines += ["", _litert_header("Top by Computation Time", 150)]
    lines += table(sorted(nodes, key=lambda n: -n.total_us))
    lines += ["", f"Number of nodes executed: {len(nodes)}", "", _litert_header("Summary by node type", 130)]
    lines.append("%60s %10s %10s %10s %10s %10s %14s" % ("[Node type]", "[count]", "[avg ms]", "[avg %]", "[cdf %]",
                                                         "[mem KB]", "[times called]"))
    by_type: dict[str, list[LiteRtNode]] = {}
    for n in nodes:
        by_type.setdefault(n.node_type, []).append(n)
    cdf = 0.0
    for node_type, group in sorted(by_type.items(), key=lambda item: -sum(n.total_us for n in item[1])):
        group_us, calls = sum(n.total_us for n in group), sum(n.count for n in group)
        cdf += group_us
        lines.append("%60s %10d %10.3f %9.3f%% %9.3f%% %10.3f %14d" % (
            node_type, len(group), group_us / calls / 1000.0, group_us / safe * 100.0, cdf / safe * 100.0, 0.0,
            calls))
    delegated = [n for n in nodes if n.delegated]
    if delegated:
        lines += ["", _litert_header("Delegate Statistics", 135)]
        lines.append("%-80s %10s %10s %10s %10s %10s" % ("Op Name", "Count", "Avg(us)", "Min(us)", "Max(us)",
                                                         "Total(us)"))
        for n in sorted(delegated, key=lambda n: n.node_type):   # a flat_hash_map: its order is unspecified
            avg = n.total_us / n.count
            lines.append("%-80s %10d %10.2f %10d %10d %10d" % (n.node_type, n.count, avg, int(avg * 0.97),
                                                              int(avg * 1.05), int(n.total_us)))
    lines += ["", f"Timings (microseconds): count={len(nodes)} curr={int(total)}", "Memory (bytes): count=0",
              f"{len(nodes)} nodes observed", ""]
    return lines
