"""toybox's file commands on the simulated filesystem: ls, touch, cp, mv, ln, find, du, readlink, basename, dirname.

Each follows landley/toybox toys/posix/<name>.c (toys/other/readlink.c): errors are toybox's perror_msg lines,
`<cmd>: <path>: <strerror>`, and the exit status is 1 when any operand failed (toys.exitval)."""

from __future__ import annotations

import fnmatch
import os
import posixpath
import shutil
import stat as stat_module
import time
from pathlib import Path

from devlab.sim.commands import CommandContext, register


def flags_and_args(argv: list[str], known: str, with_value: str = "") -> tuple[dict[str, str], list[str]]:
    """Single-letter options (grouped, `--` ends them); those in `with_value` take the next word (or the rest). A
    word with a letter that is not an option is an operand (`grep -x PAT` with no -x stays the pattern)."""
    flags: dict[str, str] = {}
    args: list[str] = []
    words = argv[1:]
    i = 0
    while i < len(words):
        word = words[i]
        if word == "--":
            args.extend(words[i + 1:])
            break
        letters = word[1:]
        cut = next((k for k, c in enumerate(letters) if c in with_value), len(letters))
        if word.startswith("-") and letters and all(c in known for c in letters[:cut]):
            for position, letter in enumerate(word[1:], 1):
                if letter in with_value:
                    rest = word[position + 1:]
                    if not rest and i + 1 < len(words):
                        i += 1
                        rest = words[i]
                    flags[letter] = rest
                    break
                flags[letter] = ""
        else:
            args.append(word)
        i += 1
    return flags, args


def _perror(ctx: CommandContext, path: str, exc: OSError) -> int:
    return ctx.error(f"{path}: {exc.strerror or exc}")


# ------------------------------------------------------------------------------------------------------------ ls
def _ls_line(host: Path, name: str) -> str:
    st = os.lstat(host)
    stamp = time.strftime("%Y-%m-%d %H:%M", time.localtime(st.st_mtime))
    link = f" -> {os.readlink(host)}" if stat_module.S_ISLNK(st.st_mode) else ""
    return f"{stat_module.filemode(st.st_mode)} {st.st_nlink:>2} shell shell {st.st_size:>8} {stamp} {name}{link}"


def _listing(ctx: CommandContext, host: Path, flags: dict[str, str]) -> list[tuple[str, Path]]:
    names = sorted(n for n in os.listdir(host) if "a" in flags or "A" in flags or not n.startswith("."))
    entries = [(n, host / n) for n in names]
    if "a" in flags:   # -a lists the directory itself and its parent (ls.c: `.` and `..` are not skipped)
        entries = [(".", host), ("..", host.parent if host != ctx.fs.root else host)] + entries
    return entries


def _ls_dir(ctx: CommandContext, shown: str, host: Path, flags: dict[str, str], header: bool) -> None:
    if header:
        ctx.stdout.write(f"{shown}:\n")
    entries = _listing(ctx, host, flags)
    if "l" in flags:   # ls.c: "total %s" of the entries' st_blocks (512-byte units) in 1K units, per directory
        blocks = sum(os.lstat(path).st_blocks for _, path in entries)
        ctx.stdout.write(f"total {blocks // 2}\n")
    for name, path in entries:
        ctx.stdout.write((_ls_line(path, name) if "l" in flags else name) + "\n")
    if "R" in flags:   # ls.c -R: each subdirectory after a blank line, "dir:" above it
        for name, path in entries:
            if name not in (".", "..") and path.is_dir() and not path.is_symlink():
                ctx.stdout.write("\n")
                _ls_dir(ctx, posixpath.join(shown, name), path, flags, True)


@register("ls")
def ls(ctx: CommandContext) -> int:
    flags, args = flags_and_args(ctx.argv, "laAd1RhtrFsZ")
    status = 0
    targets = args or ["."]
    files = [a for a in targets if not ctx.fs.resolve(a, ctx.cwd).is_dir() or "d" in flags]
    for arg in files:
        host = ctx.fs.resolve(arg, ctx.cwd, follow_last=False)
        if not host.exists() and not host.is_symlink():
            status = ctx.error(f"{arg}: No such file or directory")
            continue
        ctx.stdout.write((_ls_line(host, arg) if "l" in flags else arg) + "\n")
    dirs = [a for a in targets if a not in files]
    for index, arg in enumerate(dirs):
        if index or files:
            ctx.stdout.write("\n")
        _ls_dir(ctx, arg, ctx.fs.resolve(arg, ctx.cwd), flags, len(targets) > 1 or "R" in flags)
    return status


