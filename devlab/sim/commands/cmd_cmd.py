"""`cmd SERVICE ARGS...` (frameworks/native cmds/cmd/cmd.cpp): runs a system service's shell command; the simulated
phone's services are the shell commands that stand for them (`cmd package` is `pm`, `cmd activity` is `am`, ...).
An unknown service is `cmd: Can't find service: NAME`; `cmd -l` lists the services."""

from __future__ import annotations

from devlab.sim.commands import CommandContext, register

SERVICES = {"package": "pm", "activity": "am", "window": "wm", "input": "input", "settings": "settings"}


@register("cmd")
def cmd(ctx: CommandContext) -> int:
    args = ctx.argv[1:]
    if not args or args[0] == "-l":
        ctx.stdout.write("Currently running services:\n" + "".join(f"  {n}\n" for n in sorted(SERVICES)))
        return 0
    target = SERVICES.get(args[0])
    if target is None:
        ctx.stderr.write(f"cmd: Can't find service: {args[0]}\n")
        return 20
    assert ctx.run_argv is not None
    return ctx.run_argv([target, *args[1:]])
