"""`pm` and `am` (and `cmd package` / `cmd activity`, commands/cmd_cmd.py) on the simulated phone, with the texts
of frameworks/base PackageManagerShellCommand.java and ActivityManagerShellCommand.java: `package:` lines,
`Success` / `Failure [CODE: message]`, `Error: Can't open file: PATH`; a shell command that throws prints
`Exception occurred while executing '<verb>':` and exits 255 (ShellCommand.exec returns -1)."""

from __future__ import annotations

import hashlib

from devlab.sim.apk import ApkError, apk_package
from devlab.sim.commands import CommandContext, register
from devlab.sim.framework import HOME_ACTIVITY, framework_of


def _exception(ctx: CommandContext, verb: str, message: str) -> int:
    ctx.stderr.write(f"Exception occurred while executing '{verb}':\njava.lang.IllegalArgumentException: "
                     f"{message}\n")
    return 255


def _install(ctx: CommandContext, args: list[str]) -> int:
    """`install [-r] [-t] [-g] PATH` or `install -S SIZE` (the APK on stdin: adb install's streamed mode)."""
    size = None
    if "-S" in args:
        at = args.index("-S")
        size = int(args[at + 1]) if at + 1 < len(args) and args[at + 1].isdigit() else None
        del args[at:at + 2]
    paths = [a for a in args if not a.startswith("-")]
    if size is not None:
        reader = ctx.stdin_reader
        data = reader.read_exact(size) if hasattr(reader, "read_exact") else reader()[:size]
        source = "stdin"
    elif paths:
        host = ctx.fs.resolve(paths[0], ctx.cwd)
        if not host.is_file():
            ctx.stderr.write(f"Error: Can't open file: {paths[0]}\n")
            return _exception(ctx, "install", f"Error: Can't open file: {paths[0]}")
        data, source = host.read_bytes(), paths[0]
    else:
        ctx.stderr.write("Error: must either specify a package size or an APK file\n")
        return 1
    try:
        package = apk_package(data)
    except ApkError:
        ctx.stdout.write(f"Failure [INSTALL_PARSE_FAILED_NOT_APK: Failed to parse {source}]\n")
        return 1
    framework = framework_of(ctx.device)
    digest = hashlib.sha256(data).hexdigest()[:22]
    folder = f"/data/app/~~{digest[:11]}==/{package}-{digest[11:]}=="
    apk = ctx.fs.resolve(folder + "/base.apk")
    apk.parent.mkdir(parents=True, exist_ok=True)
    apk.write_bytes(data)
    framework.packages[package] = folder + "/base.apk"
    framework.third_party.add(package)
    ctx.stdout.write("Success\n")
    return 0


@register("pm")
def pm(ctx: CommandContext) -> int:
    args = ctx.argv[1:]
    if not args:
        ctx.stderr.write("usage: pm [list|path|install|uninstall] ...\n")
        return 1
    verb, rest = args[0], args[1:]
    framework = framework_of(ctx.device)
    if verb == "list" and rest[:1] == ["packages"]:
        options = [a for a in rest[1:] if a.startswith("-")]
        filters = [a for a in rest[1:] if not a.startswith("-")]
        names = sorted(framework.third_party if "-3" in options else framework.packages)
        for name in names:
            if filters and filters[0] not in name:
                continue
            path = f"{framework.packages[name]}=" if "-f" in options else ""
            ctx.stdout.write(f"package:{path}{name}\n")
        return 0
    if verb == "path":
        if not rest:
            return _exception(ctx, "path", "Argument expected after \"path\"")
        if rest[-1] not in framework.packages:
            return 1   # PackageManagerShellCommand.runPath: unknown package prints nothing, returns 1
        ctx.stdout.write(f"package:{framework.packages[rest[-1]]}\n")
        return 0
    if verb == "install":
        return _install(ctx, rest)
    if verb == "uninstall":
        name = rest[-1] if rest else ""
        if name not in framework.third_party:
            ctx.stdout.write("Failure [DELETE_FAILED_INTERNAL_ERROR]\n")
            return 1
        framework.third_party.discard(name)
        del framework.packages[name]
        if framework.focused.startswith(name + "/"):
            framework.focused = HOME_ACTIVITY
        ctx.stdout.write("Success\n")
        return 0
    ctx.stderr.write(f"Unknown command: {verb}\n")
    return 1


@register("am")
def am(ctx: CommandContext) -> int:
    """`am start [-W] [-S] -n PKG/ACTIVITY`, `am force-stop PKG`: the focused activity dumpsys window shows."""
    args = ctx.argv[1:]
    framework = framework_of(ctx.device)
    if args[:1] in (["start"], ["start-activity"]):
        component = args[args.index("-n") + 1] if "-n" in args and args.index("-n") + 1 < len(args) else None
        if component is None:
            return _exception(ctx, "start", "No intent supplied")
        package, _, activity = component.partition("/")
        if package not in framework.packages or not activity:
            ctx.stdout.write(f"Starting: Intent {{ cmp={component} }}\n")
            ctx.stderr.write(f"Error type 3\nError: Activity class {{{component}}} does not exist.\n")
            return 1
        activity = package + activity if activity.startswith(".") else activity
        framework.focused = f"{package}/{activity}"
        ctx.stdout.write(f"Starting: Intent {{ cmp={component} }}\n")
        if "-W" in args:
            # no TotalTime / WaitTime: the simulated phone launches nothing it could time
            ctx.stdout.write(f"Status: ok\nLaunchState: COLD\nActivity: {component}\nComplete\n")
        return 0
    if args[:1] == ["force-stop"] and len(args) > 1:
        if framework.focused.split("/")[0] == args[-1]:
            framework.focused = HOME_ACTIVITY
        return 0
    ctx.stderr.write(f"Unknown command: {args[0] if args else ''}\n")
    return 1