# -------------------------------------------------------------------------------------------- touch, cp, mv, ln
@register("touch")
def touch(ctx: CommandContext) -> int:
    """touch.c: creates missing files unless -c; a missing parent is `touch: PATH: No such file or directory`."""
    flags, args = flags_and_args(ctx.argv, "acmh", "dtr")
    if not args:
        return ctx.error("Needs 1 argument")
    status = 0
    for arg in args:
        host = ctx.fs.resolve(arg, ctx.cwd)
        try:
            if not host.exists():
                if "c" in flags:
                    continue
                host.touch()
            os.utime(host)
        except OSError as exc:
            status = _perror(ctx, arg, exc)
    return status


def _copy(ctx: CommandContext, move: bool) -> int:
    flags, args = flags_and_args(ctx.argv, "rRfpaivnuFHLPdl" if not move else "fivnF")
    if len(args) < 2:
        return ctx.error("Needs 2 arguments")
    *sources, dest = args
    dest_host = ctx.fs.resolve(dest, ctx.cwd)
    if len(sources) > 1 and not dest_host.is_dir():
        return ctx.error(f"'{dest}' not directory")
    status = 0
    for source in sources:
        src_host = ctx.fs.resolve(source, ctx.cwd, follow_last=False)
        target = dest_host / posixpath.basename(source.rstrip("/")) if dest_host.is_dir() else dest_host
        try:
            if not src_host.exists() and not src_host.is_symlink():   # cp.c: perror_msg("bad '%s'", src)
                status = ctx.error(f"bad '{source}': No such file or directory")
                continue
            if move:
                os.replace(src_host, target) if not target.is_dir() else shutil.move(src_host, target)
            elif src_host.is_dir():
                if not flags.keys() & {"r", "R", "a"}:
                    status = ctx.error(f"Skipped dir '{source}'")   # cp.c: a directory without -r
                    continue
                shutil.copytree(src_host, target, symlinks=True, dirs_exist_ok=True)
            else:
                shutil.copyfile(src_host, target, follow_symlinks=True)
                if flags.keys() & {"p", "a"}:
                    shutil.copystat(src_host, target)
        except OSError as exc:
            status = _perror(ctx, source, exc)
    return status


@register("cp")
def cp(ctx: CommandContext) -> int:
    return _copy(ctx, move=False)


@register("mv")
def mv(ctx: CommandContext) -> int:
    return _copy(ctx, move=True)


@register("ln")
def ln(ctx: CommandContext) -> int:
    """ln.c: -s makes a symlink holding the text as given; -f replaces an existing name."""
    flags, args = flags_and_args(ctx.argv, "sfnvT")
    if len(args) < 2:
        return ctx.error("Needs 2 arguments")
    source, dest = args[0], args[1]
    host = ctx.fs.resolve(dest, ctx.cwd, follow_last=False)
    if host.is_dir() and not host.is_symlink():
        host = host / posixpath.basename(source)
    try:
        if "f" in flags and (host.exists() or host.is_symlink()):
            host.unlink()
        if "s" in flags:
            os.symlink(source, host)
        else:
            os.link(ctx.fs.resolve(source, ctx.cwd), host)
    except FileExistsError:
        return ctx.error(f"{dest}: File exists")
    except OSError as exc:
        return _perror(ctx, source, exc)
    return 0


@register("readlink")
def readlink(ctx: CommandContext) -> int:
    """toys/other/readlink.c: the link's text, or with -f the canonical path; 1 when it is not a link."""
    flags, args = flags_and_args(ctx.argv, "fenqmz")
    if not args:
        return ctx.error("Needs 1 argument")
    host = ctx.fs.resolve(args[0], ctx.cwd, follow_last=False)
    if flags.keys() & {"f", "e", "m"}:
        resolved = ctx.fs.resolve(args[0], ctx.cwd)
        if "e" in flags and not resolved.exists():
            return 1
        ctx.stdout.write(ctx.fs.to_device(resolved) + ("" if "n" in flags else "\n"))
        return 0
    if not host.is_symlink():
        return 1
    ctx.stdout.write(os.readlink(host) + ("" if "n" in flags else "\n"))
    return 0


