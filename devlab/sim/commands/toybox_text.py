"""toybox's text filters on the simulated phone: head, tail, wc, cut, sort, tr, xargs, printf, env, date and the
`toybox` multiplexer (landley/toybox toys/posix/<name>.c, toys/other/toybox's main.c; error lines are toybox's
`<cmd>: <message>`, exit 1 on a failed operand)."""

from __future__ import annotations

import re
import shlex
import time
from collections.abc import Iterator

from devlab.sim import commands
from devlab.sim.commands import CommandContext, register
from devlab.sim.commands.toybox_files import flags_and_args


def read_inputs(ctx: CommandContext, args: list[str]) -> tuple[list[tuple[str, bytes]], int]:
    """(name, data) per readable operand (stdin for none or `-`) and the status so far."""
    got: list[tuple[str, bytes]] = []
    status = 0
    for arg in args or ["-"]:
        if arg == "-":
            got.append(("-", ctx.read_stdin()))
            continue
        try:
            got.append((arg, ctx.fs.resolve(arg, ctx.cwd).read_bytes()))
        except IsADirectoryError:
            status = ctx.error(f"{arg}: Is a directory")
        except OSError as exc:
            status = ctx.error(f"{arg}: {exc.strerror or 'No such file or directory'}")
    return got, status


def _count(flags: dict[str, str], default: int = 10) -> int | None:
    raw = flags.get("n", str(default))
    return int(raw.lstrip("+-")) if raw.lstrip("+-").isdigit() else None


def _lines_args(ctx: CommandContext, bool_flags: str):
    """head/tail's shared front: `-5` as `-n5`, -n/-c parsed, the inputs read; an int is the error's exit code."""
    argv = [f"-n{a[1:]}" if re.fullmatch(r"-\d+", a) else a for a in ctx.argv]
    flags, args = flags_and_args(argv, bool_flags, "nc")
    count = _count(flags)
    if count is None:
        return ctx.error(f"Invalid -n: {flags['n']}")
    inputs, status = read_inputs(ctx, args)
    return flags, count, inputs, status


def _with_headers(ctx: CommandContext, inputs: list[tuple[str, bytes]]) -> Iterator[bytes]:
    """Each input's bytes, after head / tail's `==> name <==` header when there is more than one input."""
    for index, (name, data) in enumerate(inputs):
        if len(inputs) > 1:
            ctx.stdout.write(("\n" if index else "") + f"==> {name} <==\n")
        yield data


@register("head")
def head(ctx: CommandContext) -> int:
    parsed = _lines_args(ctx, "qv")
    if isinstance(parsed, int):
        return parsed
    flags, count, inputs, status = parsed
    for data in _with_headers(ctx, inputs):
        if "c" in flags:
            ctx.stdout.write(data[: int(flags["c"])])
        else:
            ctx.stdout.write(b"".join(data.splitlines(keepends=True)[:count]))
    return status


@register("tail")
def tail(ctx: CommandContext) -> int:
    parsed = _lines_args(ctx, "fFqv")
    if isinstance(parsed, int):
        return parsed
    flags, count, inputs, status = parsed
    for data in _with_headers(ctx, inputs):
        lines = data.splitlines(keepends=True)
        if flags.get("n", "").startswith("+"):   # tail -n +K: from line K on
            ctx.stdout.write(b"".join(lines[max(0, count - 1):]))
        elif "c" in flags:
            ctx.stdout.write(data[-int(flags["c"]):] if int(flags["c"]) else b"")
        else:
            ctx.stdout.write(b"".join(lines[-count:] if count else []))
    return status


@register("wc")
def wc(ctx: CommandContext) -> int:
    """wc.c: lines, words, bytes; with one input and one count the number alone (as on a phone: `wc -l < f`)."""
    flags, args = flags_and_args(ctx.argv, "lwcm")
    chosen = [f for f in "lwc" if f in flags or (f == "c" and "m" in flags)] or ["l", "w", "c"]
    inputs, status = read_inputs(ctx, args)
    totals = {"l": 0, "w": 0, "c": 0}
    for name, data in inputs:
        counts = {"l": data.count(b"\n"), "w": len(data.split()), "c": len(data)}
        for key in totals:
            totals[key] += counts[key]
        numbers = [str(counts[f]) for f in chosen]
        ctx.stdout.write(" ".join(numbers if len(chosen) == 1 else [n.rjust(7) for n in numbers])
                         + ("" if name == "-" else f" {name}") + "\n")
    if len(inputs) > 1:
        ctx.stdout.write(" ".join(str(totals[f]).rjust(7) for f in chosen) + " total\n")
    return status


