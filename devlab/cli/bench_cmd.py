"""`devlab bench ...`: benchmark_model output tools."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table
from rich.text import Text

from devlab.bench.log_parser import parse_benchmark_log
from devlab.bench.log_result import BenchmarkRun
from devlab.cli import common
from devlab.errors import ParseError, UsageError

app = typer.Typer(help="benchmark_model tools: parse any captured benchmark_model log.", no_args_is_help=True)

_MAX_BYTES = 256 * 1024 * 1024


def _us(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value / 1000.0:.3f} ms" if value >= 1000 else f"{value:.1f} µs"


def _read(path: Path) -> str:
    try:
        if path.stat().st_size > _MAX_BYTES:
            raise UsageError(f"{path} is larger than 256 MB", "pass the benchmark_model log itself")
        return path.read_bytes().decode("utf-8", errors="replace")
    except FileNotFoundError as exc:
        raise UsageError(f"log file not found: {path}", "pass the path of a captured benchmark_model log") from exc
    except IsADirectoryError as exc:
        raise UsageError(f"{path} is a directory", "pass the log file inside it") from exc
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}", "check the path and its permissions") from exc


def _render(run: BenchmarkRun, tool_kind: str, runs: int) -> None:
    console = common.console
    style = {"ok": "green", "failed": "bold red", "incomplete": "yellow"}[run.status]
    console.print(f"[{style}]{run.status}[/] · {tool_kind} benchmark_model · {runs} run(s) in log · "
                  "every figure as the log prints it (measured by the tool)")
    if run.failure_reason is not None:
        console.print(f"  reason: {run.failure_reason}", style="red", markup=False)
    latency = Table(show_header=False, box=None, pad_edge=False)
    for label, value in (("init", run.init_us), ("first inference", run.first_inference_us),
                         ("warmup avg", run.warmup_avg_us), ("inference avg", run.inference_avg_us)):
        latency.add_row(label, _us(value))
    if run.inference is not None:
        latency.add_row("inference min/max/std", f"{_us(run.inference.min_us)} / {_us(run.inference.max_us)} / "
                        f"{_us(run.inference.std_us)} (n={run.inference.count})")
        if run.inference.median_us is not None:
            latency.add_row("inference p5/median/p95", f"{_us(run.inference.p5_us)} / "
                            f"{_us(run.inference.median_us)} / {_us(run.inference.p95_us)}")
    if run.memory is not None:
        latency.add_row("memory (MB)", f"init {run.memory.init_mb} · overall {run.memory.overall_mb} · "
                                       f"peak {run.memory.peak_mb}")
    d = run.delegation
    latency.add_row("delegation", f"{d.delegate or '—'} · applied {d.applied or '—'} · on delegate "
                                  f"{d.ops_on_delegate if d.ops_on_delegate is not None else '—'} · on CPU "
                                  f"{d.ops_on_cpu if d.ops_on_cpu is not None else '—'} · partitions "
                                  f"{d.partitions if d.partitions is not None else '—'}")
    if d.gpu_api is not None:
        latency.add_row("GPU API", d.gpu_api + (" (program cache)" if d.gpu_api_from_cache else ""))
    if d.npu_dispatch_library is not None:
        latency.add_row("NPU dispatch", d.npu_dispatch_library)
    console.print(latency)
    for sub in d.subgraphs:
        where = "whole graph" if sub.subgraph is None else f"subgraph {sub.subgraph}" + (
            f" ({sub.subgraph_name})" if sub.subgraph_name else "")
        plan = "" if sub.nodes_in_plan is None else f" of {sub.nodes_in_plan}"
        console.print(f"  {where}: {sub.delegate_name} took {sub.nodes_replaced}{plan} nodes, "
                      f"{sub.partitions} node subsets", markup=False)
    for op in d.unsupported_ops:
        console.print(f"  unsupported: {op.op}: {op.reason}", markup=False)
    for error in run.errors:
        console.print(f"  error: {error}", style="red", markup=False)
    if run.op_profile is not None:
        rows = sorted(run.op_profile.run_rows(), key=lambda row: row.avg_ms, reverse=True)[:10]
        if rows:
            top = Table(title="top ops (op-profile run: inflated, shares only)", title_justify="left")
            for column in ("node type", "name", "avg ms", "%"):
                top.add_column(column, overflow="fold")
            for row in rows:
                top.add_row(Text(row.node_type), Text(row.name), f"{row.avg_ms:.3f}",
                            "—" if row.percent is None else f"{row.percent:.2f}")
            console.print(top)


@app.command("parse")
def parse(file: Path = typer.Argument(..., help="A captured benchmark_model log (stdout, logcat, fragment)."),
          json_out: bool = typer.Option(False, "--json", help="Print the contract JSON on stdout.")) -> None:
    """Parse a benchmark_model log: status, latencies, memory, delegation, op profile."""
    text = _read(file)
    if not text.strip():
        raise ParseError(f"{file} is empty", "pass a captured benchmark_model log (stdout, stderr or logcat)")
    log = parse_benchmark_log(text)
    if not log.recognized:
        raise ParseError(f"{file} holds no benchmark_model output",
                         "pass a captured benchmark_model log (stdout, stderr or logcat)")
    if json_out:
        common.emit_json(log.to_json())
        return
    _render(log.result, log.tool_kind, len(log.runs))