@register("basename")
def basename(ctx: CommandContext) -> int:
    args = ctx.argv[1:]
    if not args:
        return ctx.error("Needs 1 argument")
    name = args[0].rstrip("/").rsplit("/", 1)[-1] or "/"
    if len(args) > 1 and name != args[1] and name.endswith(args[1]):
        name = name[: -len(args[1])]
    ctx.stdout.write(name + "\n")
    return 0


@register("dirname")
def dirname(ctx: CommandContext) -> int:
    if len(ctx.argv) < 2:
        return ctx.error("Needs 1 argument")
    status = 0
    for arg in ctx.argv[1:]:
        stripped = arg.rstrip("/")
        parent = posixpath.dirname(stripped).rstrip("/") if "/" in stripped else "."
        ctx.stdout.write((parent or "/") + "\n")
    return status


# ---------------------------------------------------------------------------------------------------- find, du
def _walk(ctx: CommandContext, start: str):
    """(device path shown, host path) for start and everything under it, parents first (find's default order)."""
    host = ctx.fs.resolve(start, ctx.cwd, follow_last=False)
    yield start, host
    if host.is_dir() and not host.is_symlink():
        for name in sorted(os.listdir(host)):
            yield from _walk(ctx, posixpath.join(start, name))


@register("find")
def find(ctx: CommandContext) -> int:
    """find.c: paths, then -name/-iname PATTERN, -type f|d|l, -maxdepth N, -print; a missing path is
    `find: PATH: No such file or directory`, exit 1."""
    args = ctx.argv[1:]
    paths: list[str] = []
    while args and not args[0].startswith("-") and args[0] not in ("!", "("):
        paths.append(args.pop(0))
    tests: list[tuple[str, str]] = []
    while args:
        option = args.pop(0)
        if option == "-print":
            continue
        if option not in ("-name", "-iname", "-type", "-maxdepth", "-mindepth") or not args:
            return ctx.error(f"bad arg '{option}'")
        tests.append((option, args.pop(0)))
    status = 0
    for start in paths or ["."]:
        root = ctx.fs.resolve(start, ctx.cwd, follow_last=False)
        if not root.exists() and not root.is_symlink():
            status = ctx.error(f"{start}: No such file or directory")
            continue
        base_depth = start.rstrip("/").count("/")
        for shown, host in _walk(ctx, start):
            depth = shown.rstrip("/").count("/") - base_depth
            if _find_matches(shown, host, depth, tests):
                ctx.stdout.write(shown + "\n")
    return status


def _find_matches(shown: str, host: Path, depth: int, tests: list[tuple[str, str]]) -> bool:
    name = posixpath.basename(shown.rstrip("/")) or shown
    for option, value in tests:
        if option == "-name" and not fnmatch.fnmatchcase(name, value):
            return False
        if option == "-iname" and not fnmatch.fnmatchcase(name.lower(), value.lower()):
            return False
        if option == "-type":
            kind = "l" if host.is_symlink() else "d" if host.is_dir() else "f" if host.is_file() else "?"
            if kind != value:
                return False
        if option == "-maxdepth" and depth > int(value):
            return False
        if option == "-mindepth" and depth < int(value):
            return False
    return True


@register("du")
def du(ctx: CommandContext) -> int:
    """du.c: 1K blocks used (st_blocks / 2) per directory, children first; -s the total only, -k the unit."""
    flags, args = flags_and_args(ctx.argv, "skahcxdLHl")
    status = 0
    for start in args or ["."]:
        root = ctx.fs.resolve(start, ctx.cwd, follow_last=False)
        if not root.exists():
            status = ctx.error(f"{start}: No such file or directory")
            continue
        ctx.stdout.write("".join(_du_lines(start, root, "s" in flags, "a" in flags)[1]))
    return status


def _du_lines(shown: str, host: Path, summary: bool, all_files: bool) -> tuple[int, list[str]]:
    blocks = os.lstat(host).st_blocks
    lines: list[str] = []
    if host.is_dir() and not host.is_symlink():
        for name in sorted(os.listdir(host)):
            child_blocks, child_lines = _du_lines(posixpath.join(shown, name), host / name, summary, all_files)
            blocks += child_blocks
            if not summary and ((host / name).is_dir() or all_files):
                lines.extend(child_lines)
    lines.append(f"{blocks // 2}\t{shown}\n")
    return blocks, lines[-1:] if summary else lines
