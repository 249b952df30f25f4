"""`devlab trace ...`: print a config, analyze a trace, open one in the Perfetto UI."""

from __future__ import annotations

import functools
import http.server
import threading
import urllib.parse
from pathlib import Path

import typer

from devlab.cli import common
from devlab.errors import UsageError
from devlab.trace.config import TraceOptions, build_config, parse_query_output
from devlab.trace.record import TraceRecording, record_trace
from devlab.trace.summary import analyze

app = typer.Typer(help="Perfetto traces: config, analyze, open.", no_args_is_help=True)

UI_ORIGIN = "https://ui.perfetto.dev"

__all__ = ["app", "record_trace", "TraceRecording"]   # `devlab trace record` is wired by the lead on record_trace


@app.command("config")
def config_cmd(duration_ms: int = typer.Option(30_000, "--duration-ms", help="Recording length cap."),
               offered: Path | None = typer.Option(None, "--offered", help="Saved `perfetto --query` output: "
                                                   "use the device's exact data-source names.")) -> None:
    """Print a validated text-proto TraceConfig for ML profiling."""
    names = None
    if offered is not None:
        try:
            names = parse_query_output(offered.read_text(encoding="utf-8", errors="replace"))
        except OSError as exc:
            raise UsageError(f"cannot read {offered}: {exc.strerror}", "pass the saved perfetto --query output") \
                from exc
    built = build_config(TraceOptions(duration_ms=duration_ms), names)
    if built.missing:
        common.console.print(f"not offered by the device: {', '.join(built.missing)}", markup=False)
    typer.echo(built.text, nl=False)


@app.command("analyze")
def analyze_cmd(file: Path = typer.Argument(..., help="A .perfetto-trace (gzip accepted)."),
                json_out: bool = typer.Option(False, "--json", help="Machine-readable summary on stdout."),
                trace_processor: str | None = typer.Option(None, "--trace-processor",
                                                           help="A trace_processor_shell binary to read with.")
                ) -> None:
    """Summarize a trace: slices, counters, GPU render stages, scheduling."""
    if not file.is_file():
        raise UsageError(f"no trace at {file}", "pass the path of a .perfetto-trace file")
    summary = analyze(file, trace_processor=trace_processor)
    if json_out:
        common.emit_json(summary.to_json())
        return
    out = common.console
    out.print(f"{file.name}: {summary.packets} packets, "
              f"{'?' if summary.duration_ms is None else f'{summary.duration_ms:.1f}'} ms, "
              f"data sources: {', '.join(summary.data_sources) or 'none'}", markup=False)
    for title, rows in (("slices", summary.slices), ("GPU render stages", summary.gpu_render_stages)):
        if rows:
            out.print(f"{title} (top 15 by total):", markup=False)
            for agg in rows[:15]:
                out.print(f"  {agg.name:<48} n={agg.count:<6} total {agg.total_ms:10.3f} ms  "
                          f"mean {agg.mean_ms:8.3f} ms  max {agg.max_ms:8.3f} ms", markup=False)
    if summary.counters:
        out.print("counters:", markup=False)
        for c in summary.counters[:30]:
            out.print(f"  {c.name:<48} n={c.samples:<6} min {c.min:g} mean {c.mean:g} max {c.max:g} {c.unit}",
                      markup=False)
    if summary.sched.switches:
        out.print(f"sched: {summary.sched.switches} switches on CPUs {list(summary.sched.cpus)}", markup=False)
    for error in summary.errors:
        out.print(f"warning: {error}", markup=False)


class _CorsHandler(http.server.SimpleHTTPRequestHandler):
    def end_headers(self) -> None:
        # The Perfetto UI fetches the trace from its own origin: allow exactly that origin.
        self.send_header("Access-Control-Allow-Origin", UI_ORIGIN)
        super().end_headers()

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - keep stderr quiet
        return


def ui_link(port: int, file_name: str) -> str:
    target = f"http://127.0.0.1:{port}/{urllib.parse.quote(file_name)}"
    return f"{UI_ORIGIN}/#!/?url={urllib.parse.quote(target, safe=':/')}"


@app.command("open")
def open_cmd(file: Path = typer.Argument(..., help="The trace to open."),
             port: int = typer.Option(9001, "--port", help="Local port (the UI allows 9001 by default)."),
             serve: bool = typer.Option(True, "--serve/--no-serve", help="Serve it, or only print the link.")
             ) -> None:
    """Serve a trace on 127.0.0.1 and print the ui.perfetto.dev link that opens it."""
    if not file.is_file():
        raise UsageError(f"no trace at {file}", "pass the path of a .perfetto-trace file")
    typer.echo(ui_link(port, file.name))
    if not serve:
        return
    handler = functools.partial(_CorsHandler, directory=str(file.resolve().parent))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    common.console.print(f"serving {file.name} on 127.0.0.1:{port}; Ctrl-C to stop", markup=False)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        thread.join()
    except KeyboardInterrupt:
        server.shutdown()
