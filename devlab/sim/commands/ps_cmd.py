"""`ps` (toybox toys/posix/ps.c): the simulated processes — init, each adb shell, the programs it runs
(benchmark_model, perfetto, ...) and background jobs — with their pids, as /proc lists them."""

from __future__ import annotations

from devlab.sim.commands import CommandContext, register
from devlab.sim.fs import INIT_PID

# ps.c's Android default: "USER PID PPID VSZ RSS WCHAN ADDR S NAME"; -o picks fields by these names
_WIDTHS = {"USER": -8, "PID": 5, "PPID": 5, "VSZ": 8, "RSS": 6, "WCHAN": -9, "ADDR": 8, "S": 1, "NAME": -15,
           "CMD": -15, "ARGS": -15, "COMM": -15, "CMDLINE": -15}


def _rows(ctx: CommandContext) -> list[dict[str, str]]:
    rows = [{"USER": "root", "PID": str(INIT_PID), "PPID": "0", "NAME": "init", "S": "S", "SESSION": "0"}]
    for job in sorted(ctx.device.jobs(), key=lambda j: j.pid):
        if job.done.is_set():
            continue
        # a program an adb shell started is that sh's child; a shell or background job is adbd's (init here:
        # the simulated phone has no adbd process of its own)
        parent = job.session if job.session and job.session != job.pid else INIT_PID
        rows.append({"USER": "shell", "PID": str(job.pid), "PPID": str(parent), "NAME": job.name.rsplit("/", 1)[-1],
                     "S": "R" if job.pid == ctx.fs.current_pid() else "S", "SESSION": str(job.session)})
    for row in rows:
        row.update({"VSZ": "0", "RSS": "0", "WCHAN": "0", "ADDR": "0"})
        row["CMD"] = row["ARGS"] = row["COMM"] = row["CMDLINE"] = row["NAME"]
    return rows


@register("ps")
def ps(ctx: CommandContext) -> int:
    """-A (-e) every process, else those of the caller's session; -p PID[,PID]; -o FIELD[,FIELD]."""
    args = ctx.argv[1:]
    show_all, fields, pids = False, ["USER", "PID", "PPID", "VSZ", "RSS", "WCHAN", "ADDR", "S", "NAME"], None
    while args:
        arg = args.pop(0)
        if arg in ("-A", "-e", "-ef", "-Af"):
            show_all = True
        elif arg == "-o" and args:
            fields = [f.upper().split("=")[0] for f in args.pop(0).split(",")]
            unknown = [f for f in fields if f not in _WIDTHS]
            if unknown:
                return ctx.error(f"bad -o {unknown[0]}")
        elif arg == "-p" and args:
            pids = set(args.pop(0).split(","))
        elif arg.isdigit():
            pids = (pids or set()) | {arg}
        else:
            return ctx.error(f"Unknown option '{arg}'")
    rows = _rows(ctx)
    mine = next((r["SESSION"] for r in rows if r["PID"] == str(ctx.fs.current_pid())), None)
    if pids is not None:
        rows = [r for r in rows if r["PID"] in pids]
    elif not show_all:
        rows = [r for r in rows if mine is not None and r["SESSION"] == mine]
    ctx.stdout.write(" ".join(_cell(f, f) for f in fields).rstrip() + "\n")
    for row in rows:
        ctx.stdout.write(" ".join(_cell(f, row[f]) for f in fields).rstrip() + "\n")
    return 0 if rows or pids is None else 1


def _cell(field: str, value: str) -> str:
    width = _WIDTHS[field]
    return value.ljust(-width) if width < 0 else value.rjust(width)


@register("pidof")
def pidof(ctx: CommandContext) -> int:
    """toys/lsb/pidof.c: the pids of the processes with each NAME, newest first on one line; 1 when none."""
    names = [a for a in ctx.argv[1:] if not a.startswith("-")]
    if not names:
        return ctx.error("Needs 1 argument")
    pids = [row["PID"] for row in _rows(ctx) if row["NAME"] in names and row["PID"] != str(ctx.fs.current_pid())]
    if not pids:
        return 1
    ctx.stdout.write(" ".join(sorted(pids, key=int, reverse=True)) + "\n")
    return 0
