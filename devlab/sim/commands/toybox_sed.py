"""toybox's sed on the simulated phone (landley/toybox toys/posix/sed.c): -n, -e, -i, and the commands s///[gI],
p, d, q with a line number, `$` or /regex/ address; basic regular expressions as sed reads them."""

from __future__ import annotations

import re

from devlab.sim.commands import CommandContext, register
from devlab.sim.commands.toybox_text import read_inputs


_ADDRESS = re.compile(r"\d+|\$|/(?:[^/\\]|\\.)*/")


def _delimited(text: str, at: int, delim: str) -> tuple[str, int]:
    """The text up to the next unescaped `delim` (an escaped delimiter loses its backslash) and the index after it."""
    out = []
    while at < len(text):
        ch = text[at]
        if ch == "\\" and at + 1 < len(text):
            out.append(text[at + 1] if text[at + 1] == delim else text[at:at + 2])
            at += 2
            continue
        if ch == delim:
            return "".join(out), at + 1
        out.append(ch)
        at += 1
    raise ValueError("unmatched 's'")


def _replacement(text: str) -> str:
    """sed's replacement as re.sub's: `&` the match, `\\N` group N, `\\&` a literal &."""
    out, at = [], 0
    while at < len(text):
        ch = text[at]
        if ch == "\\" and at + 1 < len(text):
            nxt = text[at + 1]
            out.append(f"\\g<{nxt}>" if nxt.isdigit() else "\\n" if nxt == "n" else nxt.replace("\\", "\\\\"))
            at += 2
            continue
        out.append("\\g<0>" if ch == "&" else ch)
        at += 1
    return "".join(out)


def _sed_script(text: str) -> list[tuple[str | None, str, tuple[str, str, str] | None]]:
    """[(address, command, (pattern, replacement, flags) for s)] of the `;`/newline-separated commands (sed.c's
    commands s, p, d, q with an optional line / `$` / /regex/ address)."""
    script = []
    at = 0
    while at < len(text):
        if text[at] in " \t;\n":
            at += 1
            continue
        address = _ADDRESS.match(text, at)
        if address:
            at = address.end()
        command = text[at] if at < len(text) else ""
        if command not in ("s", "p", "d", "q"):
            raise ValueError(f"bad command '{text[at:at + 1] or text}'")
        at += 1
        subst = None
        if command == "s":
            if at >= len(text):
                raise ValueError("unmatched 's'")
            delim = text[at]
            pattern, at = _delimited(text, at + 1, delim)
            replacement, at = _delimited(text, at, delim)
            flags = re.match(r"[gIip0-9]*", text[at:]).group()
            at += len(flags)
            subst = (pattern, _replacement(replacement), flags)
        script.append((address.group() if address else None, command, subst))
    return script


def _addressed(address: str | None, number: int, last: bool, line: str) -> bool:
    if address is None:
        return True
    if address == "$":
        return last
    if address.startswith("/"):
        return re.search(_ere(address[1:-1]), line) is not None
    return number == int(address)


def _ere(pattern: str) -> str:
    """A basic regular expression (sed's default) as Python's: \\( \\) \\{ \\} \\+ \\? are the operators."""
    out = pattern.replace(r"\(", "\0(").replace(r"\)", "\0)").replace("(", r"\(").replace(")", r"\)")
    return out.replace("\0\\(", "(").replace("\0\\)", ")").replace(r"\+", "+").replace(r"\?", "?")


def _sed_text(script, text: str, quiet: bool) -> str:
    lines = text.splitlines()
    out: list[str] = []
    for number, line in enumerate(lines, 1):
        deleted = False
        for address, cmd, subst in script:
            if not _addressed(address, number, number == len(lines), line):
                continue
            if cmd == "d":
                deleted = True
                break
            if cmd == "p":
                out.append(line)
            elif cmd == "q":
                out.append(line) if not quiet else None
                return "".join(f"{x}\n" for x in out)
            elif cmd == "s" and subst:
                pattern, replacement, sflags = subst
                line = re.sub(_ere(pattern), replacement, line, count=0 if "g" in sflags else 1,
                              flags=re.I if "I" in sflags or "i" in sflags else 0)
        if not deleted and not quiet:
            out.append(line)
    return "".join(f"{x}\n" for x in out)


@register("sed")
def sed(ctx: CommandContext) -> int:
    """sed.c: -n, -e, -i, commands s///[gI], p, d, q with a line number, `$` or /regex/ address."""
    args = ctx.argv[1:]
    quiet, in_place, scripts, files = False, False, [], []
    while args:
        arg = args.pop(0)
        if arg in ("-n", "--quiet"):
            quiet = True
        elif arg.startswith("-i"):
            in_place = True
        elif arg == "-e" and args:
            scripts.append(args.pop(0))
        elif arg in ("-E", "-r"):
            continue
        elif not scripts:
            scripts.append(arg)
        else:
            files.append(arg)
    if not scripts:
        return ctx.error("Need script")
    try:
        script = [step for text in scripts for step in _sed_script(text)]
    except (ValueError, re.error) as exc:
        return ctx.error(str(exc))
    if in_place:
        status = 0
        for name in files:
            host = ctx.fs.resolve(name, ctx.cwd)
            try:
                host.write_text(_sed_text(script, host.read_text(errors="replace"), quiet))
            except OSError as exc:
                status = ctx.error(f"{name}: {exc.strerror}")
        return status
    inputs, status = read_inputs(ctx, files)
    ctx.stdout.write(_sed_text(script, b"".join(d for _, d in inputs).decode(errors="replace"), quiet))
    return status