# ------------------------------------------------------------------------------------------------- cut, sort, tr
def _ranges(spec: str) -> list[tuple[int, int]]:
    ranges = []
    for part in spec.split(","):
        low, dash, high = part.partition("-")
        ranges.append((int(low or 1), int(high) if high else (10**9 if dash else int(low))))
    return ranges


@register("cut")
def cut(ctx: CommandContext) -> int:
    flags, args = flags_and_args(ctx.argv, "sn", "dfcb")
    spec = flags.get("f", flags.get("c", flags.get("b")))
    if spec is None:
        return ctx.error("Needs -fcb")
    try:
        ranges = _ranges(spec)
    except ValueError:
        return ctx.error(f"bad list '{spec}'")
    delim = flags.get("d", "\t") or "\t"
    inputs, status = read_inputs(ctx, args)
    for _, data in inputs:
        for line in data.decode(errors="replace").splitlines():
            if "f" in flags:
                if delim not in line:
                    if "s" not in flags:
                        ctx.stdout.write(line + "\n")
                    continue
                fields = line.split(delim)
                keep = [f for i, f in enumerate(fields, 1) if any(lo <= i <= hi for lo, hi in ranges)]
                ctx.stdout.write(delim.join(keep) + "\n")
            else:
                ctx.stdout.write("".join(c for i, c in enumerate(line, 1)
                                         if any(lo <= i <= hi for lo, hi in ranges)) + "\n")
    return status


@register("sort")
def sort(ctx: CommandContext) -> int:
    flags, args = flags_and_args(ctx.argv, "nrufb", "kt")
    inputs, status = read_inputs(ctx, args)
    lines = [line for _, data in inputs for line in data.decode(errors="replace").splitlines()]

    def key(line: str):
        text = line
        if "k" in flags:
            column = int(flags["k"].split(",")[0].split(".")[0])
            parts = line.split(flags["t"]) if "t" in flags else line.split()
            text = parts[column - 1] if column <= len(parts) else ""
        if "n" in flags:
            match = re.match(r"\s*-?\d+(\.\d+)?", text)
            return (float(match.group()) if match else 0.0, line)
        return (text.lower(), line) if "f" in flags else (text, line)

    lines.sort(key=key, reverse="r" in flags)
    if "u" in flags:
        lines = [line for i, line in enumerate(lines) if i == 0 or line != lines[i - 1]]
    ctx.stdout.write("".join(f"{line}\n" for line in lines))
    return status


def _tr_set(spec: str) -> str:
    spec = spec.replace("[:upper:]", "A-Z").replace("[:lower:]", "a-z").replace("[:digit:]", "0-9")
    spec = spec.replace("[:space:]", " \t\n\r\f\v").replace("\\n", "\n").replace("\\t", "\t")
    out, i = [], 0
    while i < len(spec):
        if i + 2 < len(spec) and spec[i + 1] == "-":
            out.extend(chr(c) for c in range(ord(spec[i]), ord(spec[i + 2]) + 1))
            i += 3
        else:
            out.append(spec[i])
            i += 1
    return "".join(out)


@register("tr")
def tr(ctx: CommandContext) -> int:
    flags, args = flags_and_args(ctx.argv, "dsc")
    if not args or (len(args) < 2 and "d" not in flags and "s" not in flags):
        return ctx.error("Needs 2 arguments" if "d" not in flags else "Needs 1 argument")
    text = ctx.read_stdin().decode(errors="replace")
    first = _tr_set(args[0])
    if "d" in flags:
        text = "".join(c for c in text if c not in first)
    elif len(args) > 1:
        second = _tr_set(args[1])
        second += second[-1:] * max(0, len(first) - len(second))
        text = text.translate(str.maketrans(first, second[:len(first)]))
    if "s" in flags:
        squeeze = _tr_set(args[-1])
        text = re.sub("([" + re.escape(squeeze) + "])\\1+", r"\1", text)
    ctx.stdout.write(text)
    return 0


