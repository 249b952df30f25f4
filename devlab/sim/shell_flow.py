"""Control flow and flow builtins of the simulated shell: `if`, `while`/`until`, `for`, `case`, `{ }`, `( )` and
`break`, `continue`, `read`, `shift`, `unset`, `command -v` (what mksh, Android's /system/bin/sh, does for them:
POSIX XCU 2.9.4 "Compound Commands", 2.14 "Special Built-In Utilities")."""

from __future__ import annotations

import fnmatch
from typing import TYPE_CHECKING, Callable

from devlab.sim.commands import Output
from devlab.sim.shell_syntax import Case, Command, For, Group, If, Loop, Word

if TYPE_CHECKING:
    from devlab.sim.shell import Shell


class LoopJump(Exception):
    """`break N` / `continue N`: unwinds to the N-th enclosing loop."""

    def __init__(self, kind: str, levels: int) -> None:
        super().__init__(kind)
        self.kind, self.levels = kind, levels


# A loop that never ends would hold the phone's thread forever; a real script is killed by its CI timeout instead,
# here the shell's cancel (stream closed, kill) ends it too.
def run_compound(shell: "Shell", node: Command, stdout: Output, stderr: Output, stdin_reader) -> int:
    if isinstance(node, If):
        for condition, body in node.clauses:
            if _condition(shell, condition, stdout, stderr, stdin_reader) == 0:
                return shell.run_items(body, stdout, stderr, stdin_reader)
        return shell.run_items(node.otherwise, stdout, stderr, stdin_reader) if node.otherwise else 0
    if isinstance(node, Loop):
        status = 0
        while not shell.cancelled.is_set():
            if (_condition(shell, node.condition, stdout, stderr, stdin_reader) == 0) == node.until:
                break
            jump = _body(shell, node.body, stdout, stderr, stdin_reader)
            status = int(shell.env.get("?", "0"))
            if jump == "break":
                break
        return status
    if isinstance(node, For):
        values = ([v for word in node.words for v in shell.expand(word)] if node.words is not None
                  else shell.positional())
        status = 0
        for value in values:
            if shell.cancelled.is_set():
                break
            shell.env[node.name] = value
            jump = _body(shell, node.body, stdout, stderr, stdin_reader)
            status = int(shell.env.get("?", "0"))
            if jump == "break":
                break
        return status
    if isinstance(node, Case):
        subject = shell.expand(node.word, glob=False, split=False)[0]
        for patterns, body in node.arms:
            if any(fnmatch.fnmatchcase(subject, _pattern(shell, p)) for p in patterns):
                return shell.run_items(body, stdout, stderr, stdin_reader)
        return 0
    if isinstance(node, Group):
        if not node.subshell:
            return shell.run_items(node.body, stdout, stderr, stdin_reader)
        child = shell.child()
        from devlab.sim.shell import ShellExit
        try:
            return child.run_items(node.body, stdout, stderr, stdin_reader)
        except ShellExit as done:   # `exit` in ( .. ) leaves the subshell only
            return done.code
    raise TypeError(f"not a compound command: {node!r}")


def _condition(shell: "Shell", items, stdout: Output, stderr: Output, stdin_reader) -> int:
    shell.in_condition += 1
    try:
        return shell.run_items(items, stdout, stderr, stdin_reader)
    finally:
        shell.in_condition -= 1


def _body(shell: "Shell", body, stdout: Output, stderr: Output, stdin_reader) -> str | None:
    """Run a loop body; 'break' or 'continue' when a jump for this loop ended it (outer ones propagate)."""
    try:
        shell.env["?"] = str(shell.run_items(body, stdout, stderr, stdin_reader))
        return None
    except LoopJump as jump:
        if jump.levels > 1:
            raise LoopJump(jump.kind, jump.levels - 1) from None
        return jump.kind


# ------------------------------------------------------------------------------------------------------ builtins
FLOW_BUILTINS = frozenset({"break", "continue", "read", "shift", "set", "unset", "command"})


def _levels(shell: "Shell", argv: list[str], stderr: Output) -> int | None:
    if len(argv) > 1 and not (argv[1].isdigit() and int(argv[1]) > 0):
        stderr.write(f"{argv[0]}: {argv[1]}: bad number\n")
        return None
    return int(argv[1]) if len(argv) > 1 else 1


