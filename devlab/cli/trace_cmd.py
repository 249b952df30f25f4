"""`devlab trace ...`: print a config, record a trace on a phone, analyze a trace, open one in the Perfetto UI."""

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
from devlab.trace.analysis import analyze
from devlab.trace.summary import TraceSummary
from devlab.trace.trace_file import require_trace

app = typer.Typer(help="Perfetto traces: config, record, analyze, open.", no_args_is_help=True)

UI_ORIGIN = "https://ui.perfetto.dev"


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
        if names is None:   # unknown, not "nothing offered": generic names beat a config with no data sources
            common.console.print(f"no data sources found in {offered} (neither form of `perfetto --query`): "
                                 "the config uses the generic names", markup=False)
    built = build_config(TraceOptions(duration_ms=duration_ms), names)
    if built.missing:
        common.console.print(f"not offered by the device: {', '.join(built.missing)}", markup=False)
    typer.echo(built.text, nl=False)


@app.command("record")
def record_cmd(device: str = typer.Option(..., "--device", "-d", help="A phone serial or an alias (s23, pixel8)."),
               model: str = typer.Option(..., "--model", "-m", help="Zoo name or model file."),
               variant: str | None = typer.Option(None, "--variant", "-v", help="The one variant to trace (default: "
                                                  "fp32 for a zoo or Keras model, as-is for a .tflite)."),
               accelerator: str = typer.Option("gpu", "--accelerator", help="gpu or cpu."),
               runs: int = typer.Option(20, "--runs", help="Timed runs of benchmark_model while tracing."),
               warmup: int = typer.Option(2, "--warmup", help="Warm-up runs."),
               timeout: float = typer.Option(900.0, "--timeout", help="Seconds the traced benchmark_model run may "
                                                                      "take."),
               out: Path = typer.Option(Path("traces"), "--out", help="Root folder for run folders."),
               benchmark_model: str | None = typer.Option(None, "--benchmark-model",
                                                          help="Your benchmark_model for the device's ABI."),
               json_out: bool = typer.Option(False, "--json", help="What was recorded, and the summary, on stdout.")
               ) -> None:
    """Build one variant, push it, run benchmark_model under Perfetto with TFLite ATrace on, pull the trace."""
    from devlab.bench.phone_tool import PhoneBenchOptions, prepare_benchmark_tool
    from devlab.bench.phone_plan import record_variant_trace
    from devlab.build.sources import resolve_model
    from devlab.build.variants import parse_variant
    from devlab.config import load_config
    from devlab.devices.adb import AdbDevice
    from devlab.devices.resolve import AdbOptions, resolve_device
    from devlab.progress import NoProgress
    from devlab.report.run_record import new_run_dir
    from devlab.runner import RunRequest, build_for_request

    if accelerator not in ("gpu", "cpu"):
        raise UsageError(f"unknown accelerator {accelerator!r}", "use --accelerator gpu or cpu")
    if timeout <= 0 or runs < 1 or warmup < 0:
        raise UsageError(f"--timeout must be > 0, --runs >= 1 and --warmup >= 0 (got {timeout:g}, {runs}, {warmup})",
                         "pass e.g. --timeout 900 --runs 20 --warmup 2")
    if variant is not None and "," in variant:
        raise UsageError(f"--variant takes one variant, not {variant!r}", "run `devlab trace record` once per variant")
    # the model and the variant are checked before any device work, so a typo costs no adb round trip
    source = resolve_model(model)
    variant = variant or _reference_variant(source.kind)
    parse_variant(variant, source.kind)
    config = load_config()
    target = resolve_device(device, AdbOptions(), config)
    if not isinstance(target, AdbDevice):
        raise UsageError(f"`devlab trace record` needs a phone, not {device!r}",
                         "host runs write their trace into the run folder: `devlab run --device host`")
    tool = prepare_benchmark_tool(target, benchmark_model, config.benchmark_model)
    options = PhoneBenchOptions(accelerators=(accelerator,), num_runs=runs, warmup_runs=warmup,  # type: ignore[arg-type]
                                timeout_s=timeout)
    _, manifest = build_for_request(RunRequest(model=model, device=device, variants=variant), NoProgress())
    run_dir = new_run_dir(out, target.info.alias or target.info.serial, source.name)
    recording = record_variant_trace(target, tool, options, run_dir, manifest.model.name, manifest.variants[0],
                                     accelerator)  # type: ignore[arg-type]
    if json_out:
        common.emit_json({"trace": None if recording.path is None else str(recording.path), **recording.to_json(),
                          "summary": None if recording.summary is None else recording.summary.to_json()})
    if recording.summary is not None:
        _print_summary(recording.path.name if recording.path else "trace", recording.summary)
    out_console = common.console
    out_console.print(f"asked: {', '.join(recording.asked)}; arrived: {', '.join(recording.arrived) or 'nothing'}",
                      markup=False)
    for error in recording.errors:
        out_console.print(f"warning: {error}", markup=False)
    out_console.print(f"trace {recording.status}" + "".join(f"; {why}" for why in recording.incomplete),
                      style=None if recording.status == "complete" else "bold yellow", markup=False)
    if recording.path is None or recording.status == "empty":
        out_console.print("no trace came back from the device", style="bold red", markup=False)
        raise typer.Exit(1)
    out_console.print(f"trace: {recording.path}", markup=False)
    out_console.print(f"open it: devlab trace open {recording.path}", markup=False)
    if recording.benchmark is not None and not recording.benchmark.ok:
        raise typer.Exit(1)


def _reference_variant(kind: str) -> str:
    """The variant every model has: the unmodified float model (`fp32` is built from a Keras or zoo model; a .tflite
    is traced as it is, since it cannot be rebuilt at the Keras level)."""
    return "as-is" if kind == "tflite" else "fp32"


@app.command("analyze")
def analyze_cmd(file: Path = typer.Argument(..., help="A .perfetto-trace (gzip accepted)."),
                json_out: bool = typer.Option(False, "--json", help="Machine-readable summary on stdout."),
                trace_processor: str | None = typer.Option(None, "--trace-processor",
                                                           help="A trace_processor_shell binary to read with.")
                ) -> None:
    """Summarize a trace: slices, counters, GPU render stages, scheduling."""
    if not file.is_file():
        raise UsageError(f"no trace at {file}", "pass the path of a .perfetto-trace file")
    require_trace(file)  # an empty or non-trace file: exit 1 with one line, not an empty summary
    summary = analyze(file, trace_processor=trace_processor)
    if json_out:
        common.emit_json(summary.to_json())
        return
    _print_summary(file.name, summary)


def _print_summary(name: str, summary: TraceSummary) -> None:
    out = common.console
    out.print(f"{name}: {summary.packets} packets, "
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