# ------------------------------------------------------------------------------- xargs, printf, env, date, toybox
@register("xargs")
def xargs(ctx: CommandContext) -> int:
    """xargs.c: words of stdin appended to the command (default echo); -n N per run, -I STR replaces STR."""
    flags, args = flags_and_args(ctx.argv, "0rtp", "nIs")
    command = args or ["echo"]
    data = ctx.read_stdin().decode(errors="replace")
    words = data.split("\0") if "0" in flags else shlex.split(data) if data.strip() else []
    words = [w for w in words if w]
    if not words and "r" in flags:
        return 0
    if "I" in flags:
        runs = [[a.replace(flags["I"], line) for a in command] for line in data.splitlines() if line]
    else:
        step = int(flags["n"]) if flags.get("n", "").isdigit() else max(1, len(words))
        runs = [command + words[i:i + step] for i in range(0, len(words), step)] or [command]
    status = 0
    assert ctx.run_argv is not None
    for argv in runs:   # xargs.c waitchild: 255 aborts (124), 126/127 as is, a signal 125, other failures 123
        code = ctx.run_argv(argv)
        if code == 255:
            ctx.error(f"{command[0]}: exited with status 255; aborting")
            return 124
        status = code if code in (126, 127) else 125 if code > 127 else 123 if code else status
    return status


def _printf_once(fmt: str, args: list[str]) -> tuple[str, int]:
    """One pass of the format: the text and how many arguments it used."""
    fmt = fmt.encode().decode("unicode_escape")
    used = 0

    def convert(match: re.Match) -> str:
        nonlocal used
        spec, conv = match.group(1), match.group(2)
        if conv == "%":
            return "%"
        value = args[used] if used < len(args) else ""
        used += 1
        if conv in "di":
            return ("%" + spec + "d") % int(value or 0)
        if conv in "feEgG":
            return ("%" + spec + conv) % float(value or 0)
        if conv in "xXo":
            return ("%" + spec + conv) % int(value or 0)
        if conv == "c":
            return value[:1]
        if conv == "b":
            return value.encode().decode("unicode_escape")
        return ("%" + spec + "s") % value

    return re.sub(r"%([-+ #0]*\d*(?:\.\d+)?)([diouxXeEfgGcsb%])", convert, fmt), used


@register("printf")
def printf(ctx: CommandContext) -> int:
    """printf.c: the format is reused while arguments are left."""
    if len(ctx.argv) < 2:
        return ctx.error("Needs 1 argument")
    fmt, args = ctx.argv[1], ctx.argv[2:]
    try:
        while True:
            text, used = _printf_once(fmt, args)
            ctx.stdout.write(text)
            args = args[used:]
            if not args or not used:
                return 0
    except ValueError as exc:
        return ctx.error(f"invalid number: {exc}")


@register("env")
def env(ctx: CommandContext) -> int:
    args = ctx.argv[1:]
    values = dict(ctx.env) if "-i" not in args else {}
    args = [a for a in args if a != "-i"]
    while args and "=" in args[0]:
        key, _, value = args.pop(0).partition("=")
        values[key] = value
    if args:
        assert ctx.run_argv is not None
        return ctx.run_argv(args, {k: v for k, v in values.items() if ctx.env.get(k) != v})
    for key, value in sorted(values.items()):
        if key.isidentifier():
            ctx.stdout.write(f"{key}={value}\n")
    return 0


@register("date")
def date(ctx: CommandContext) -> int:
    """date.c: `date` prints the default format (the phone's timezone is GMT here), `date +FORMAT` strftime."""
    now = time.gmtime()
    formats = [a[1:] for a in ctx.argv[1:] if a.startswith("+")]
    if any(not a.startswith(("+", "-u")) for a in ctx.argv[1:]):
        return ctx.error("setting the date needs root: Operation not permitted")
    ctx.stdout.write(time.strftime(formats[0] if formats else "%a %b %e %H:%M:%S GMT %Y", now) + "\n")
    return 0


@register("toybox")
def toybox(ctx: CommandContext) -> int:
    """main.c: `toybox` lists its commands; `toybox CMD ARGS` runs CMD (an unknown one: `Unknown command CMD`)."""
    if len(ctx.argv) == 1:
        names = [n for n in commands.names() if n in TOYBOX_COMMANDS]
        ctx.stdout.write(" ".join(names) + "\n")
        return 0
    if ctx.argv[1] not in TOYBOX_COMMANDS:
        return ctx.error(f"Unknown command {ctx.argv[1]}")
    assert ctx.run_argv is not None
    return ctx.run_argv(ctx.argv[1:])


# what toybox itself provides on Android (the rest, e.g. logcat, am, pm, are other binaries)
TOYBOX_COMMANDS = frozenset(
    "basename cat chmod cp cut date df dirname du echo env false find grep head id kill ln ls md5sum mkdir mv "
    "printf ps pwd readlink rm sed setprop getprop sha256sum sleep sort stat tail taskset test touch tr true "
    "uname wc which xargs ifconfig".split())
