"""A small POSIX-like shell for the simulated phone (what adb clients and our device layer send).

Supported: quotes ('..', "..", backslash), `;` `&&` `||` `|` `!` `&`, newlines, `#` comments, `$VAR` `${VAR}` `$?`
`$!` `$$` `$#` `$@` `$1`.., field splitting of unquoted expansions, globs (`*` `?` `[..]`) on unquoted words,
`NAME=value` before a command (or alone), `export`, `exec`, `cd`, `exit`, redirections `>` `>>` `<` `2>` `2>>` `2>&1`
`>&2` into the sandbox, and the compound commands of devlab/sim/shell_flow.py (if, while, until, for, case, { }, ( )).
Pipelines run stage after stage (each stage's stdout buffered into the next one's stdin), which is all our tools
need. No `$(..)`: it stays literal.
"""

from __future__ import annotations

import threading

from devlab.bench.binary import ANDROID_LINKERS, elf_interpreter
from devlab.sim import commands, faults
from devlab.sim.commands import CommandContext, Output
from devlab.sim import shell_flow
from devlab.sim.shell_expand import split_fields, substitute
from devlab.sim.shell_syntax import Items, Pipeline, Redirect, ShellSyntaxError, Simple, Word, parse
from devlab.sim.state import DeviceState, Job

SH = "/system/bin/sh"
_SIM_MARKER = b"#!devlab-sim "


_SPECIAL = __import__("re").compile(r"[$*?\[]")   # what makes an unquoted word need expansion


class ShellExit(Exception):
    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


# ---------------------------------------------------------------------------------------------------- execution
class BufferOut:
    def __init__(self) -> None:
        self.data = bytearray()

    def write(self, data: bytes | str) -> None:
        self.data += data.encode() if isinstance(data, str) else data


class FileOut:
    def __init__(self, handle) -> None:  # an open binary host file inside the sandbox
        self.handle = handle

    def write(self, data: bytes | str) -> None:
        # each write reaches the file at once, as a write(2) does: another process may read it meanwhile
        self.handle.write(data.encode() if isinstance(data, str) else data)
        self.handle.flush()


class QuietOut:
    """For background jobs whose stream may be gone: writes that fail are dropped, as a closed pty would."""

    def __init__(self, inner: Output) -> None:
        self.inner = inner

    def write(self, data: bytes | str) -> None:
        try:
            self.inner.write(data)
        except Exception:
            pass

    def closed(self) -> bool:
        closed = getattr(self.inner, "closed", None)
        return bool(closed()) if callable(closed) else False


_NAME = __import__("re").compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


