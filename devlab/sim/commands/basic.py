"""The everyday commands of the simulated phone (toybox-like output and exit codes)."""

from __future__ import annotations

import hashlib
import os
import shutil
import stat as stat_module
import time

from devlab.sim.commands import CommandContext, register
from devlab.sim.commands.toybox_files import flags_and_args


def _flags_and_args(argv: list[str], known: str) -> tuple[set[str], list[str]]:
    flags, args = flags_and_args(argv, known)
    return set(flags), args


@register("true")
def true_cmd(ctx: CommandContext) -> int:
    return 0


@register("false")
def false_cmd(ctx: CommandContext) -> int:
    return 1


@register("echo")
def echo(ctx: CommandContext) -> int:
    args = ctx.argv[1:]
    newline = True
    if args and args[0] == "-n":
        newline, args = False, args[1:]
    ctx.stdout.write(" ".join(args) + ("\n" if newline else ""))
    return 0


@register("getprop")
def getprop(ctx: CommandContext) -> int:
    if len(ctx.argv) == 1:
        for key, value in sorted(ctx.device.props().items()):
            ctx.stdout.write(f"[{key}]: [{value}]\n")
        return 0
    ctx.stdout.write(ctx.getprop(ctx.argv[1], ctx.argv[2] if len(ctx.argv) > 2 else "") + "\n")
    return 0


@register("setprop")
def setprop(ctx: CommandContext) -> int:
    if len(ctx.argv) != 3:
        return ctx.error("usage: setprop NAME VALUE")
    if ctx.argv[1].startswith("ro.") and ctx.getprop(ctx.argv[1]):
        return ctx.error(f"failed to set property '{ctx.argv[1]}' to '{ctx.argv[2]}'")
    ctx.setprop(ctx.argv[1], ctx.argv[2])
    return 0


@register("mkdir")
def mkdir(ctx: CommandContext) -> int:
    flags, args = _flags_and_args(ctx.argv, "pv")
    status = 0
    for arg in args:
        try:
            ctx.fs.resolve(arg, ctx.cwd).mkdir(parents="p" in flags, exist_ok="p" in flags)
        except OSError as exc:
            status = ctx.error(f"'{arg}': {exc.strerror}")
    return status


@register("rm")
def rm(ctx: CommandContext) -> int:
    flags, args = _flags_and_args(ctx.argv, "rRfv")
    status = 0
    for arg in args:
        host = ctx.fs.resolve(arg, ctx.cwd, follow_last=False)
        if host == ctx.fs.root:
            status = ctx.error("refusing to remove '/'")
        elif host.is_symlink() or host.is_file():
            host.unlink()
        elif host.is_dir():
            if flags & {"r", "R"}:
                shutil.rmtree(host)
            else:
                status = ctx.error(f"{arg}: Is a directory")
        elif "f" not in flags:
            status = ctx.error(f"{arg}: No such file or directory")
    return status


@register("chmod")
def chmod(ctx: CommandContext) -> int:
    flags, args = _flags_and_args(ctx.argv, "R")
    if len(args) < 2:
        return ctx.error("needs MODE FILE...")
    mode_text, status = args[0], 0
    for arg in args[1:]:
        host = ctx.fs.resolve(arg, ctx.cwd)
        try:
            current = stat_module.S_IMODE(os.stat(host).st_mode)
            if mode_text.isdigit():
                mode = int(mode_text, 8)
            elif mode_text.lstrip("ugoa").startswith(("+", "-")):
                bits = {"r": 0o444, "w": 0o222, "x": 0o111}
                sign, perms = mode_text.lstrip("ugoa")[0], mode_text.lstrip("ugoa")[1:]
                change = sum(bits.get(p, 0) for p in set(perms))
                mode = current | change if sign == "+" else current & ~change
            else:
                return ctx.error(f"bad mode '{mode_text}'")
            os.chmod(host, mode)
        except OSError as exc:
            status = ctx.error(f"{arg}: {exc.strerror}")
    return status


@register("stat")
def stat_cmd(ctx: CommandContext) -> int:
    argv, fmt = list(ctx.argv[1:]), None
    if argv[:1] == ["-c"] and len(argv) >= 2:
        fmt, argv = argv[1], argv[2:]
    status = 0
    for arg in argv:
        host = ctx.fs.resolve(arg, ctx.cwd)
        try:
            st = os.stat(host)
        except OSError:
            status = ctx.error(f"'{arg}': No such file or directory")
            continue
        kind = "directory" if stat_module.S_ISDIR(st.st_mode) else "regular file"
        if fmt is None:
            ctx.stdout.write(f"  File: {arg}\n  Size: {st.st_size}\t Blocks: {st.st_blocks}\t {kind}\n"
                             f"Access: ({stat_module.S_IMODE(st.st_mode):04o}/{stat_module.filemode(st.st_mode)})\n"
                             f"Modify: {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(st.st_mtime))}\n")
            continue
        fields = {"s": str(st.st_size), "n": arg, "a": f"{stat_module.S_IMODE(st.st_mode):o}", "Y": str(int(st.st_mtime)),
                  "F": kind, "A": stat_module.filemode(st.st_mode), "%": "%"}
        out, i = [], 0
        while i < len(fmt):
            if fmt[i] == "%" and i + 1 < len(fmt):
                out.append(fields.get(fmt[i + 1], "?"))
                i += 2
            else:
                out.append(fmt[i])
                i += 1
        ctx.stdout.write("".join(out) + "\n")
    return status


