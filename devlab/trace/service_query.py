"""Ask a phone's tracing service what it offers and what is already tracing: `perfetto --query-raw`, parsed with
perfetto's own TracingServiceState proto (the installed `perfetto` package's generated classes).

Why raw: `perfetto --query` is for humans and its format changed (a text proto before perfetto v24, as on Android
12/12L; tables from v24), and a text we cannot read would otherwise turn into "the device offers nothing" and a
config with zero data sources. `--query-raw` prints the binary TracingServiceState on every version that has it
(perfetto_cmd.cc, since 2019). Its bytes cannot pass through a text shell result, so they go to a file on the
phone through `| cat >` (a command line we build ourselves, nothing of the user's in it) and we pull that file.
Where --query-raw fails, the text form is read as a fallback. Nothing parsed means unknown (None), never "none".
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from google.protobuf.message import DecodeError
from perfetto.protos.perfetto.trace.perfetto_trace_pb2 import TracingServiceState

from devlab.devices.base import Device
from devlab.errors import DevlabError
from devlab.trace.config import parse_query_output

RAW_REMOTE = "/data/local/tmp/devlab-perfetto-service-state.pb"


@dataclass(frozen=True)
class ServiceState:
    data_sources: tuple[str, ...] | None    # None: unknown (the query failed or said nothing we could read)
    sessions: int | None                    # tracing sessions running now, of any consumer; None: unknown
    session_names: tuple[str, ...]          # unique_session_name of those listed (perfetto v24+ lists them)
    version: str | None                     # the tracing service's version string
    via: str                                # "query-raw", "query" or "none"
    problems: tuple[str, ...] = ()


def parse_service_state(data: bytes) -> ServiceState:
    """A TracingServiceState (the bytes `perfetto --query-raw` prints)."""
    state = TracingServiceState()
    try:
        state.ParseFromString(data)
    except DecodeError as exc:
        return ServiceState(None, None, (), None, "query-raw",
                            (f"perfetto --query-raw output is not a TracingServiceState ({exc})",))
    names = tuple(dict.fromkeys(ds.ds_descriptor.name for ds in state.data_sources if ds.ds_descriptor.name))
    sessions = state.num_sessions if state.HasField("num_sessions") else None
    return ServiceState(names or None, sessions,
                        tuple(s.unique_session_name for s in state.tracing_sessions if s.unique_session_name),
                        state.tracing_service_version or None, "query-raw")


def parse_query_text(text: str) -> ServiceState:
    """The human `perfetto --query` output, either form: data sources, and the session count where printed."""
    count = re.search(r"(?m)^\s*(?:Tracing sessions:|num_sessions:)\s*(\d+)", text)
    version = re.search(r'(?m)^\s*(?:Service:\s*(.+)|tracing_service_version:\s*"([^"]*)")\s*$', text)
    return ServiceState(parse_query_output(text), int(count.group(1)) if count else None, (),
                        (version.group(1) or version.group(2)) if version else None, "query")


def query_service(device: Device, keep: Path) -> ServiceState:
    """Ask the phone: --query-raw into a file there, pulled to `keep` (kept as evidence of what the phone said);
    the text --query where that fails."""
    problems: list[str] = []
    # through a pipe: perfetto may write to the shell's pipe but not to a file in /data/local/tmp (sepolicy
    # private/perfetto.te), where a plain `> file` would leave the file empty
    raw = device.shell(["sh", "-c", f"perfetto --query-raw | cat > {RAW_REMOTE}"], timeout=30)
    if raw.ok:
        try:
            device.pull(RAW_REMOTE, keep)
            state = parse_service_state(keep.read_bytes())
            if state.data_sources is not None:
                return state
            problems += [*state.problems, "perfetto --query-raw listed no data sources"]
        except DevlabError as exc:
            problems.append(f"perfetto --query-raw could not be pulled: {exc.one_line()}")
        finally:
            device.shell(["rm", "-f", RAW_REMOTE])
    else:
        detail = (raw.stderr or raw.stdout).strip().splitlines()
        problems.append(f"perfetto --query-raw failed (exit {raw.exit_code})" + (f": {detail[-1]}" if detail else ""))
    text = device.shell(["perfetto", "--query"], timeout=30)
    if not text.ok:
        problems.append(f"perfetto --query failed (exit {text.exit_code})")
        return ServiceState(None, None, (), None, "none", tuple(problems))
    state = parse_query_text(text.stdout)
    if state.data_sources is None:
        problems.append("perfetto --query printed nothing devlab can read")
    return ServiceState(state.data_sources, state.sessions, (), state.version, "query", tuple(problems))