class Shell:
    def __init__(self, device: DeviceState, env: dict[str, str] | None = None, cwd: str = "/",
                 cancelled: threading.Event | None = None) -> None:
        self.device = device
        self.env = {"PATH": "/system/bin:/vendor/bin", "HOME": "/", "SHELL": SH, "TMPDIR": "/data/local/tmp",
                    "?": "0", "$": str(device.new_pid())}
        self.env.update(env or {})
        self.cwd = cwd
        self.cancelled = cancelled or threading.Event()
        self.process: Job | None = None   # set for the shell adbd starts (services.run_shell): it owns a session
        self.sh = SH
        self.unread: dict[object, bytearray] = {}    # what `read` has not consumed yet, per stdin
        self.errexit = False      # `set -e`
        self._stderr: Output = QuietOut(BufferOut())   # where a $(..)'s errors go: the running line's stderr
        self._sub_status: int | None = None            # the last $(..)'s status while a command is expanded
        self.in_condition = 0     # inside an if/while/until condition, where `set -e` does not apply

    # -- public --------------------------------------------------------------------------------------------------
    def run(self, line: str, stdout: Output, stderr: Output, stdin_reader=lambda: b"") -> int:
        self._stderr = stderr
        try:
            items = parse(line)
        except ShellSyntaxError as exc:
            stderr.write(f"{SH}: {exc}\n")
            return 2
        try:
            return self.run_items(items, stdout, stderr, stdin_reader)
        except ShellExit as done:
            return done.code
        except shell_flow.LoopJump:   # `break` outside a loop: mksh ignores it
            return 0

    def run_items(self, items: Items, stdout: Output, stderr: Output, stdin_reader=lambda: b"") -> int:
        status = 0
        run_next = True
        for pipeline, connector in items:
            if run_next:
                if connector == "&":
                    status = self._background(pipeline, stdout, stderr)
                else:
                    status = self._pipeline(pipeline, stdout, stderr, stdin_reader)
                self.env["?"] = str(status)
                if (status and self.errexit and not self.in_condition and connector not in ("&&", "||")
                        and not getattr(pipeline, "negate", False)):
                    raise ShellExit(status)   # set -e (POSIX XCU 2.14 `set`, -e)
            if connector == "&&":
                run_next = status == 0 if run_next else False
            elif connector == "||":
                run_next = status != 0 if run_next else True
            else:
                run_next = True
            if self.cancelled.is_set():
                break
        return status

    # -- what the flow builtins need --------------------------------------------------------------------------------
    def child(self) -> "Shell":
        """A subshell: a copy of the variables and cwd; what it changes stays in it."""
        sub = Shell(self.device, dict(self.env), self.cwd, self.cancelled)
        sub.errexit = self.errexit
        sub.env["$"] = self.env["$"]   # `( echo $$ )` prints the parent's pid in sh
        return sub

    def positional(self) -> list[str]:
        count = 1
        while str(count) in self.env:
            count += 1
        return [self.env[str(i)] for i in range(1, count)]

    def set_positional(self, values: list[str]) -> None:
        for key in [k for k in self.env if k.isdigit() and k != "0"]:
            del self.env[key]
        self.env.update({str(i): v for i, v in enumerate(values, 1)})

    # -- expansion -----------------------------------------------------------------------------------------------
    def _value(self, name: str) -> str:
        if name in ("@", "*"):
            return " ".join(self.positional())
        if name == "#":
            return str(len(self.positional()))
        return self.env.get(name, "")

    def _subst(self, text: str) -> str:
        return substitute(text, self._value)

    def expand_part(self, text: str, mode: str) -> str:
        """A word part's text: quoted as is, `$` expanded, a substituted command's output (trailing newlines cut)."""
        if mode in ("lit", "sub-done"):
            return text
        if mode in ("sub", "dqsub"):
            out = BufferOut()
            status = self.child().run(text, out, self._stderr)
            self.env["?"] = str(status)
            self._sub_status = status
            return out.data.decode(errors="replace").rstrip("\n")
        return self._subst(text)

    def expand(self, word: Word, glob: bool = True, split: bool = True) -> list[str]:
        if len(word.parts) == 1:   # the common words (names, flags, quoted text) need no expansion at all
            text, mode = word.parts[0]
            if mode == "lit" or (mode == "raw" and not _SPECIAL.search(text)):
                return [text]
        if split and word.parts == [("$@", "dq")]:   # "$@": each positional parameter one field
            return self.positional()
        if any(mode in ("sub", "dqsub") for _, mode in word.parts):   # run each substitution once
            word = Word([(self.expand_part(t, mode), "sub-done" if mode == "sub" else "lit")
                         if mode in ("sub", "dqsub") else (t, mode) for t, mode in word.parts])
        text = "".join(self.expand_part(t, mode) for t, mode in word.parts)
        if split and any((mode == "raw" and "$" in t) or mode == "sub-done" for t, mode in word.parts):
            fields = split_fields(Word([(t, "sub" if mode == "sub-done" else mode) for t, mode in word.parts]),
                                  self._value, lambda t, mode: t if mode == "sub" else self.expand_part(t, mode))
            if len(fields) != 1:
                return fields
            text = fields[0]
        has_glob = glob and any(mode == "raw" and any(c in t for c in "*?[") for t, mode in word.parts)
        if has_glob:
            pattern = "".join(self._subst(t) if mode == "raw" else _glob_escape(self.expand_part(t, mode))
                              for t, mode in word.parts)
            matches = self.device.fs.glob(pattern, self.cwd)
            if matches:
                return matches
        return [text]

    # -- pipelines -----------------------------------------------------------------------------------------------
    def _background(self, pipeline: Pipeline, stdout: Output, stderr: Output) -> int:
        child = Shell(self.device, dict(self.env), self.cwd)
        out, err = QuietOut(stdout), QuietOut(stderr)

        def job(stop: threading.Event) -> int:
            child.cancelled = stop
            try:
                return child._pipeline(pipeline, out, err, lambda: b"")
            except ShellExit as done:
                return done.code

        # `CMD &` of one simple command: mksh's forked child execs CMD, so the process is named after it
        first = pipeline[0].words[0].plain if len(pipeline) == 1 and isinstance(pipeline[0], Simple) and \
            pipeline[0].words else None
        name = first.rsplit("/", 1)[-1] if first and "=" not in first and shell_flow.FLOW_BUILTINS.isdisjoint(
            {first}) and commands.lookup(first.rsplit("/", 1)[-1]) is not None else "sh"
        self.env["!"] = str(self.device.spawn_job(name, job).pid)
        return 0

    def _pipeline(self, pipeline: Pipeline, stdout: Output, stderr: Output, stdin_reader) -> int:
        status = 0
        reader = stdin_reader
        for position, cmd in enumerate(pipeline):
            last = position == len(pipeline) - 1
            out: Output = stdout if last else BufferOut()
            try:
                if isinstance(cmd, Simple):
                    status = self._simple(cmd, out, stderr, reader)
                else:
                    status = self._compound(cmd, out, stderr, reader)
            except ShellExit as done:
                if len(pipeline) == 1:
                    raise
                status = done.code
            if not last:
                piped = bytes(out.data)  # type: ignore[attr-defined]
                reader = lambda piped=piped: piped
        if getattr(pipeline, "negate", False):
            return 0 if status else 1
        return status

    def _compound(self, node, stdout: Output, stderr: Output, stdin_reader) -> int:
        handles: list = []
        try:
            fds = self._redirect(node.redirects, {0: stdin_reader, 1: stdout, 2: stderr}, stderr, handles)
            if isinstance(fds, int):
                return fds
            return shell_flow.run_compound(self, node, fds[1], fds[2], fds[0])  # type: ignore[arg-type]
        finally:
            for handle in handles:
                handle.close()

    def _redirect(self, redirects: list[Redirect], fds: dict[int, object], stderr: Output,
                  handles: list) -> dict[int, object] | int:
        """The command's fds after its redirections (opened files go to `handles`), or the status of a failure."""
        for redirect in redirects:
            target = self.expand(redirect.target, glob=False, split=False)[0]
            if redirect.op in (">&", "<&"):
                if target not in ("0", "1", "2"):
                    stderr.write(f"{SH}: {target}: bad file descriptor\n")
                    return 1
                fds[redirect.fd] = fds[int(target)]
                continue
            try:
                host = self.device.fs.resolve(target, self.cwd)
                if redirect.op == "<":
                    data = host.read_bytes()
                    fds[redirect.fd] = lambda data=data: data
                else:
                    handle = open(host, "ab" if redirect.op == ">>" else "wb")
                    handles.append(handle)
                    fds[redirect.fd] = FileOut(handle)
            except OSError as exc:
                verb = "can't open" if redirect.op == "<" else "can't create"
                stderr.write(f"{SH}: {verb} {target}: {exc.strerror or exc}\n")
                return 1
        return fds

    def _simple(self, cmd: Simple, stdout: Output, stderr: Output, stdin_reader) -> int:
        assignments: dict[str, str] = {}
        self._sub_status: int | None = None
        words = list(cmd.words)
        while words:
            first = words[0].parts[0] if words[0].parts else ("", "lit")
            name, eq, _ = first[0].partition("=")
            if first[1] == "raw" and eq and _NAME.match(name):
                assignments[name] = self.expand(words.pop(0), glob=False, split=False)[0][len(name) + 1:]
            else:
                break
        argv = [arg for word in words for arg in self.expand(word)]
        handles: list = []
        try:
            fds = self._redirect(cmd.redirects, {0: stdin_reader, 1: stdout, 2: stderr}, stderr, handles)
            if isinstance(fds, int):
                return fds
            out, err, reader = fds[1], fds[2], fds[0]
            if not argv:   # `v=$(cmd)` alone: the status of its last command substitution (POSIX XCU 2.9.1)
                self.env.update(assignments)
                return self._sub_status or 0
            return self._command(argv, assignments, out, err, reader)  # type: ignore[arg-type]
        finally:
            for handle in handles:
                handle.close()

    def _command(self, argv: list[str], assignments: dict[str, str], stdout: Output, stderr: Output,
                 stdin_reader) -> int:
        name = argv[0]
        replaces_shell = name == "exec"
        if replaces_shell:
            if len(argv) == 1:
                return 0
            argv, name = argv[1:], argv[1]
        if name == "export":
            for arg in argv[1:]:
                key, eq, value = arg.partition("=")
                if eq:
                    self.env[key] = value
            return 0
        if name == "exit":
            raise ShellExit(int(argv[1]) & 0xFF if len(argv) > 1 and argv[1].lstrip("-").isdigit()
                            else int(self.env.get("?", "0")))
        if name == "cd":
            target = self.device.fs.device_path(argv[1] if len(argv) > 1 else "/", self.cwd)
            if not self.device.fs.resolve(target).is_dir():
                stderr.write(f"{SH}: cd: {argv[1]}: No such file or directory\n")
                return 2
            self.cwd = target
            return 0
        if name == ":":
            return 0
        flow = shell_flow.builtin(self, argv, stdout, stderr, stdin_reader)
        if flow is not None:
            return flow
        process = self._process_for(name, replaces_shell)
        status = 1
        try:
            status = self._program(argv, assignments, stdout, stderr, stdin_reader, process)
        finally:
            if process is not None and process is not self.process:
                self.device.end_process(process, status)
        if replaces_shell:
            raise ShellExit(status)   # `exec` replaced this shell: nothing after it runs
        return status

    def _process_for(self, name: str, replaces_shell: bool) -> Job | None:
        """The process a program runs as: after `exec` the adb shell's own (its pid, which `echo $$` printed), else a
        child with a pid of its own. Only the shell adbd started keeps this table (background and script shells run
        programs inside their own job)."""
        if self.process is None:
            return None
        if replaces_shell:
            self.device.rename_process(self.process, name)
            return self.process
        return self.device.start_process(name, session=self.process.session, parent=self.process.pid)

    def _program(self, argv: list[str], assignments: dict[str, str], stdout: Output, stderr: Output, stdin_reader,
                 process: Job | None) -> int:
        name = argv[0]
        # what ends it: a signal to its own process (kill PID, adbd's SIGHUP when it holds the shell's pid)
        cancelled = process.stop if process is not None else self.cancelled
        hang = self.device.getprop(faults.HANG)
        if hang and hang == name.rsplit("/", 1)[-1] and argv[1:] != ["--help"]:   # faults.py: --help answers
            if process is not None:
                process.ignores_hup = True   # hung: adbd's SIGHUP does not end it, a kill does (faults.py)
            while self.device.getprop(faults.HANG) == hang and not cancelled.wait(0.05):
                pass
            return 137
        fn = self._resolve(argv, stderr)
        if isinstance(fn, int):
            return fn
        ctx = CommandContext(argv=argv, stdout=stdout, stderr=stderr, env={**self.env, **assignments},
                             cwd=self.cwd, device=self.device, cancelled=cancelled, stdin_reader=stdin_reader,
                             run_argv=lambda inner, extra=None: self._exec_into(
                                 inner, {**assignments, **(extra or {})}, stdout, stderr, stdin_reader, process))
        if fn is _run_script:
            return self._script(argv, ctx)
        try:
            with self.device.fs.acting_as(process.pid if process is not None else int(self.env["$"])):
                return fn(ctx)
        except ShellExit:
            raise
        except Exception as exc:  # a buggy simulated command must look like a crashed process, not kill the phone
            stderr.write(f"{name}: internal error in the simulated command: {type(exc).__name__}: {exc}\n")
            return 134

    def _exec_into(self, argv: list[str], assignments: dict[str, str], stdout: Output, stderr: Output, stdin_reader,
                   process: Job | None) -> int:
        """A program that execs another (taskset, nice): the same process, now named after the new one."""
        if process is not None:
            self.device.rename_process(process, argv[0])
        return self._program(argv, assignments, stdout, stderr, stdin_reader, process)

    def _resolve(self, argv: list[str], stderr: Output):
        name = argv[0]
        if "/" not in name:
            fn = commands.lookup(name)
            if fn is None:
                stderr.write(f"{SH}: {name}: inaccessible or not found\n")
                return 127
            return fn
        host = self.device.fs.resolve(name, self.cwd)
        if not host.is_file():
            stderr.write(f"{SH}: {name}: inaccessible or not found\n")
            return 127
        with open(host, "rb") as handle:
            head = handle.read(256)
            interpreter = elf_interpreter(handle, head[:64]) if head.startswith(b"\x7fELF") else None
        if interpreter is not None and interpreter not in {i for linkers in ANDROID_LINKERS.values() for i in linkers}:
            # the kernel cannot load a glibc build's interpreter (/lib/ld-linux-*.so.*): execve says ENOENT
            stderr.write(f"{SH}: {name}: No such file or directory\n")
            return 127
        if head.startswith(_SIM_MARKER):
            target = head[len(_SIM_MARKER):].split(b"\n", 1)[0].decode(errors="replace").strip()
            fn = commands.lookup(target)
            if fn is not None:
                return fn
        if head.startswith(b"#!"):
            return _run_script
        stderr.write(f"{SH}: {name}: can't execute: this simulated phone runs only its own simulated binaries "
                     f"and shell scripts\n")
        return 126

    def _script(self, argv: list[str], ctx: CommandContext) -> int:
        text = self.device.fs.resolve(argv[0], self.cwd).read_text(errors="replace")
        child = Shell(self.device, {**ctx.env, **{str(i): a for i, a in enumerate(argv)}}, self.cwd, self.cancelled)
        return child.run(text, ctx.stdout, ctx.stderr, ctx.stdin_reader)


def _run_script(ctx: CommandContext) -> int:  # marker: a `#!` script, run by Shell._script
    return 0


def _glob_escape(text: str) -> str:
    return "".join(f"[{c}]" if c in "*?[" else c for c in text)


def sim_marker(command: str) -> bytes:
    """The content of a simulated binary file: running it runs the registered command `command`."""
    return _SIM_MARKER + command.encode() + b"\n"
