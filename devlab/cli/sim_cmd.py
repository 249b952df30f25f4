"""`devlab sim start|stop|list|fault`: the simulated phone (devlab/sim), reached through the real adb server."""

from __future__ import annotations

from typing import Optional

import typer

from devlab.cli import common
from devlab.errors import UsageError
from devlab.sim import daemon, faults
from devlab.sim.server import RESERVED_PORTS

app = typer.Typer(help="Simulated phones that speak the adb protocol (for tests and CI without phones).",
                  no_args_is_help=True)


def _fault_props(values: list[str]) -> dict[str, str]:
    props = {}
    for text in values:
        try:
            key, value = faults.parse_assignment(text)
        except ValueError as exc:
            raise UsageError(str(exc), "see devlab/sim/faults.py for the fault keys") from None
        props[key] = value
    return props


@app.command("start")
def start(
    profile: str = typer.Option("s23", "--profile", help="Phone profile: s23, pixel8 or pixel6-a12 (Android 12)."),
    port: int = typer.Option(15555, "--port", help="TCP port (not 5555-5585: adb probes those as emulators)."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    root: Optional[str] = typer.Option(None, "--root", help="Folder that plays the phone's / (default: a temp dir)."),
    foreground: bool = typer.Option(False, "--foreground", help="Serve in this process until Ctrl-C."),
    time_scale: Optional[float] = typer.Option(None, "--time-scale",
                                               help="Multiply simulated benchmark time by this before sleeping."),
    fault: list[str] = typer.Option([], "--fault", help=f"Fault to inject, KEY=VALUE ({', '.join(faults.KNOWN)})."),
    json_out: bool = typer.Option(False, "--json", help="Print the phone's record as JSON on stdout."),
    benchmark_tool: str = typer.Option("litert", "--benchmark-tool",
                                       help="Its benchmark_model: litert (LiteRT 2.2.0's release binary), classic "
                                            "(TFLite's tool) or classic-legacy (an old classic build)."),
) -> None:
    """Start a simulated phone; prints its serial (connect it with `adb connect <serial>`)."""
    if port in RESERVED_PORTS:
        raise UsageError(f"port {port} is in 5555-5585, which the adb server probes as emulators",
                         "pick another port, e.g. --port 15555")
    fault_props = _fault_props(fault)
    if foreground:
        daemon.run_foreground(profile, port, host, root, fault_props, time_scale, benchmark_tool)
        return
    record = daemon.start_background(profile, port, host, root, fault, time_scale, benchmark_tool=benchmark_tool)
    if json_out:
        common.emit_json(record)
    else:
        typer.echo(record.serial)
        common.console.print(f"simulated {record.profile} on {record.serial} (pid {record.pid}, root {record.root})",
                             markup=False)


@app.command("stop")
def stop(port: Optional[int] = typer.Option(None, "--port", help="Stop only this phone (default: all).")) -> None:
    """Stop simulated phones started with `devlab sim start`."""
    for record in daemon.stop(port):
        common.console.print(f"stopped {record.serial}", markup=False)


@app.command("list")
def list_phones(json_out: bool = typer.Option(False, "--json", help="JSON on stdout.")) -> None:
    """Running simulated phones."""
    records = daemon.running()
    if json_out:
        common.emit_json(records)
        return
    for record in records:
        typer.echo(f"{record.serial}\t{record.profile}\tpid {record.pid}\t{record.root}")
    if not records:
        common.console.print("no simulated phone is running", markup=False)


@app.command("fault")
def fault_cmd(
    assignments: list[str] = typer.Argument(..., help="KEY=VALUE; an empty VALUE clears the fault."),
    port: int = typer.Option(15555, "--port", help="The phone's port."),
) -> None:
    """Inject or clear a fault at run time (through the control file; works while the phone is offline)."""
    _fault_props(assignments)
    # Only a phone started by `devlab sim start` polls the control file: written for no phone, a fault would do
    # nothing now and fire, unasked, on whatever phone is started on that port later.
    if not any(record.port == port for record in daemon.running()):
        raise UsageError(f"no simulated phone is running on port {port}",
                         f"start one with `devlab sim start --port {port}` (`devlab sim list` shows the running ones)")
    path = daemon.write_faults(port, assignments)
    common.console.print(f"faults for port {port}: {path.read_text().strip() or 'none'}", markup=False)