def _inputs(ctx: CommandContext, args: list[str]):
    """(name, bytes or None when unreadable) for each file argument, or stdin as '-'."""
    if not args:
        yield "-", ctx.read_stdin()
        return
    for arg in args:
        host = ctx.fs.resolve(arg, ctx.cwd)
        try:
            yield arg, host.read_bytes()
        except IsADirectoryError:
            ctx.error(f"{arg}: Is a directory")
            yield arg, None
        except OSError:
            ctx.error(f"{arg}: No such file or directory")
            yield arg, None


@register("cat")
def cat(ctx: CommandContext) -> int:
    status = 0
    for _, data in _inputs(ctx, ctx.argv[1:]):
        if data is None:
            status = 1
        else:
            ctx.stdout.write(data)
    return status


def _digest(ctx: CommandContext, algorithm: str) -> int:
    status = 0
    for name, data in _inputs(ctx, ctx.argv[1:]):
        if data is None:
            status = 1
        else:
            ctx.stdout.write(f"{hashlib.new(algorithm, data).hexdigest()}  {name}\n")
    return status


@register("sha256sum")
def sha256sum(ctx: CommandContext) -> int:
    return _digest(ctx, "sha256")


@register("md5sum")
def md5sum(ctx: CommandContext) -> int:
    return _digest(ctx, "md5")


@register("grep")
def grep(ctx: CommandContext) -> int:
    flags, args = _flags_and_args(ctx.argv, "iqvF")
    if not args:
        return ctx.error("needs PATTERN", 2)
    import re
    pattern = re.compile(re.escape(args[0]) if "F" in flags else args[0], re.IGNORECASE if "i" in flags else 0)
    found = False
    for _, data in _inputs(ctx, args[1:]):
        for line in (data or b"").decode(errors="replace").splitlines():
            if bool(pattern.search(line)) != ("v" in flags):
                found = True
                if "q" not in flags:
                    ctx.stdout.write(line + "\n")
    return 0 if found else 1


@register("test", "[")
def test_cmd(ctx: CommandContext) -> int:
    args = ctx.argv[1:]
    if ctx.argv[0] == "[":
        if not args or args[-1] != "]":
            return ctx.error("missing ]", 2)
        args = args[:-1]
    negate = bool(args) and args[0] == "!"
    args = args[1:] if negate else args
    if len(args) == 2 and args[0] in ("-e", "-f", "-d", "-s", "-x", "-r", "-w", "-L"):
        host = ctx.fs.resolve(args[1], ctx.cwd, follow_last=args[0] != "-L")
        checks = {"-e": host.exists, "-f": host.is_file, "-d": host.is_dir, "-L": host.is_symlink,
                  "-s": lambda: host.is_file() and host.stat().st_size > 0,
                  "-x": lambda: os.access(host, os.X_OK), "-r": host.exists, "-w": host.exists}
        result = bool(checks[args[0]]())
    elif len(args) == 2 and args[0] in ("-n", "-z"):
        result = (args[1] != "") == (args[0] == "-n")
    elif len(args) == 3 and args[1] in ("=", "==", "!="):
        result = (args[0] == args[2]) == (args[1] != "!=")
    elif len(args) == 3 and args[1] in ("-eq", "-ne", "-lt", "-le", "-gt", "-ge"):
        try:
            a, b = int(args[0]), int(args[2])
        except ValueError:
            return ctx.error("integer expected", 2)
        result = {"-eq": a == b, "-ne": a != b, "-lt": a < b, "-le": a <= b, "-gt": a > b, "-ge": a >= b}[args[1]]
    elif len(args) == 1:
        result = args[0] != ""
    elif not args:
        result = False
    else:
        return ctx.error("unsupported expression", 2)
    return 0 if result != negate else 1


@register("taskset")
def taskset(ctx: CommandContext) -> int:
    args = ctx.argv[1:]
    if len(args) < 2 or args[0].startswith("-"):
        return ctx.error("usage: taskset MASK COMMAND...  (the simulated phone does not support -p)")
    try:
        mask = int(args[0], 16)
    except ValueError:
        return ctx.error(f"bad mask '{args[0]}'")
    # sched_setaffinity keeps the CPUs of the mask the phone has, EINVAL when none is left; then taskset execs the
    # command, which keeps the pid and the affinity (/proc/self/status shows it)
    applied = mask & ctx.fs.all_cpus
    if applied == 0:
        return ctx.error("sched_setaffinity: Invalid argument")
    pid = ctx.fs.current_pid()
    if pid is not None:
        ctx.fs.set_affinity(pid, applied)
    assert ctx.run_argv is not None
    return ctx.run_argv(args[1:])