def builtin(shell: "Shell", argv: list[str], stdout: Output, stderr: Output, stdin_reader) -> int | None:
    """Run argv as a flow builtin; None when argv[0] is not one."""
    name = argv[0]
    if name in ("break", "continue"):
        levels = _levels(shell, argv, stderr)
        if levels is None:
            return 1
        raise LoopJump(name, levels)
    if name == "read":
        return _read(shell, argv, stdin_reader)
    if name == "shift":
        count = int(argv[1]) if len(argv) > 1 and argv[1].isdigit() else 1
        args = shell.positional()
        if count > len(args):
            stderr.write(f"{shell.sh}: shift: nothing to shift\n")
            return 1
        shell.set_positional(args[count:])
        return 0
    if name == "set":
        return _set(shell, argv, stderr)
    if name == "unset":
        for key in argv[1:]:
            shell.env.pop(key, None)
        return 0
    if name == "command" and len(argv) > 2 and argv[1] == "-v":
        found = _where(shell, argv[2])
        if found:
            stdout.write(found + "\n")
        return 0 if found else 1
    return None


def _set(shell: "Shell", argv: list[str], stderr: Output) -> int:
    """`set -e` / `set +e`, `set -- ARGS` (the positional parameters); `-x`, `-u` and the rest are refused so a
    script that relies on them fails loudly instead of running differently."""
    args = argv[1:]
    while args and args[0] != "--" and args[0][:1] in "-+" and len(args[0]) > 1:
        for flag in args[0][1:]:
            if flag != "e":
                stderr.write(f"{shell.sh}: set: -{flag}: the simulated shell supports only -e and --\n")
                return 2
            shell.errexit = args[0][0] == "-"
        args = args[1:]
    if args and args[0] == "--":
        shell.set_positional(args[1:])
    elif args:
        shell.set_positional(args)
    return 0


def _read(shell: "Shell", argv: list[str], stdin_reader: Callable[[], bytes]) -> int:
    """`read [-r] NAME...`: one line of stdin, split on blanks, the last name takes the rest; 1 at end of input."""
    names = [a for a in argv[1:] if not a.startswith("-")] or ["REPLY"]
    raw = "-r" in argv[1:]
    line = _read_line(shell, stdin_reader)
    if line is None:
        for key in names:
            shell.env[key] = ""
        return 1
    text = line.rstrip("\n")
    if not raw:
        text = text.replace("\\\\", "\0").replace("\\", "").replace("\0", "\\")
    fields = text.split(None, len(names) - 1) if len(names) > 1 else [text.strip()]
    for index, key in enumerate(names):
        shell.env[key] = fields[index] if index < len(fields) else ""
    return 0


def _read_line(shell: "Shell", stdin_reader) -> str | None:
    """The next line of a stdin; None at its end. What `read` has not consumed stays with the shell, per stdin."""
    if stdin_reader not in shell.unread:
        shell.unread[stdin_reader] = bytearray(stdin_reader())
    pending = shell.unread[stdin_reader]
    if not pending:
        return None
    line, newline, rest = bytes(pending).partition(b"\n")
    shell.unread[stdin_reader] = bytearray(rest)
    return (line + newline).decode(errors="replace")


def _where(shell: "Shell", name: str) -> str | None:
    """`command -v NAME`: the builtin's name or the program's path."""
    from devlab.sim import commands
    if name in {"cd", "exit", "export", "exec", ":"} | FLOW_BUILTINS:
        return name
    if "/" in name:
        return name if shell.device.fs.resolve(name, shell.cwd).is_file() else None
    host = shell.device.fs.resolve(f"/system/bin/{name}")
    return f"/system/bin/{name}" if host.is_file() or commands.lookup(name) is not None else None


def _pattern(shell: "Shell", word: Word) -> str:
    """A case pattern: quoted (and substituted) parts match literally."""
    return "".join(shell.expand_part(t, mode) if mode == "raw" else
                   "".join(f"[{c}]" if c in "*?[" else c for c in shell.expand_part(t, mode))
                   for t, mode in word.parts)
