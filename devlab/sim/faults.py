"""Fault injection for tests: the simulated phone can misbehave on purpose.

Faults are system properties of the simulated phone, so they can be set three ways:
- at start: `devlab sim start --fault drop_after_bytes=1000000 --fault hang=benchmark_model` (or `SimServer(faults=)`);
- at run time over adb: `adb shell setprop devlab.fault.hang sleep`;
- at run time from the host through the control file (works even when the phone is offline):
  `devlab sim fault --port P offline=1` writes `key=value` lines to `<state dir>/<port>.faults`, which the server
  polls (every 0.2 s) and applies as `devlab.fault.<key>`. An empty value clears a fault.

Keys (`devlab.fault.<key>`):
- `drop_after_bytes=N`: the next connection that moves more than N payload bytes (both directions, counted from
  when the fault is set) is closed abruptly, mid-stream. Fires once, then clears itself.
- `hang=<command>`: running `<command>` (its name, e.g. `benchmark_model`) blocks until the fault is cleared or
  it is killed (`kill PID`); then it exits 137 as if killed. It does not die of SIGHUP, so a closed shell stream
  (adbd's SIGHUP to the sh's pid) leaves it running: a hung process stuck in a call SIGHUP does not end.
  `<command> --help` still answers: the hang stands for a stuck run (a GPU driver that never returns), and printing
  the usage touches no model or driver, so devlab's `--help` probe of the tool works as it would on such a phone.
- `offline=1`: every connection is closed and new ones are closed at once, until the fault is cleared.
- `no_shell_v2=1`: adbd as on Android < 7: no `shell_v2` feature in the banner (read by the adb server when it
  connects, so set it at start), `shell,v2` services refused, and `shell:` output through a pty (`\n` -> `\r\n`,
  stderr mixed into stdout).
- `thermal_status=N`: `dumpsys thermalservice` reports status N (0 none ... 6 shutdown) instead of the profile's.
- `data_free=BYTES`: /data has that many bytes free (default 64 GiB) less what the phone's /data already holds;
  `df` says so and a push past it fails as adbd's does ("No space left on device").
- `unplugged=1`: no USB power (dumpsys battery / power: not charging, so the stay-awake option does not hold).
- `screen_off=1`: the screen is off (`mWakefulness=Asleep`) unless stay-awake holds it on while plugged in.
- `charging=1|0`: the battery is (1) or is not (0) being charged, whatever `unplugged` says (unset: charging while
  USB powers it). `dumpsys battery` and the `android.power` battery counters follow it (devlab/sim/power.py).
- `ftrace_refused=group/event[,group/event...]`: perfetto fails to enable these ftrace events (as a user build's
  permissions can make it): they are listed in the START_OF_TRACE ftrace_stats' `failed_ftrace_events` and none
  of them is recorded.
"""

from __future__ import annotations

PREFIX = "devlab.fault."
DROP_AFTER_BYTES = PREFIX + "drop_after_bytes"
HANG = PREFIX + "hang"
OFFLINE = PREFIX + "offline"
NO_SHELL_V2 = PREFIX + "no_shell_v2"
THERMAL_STATUS = PREFIX + "thermal_status"
DATA_FREE = PREFIX + "data_free"
UNPLUGGED = PREFIX + "unplugged"
SCREEN_OFF = PREFIX + "screen_off"
CHARGING = PREFIX + "charging"
FTRACE_REFUSED = PREFIX + "ftrace_refused"
KNOWN = ("drop_after_bytes", "hang", "offline", "no_shell_v2", "thermal_status", "data_free", "unplugged",
         "screen_off", "charging", "ftrace_refused")


def is_set(value: str) -> bool:
    return value not in ("", "0")


def parse_assignment(text: str) -> tuple[str, str]:
    """`key=value` -> (`devlab.fault.key`, value); raises ValueError for an unknown key or no `=`."""
    key, sep, value = text.partition("=")
    key = key.strip().removeprefix(PREFIX)
    if not sep or key not in KNOWN:
        raise ValueError(f"fault {text!r}: expected one of {', '.join(k + '=...' for k in KNOWN)}")
    return PREFIX + key, value.strip()


def read_control_file(text: str) -> dict[str, str]:
    """The control file's `key=value` lines as props; blank lines and `#` comments are skipped."""
    props: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, value = parse_assignment(line)
            props[key] = value
    return props