@register("sleep")
def sleep(ctx: CommandContext) -> int:
    try:
        seconds = float(ctx.argv[1]) if len(ctx.argv) > 1 else -1.0
    except ValueError:
        seconds = -1.0
    if seconds < 0:
        return ctx.error(f"bad number '{' '.join(ctx.argv[1:])}'")
    return 0 if ctx.sleep(seconds) else 130


# What the shell user may signal, by the target's SELinux domain (AOSP system/sepolicy, docs/sim-fidelity.md):
# its own domain fully (public/domain.te: `allow domain self:process { sigkill sigstop signull signal ... }`), the
# perfetto it started only with `signal` (private/shell.te: `allow shell perfetto:process signal`): so `kill PID`
# (SIGTERM) works, `kill -0 PID` (signull) and `kill -9 PID` (sigkill) are denied while perfetto runs. Anything
# else (init, root daemons) is denied by uid before SELinux is asked.
SIGNAL_PERMISSIONS = {"shell": {"signal", "signull", "sigkill", "sigstop"}, "perfetto": {"signal"}}
_SIGNALS = {"0": 0, "HUP": 1, "INT": 2, "QUIT": 3, "KILL": 9, "USR1": 10, "USR2": 12, "TERM": 15, "STOP": 19,
            "CONT": 18}


def _permission(signal: int) -> str:
    """The SELinux process permission a signal needs."""
    return {0: "signull", 9: "sigkill", 19: "sigstop"}.get(signal, "signal")


@register("kill")
def kill(ctx: CommandContext) -> int:
    args = ctx.argv[1:]
    name = "TERM"
    if args and args[0] == "-s" and len(args) > 1:
        name, args = args[1], args[2:]
    elif args and args[0].startswith("-"):
        name, args = args[0][1:], args[1:]
    if not args:
        return ctx.error("usage: kill [-s SIGNAL | -SIGNAL] PID...")
    name = name.upper().removeprefix("SIG")
    signal = int(name) if name.isdigit() else _SIGNALS.get(name)
    if signal is None:
        return ctx.error(f"Unknown signal '{name}'")
    status = 0
    for arg in args:
        pid = int(arg) if arg.isdigit() else None
        job = ctx.device.job(pid) if pid is not None else None
        if job is None or job.done.is_set():
            alive = pid is not None and ctx.fs.process_exists(pid)
            status = ctx.error(f"{arg}: {'Operation not permitted' if alive else 'No such process'}")
        elif _permission(signal) not in SIGNAL_PERMISSIONS.get(job.domain, set()):
            status = ctx.error(f"{arg}: Operation not permitted")
        elif signal != 0:
            job.stop.set()  # every delivered signal asks the job to stop; it finishes its own cleanup
    return status


@register("sh")
def sh(ctx: CommandContext) -> int:
    """`sh -c COMMAND [NAME [ARG...]]`: a child shell (its own $$) runs COMMAND, as mksh does."""
    args = ctx.argv[1:]
    if len(args) < 2 or args[0] != "-c":
        return ctx.error("usage: sh -c COMMAND [NAME [ARG...]] (the simulated sh runs -c only)", 2)
    from devlab.sim.shell import Shell   # the shell imports this registry: import it back only when used
    inherited = {key: value for key, value in ctx.env.items() if key not in ("$", "!", "?")}   # its own process
    child = Shell(ctx.device, {**inherited, **{str(i): a for i, a in enumerate(args[2:])}}, ctx.cwd, ctx.cancelled)
    return child.run(args[1], ctx.stdout, ctx.stderr, ctx.stdin_reader)


@register("pwd")
def pwd(ctx: CommandContext) -> int:
    ctx.stdout.write(ctx.cwd + "\n")
    return 0


@register("id")
def id_cmd(ctx: CommandContext) -> int:
    ctx.stdout.write("uid=2000(shell) gid=2000(shell) groups=2000(shell),1004(input),1007(log),3003(inet)\n")
    return 0


@register("uname")
def uname(ctx: CommandContext) -> int:
    ctx.stdout.write(("Linux localhost 5.15.123-android14 #1 SMP PREEMPT aarch64 Toybox" if "-a" in ctx.argv
                      else "aarch64" if "-m" in ctx.argv else "Linux") + "\n")
    return 0


@register("which")
def which(ctx: CommandContext) -> int:
    from devlab.sim import commands
    status = 0
    for name in ctx.argv[1:]:
        host = ctx.fs.resolve(f"/system/bin/{name}")
        if host.is_file() or commands.lookup(name) is not None:
            ctx.stdout.write(f"/system/bin/{name}\n")
        else:
            status = 1
    return status
