"""`python -m devlab.sim --profile s23 --port 15555 [...]`: one simulated phone in the foreground.

This is what `devlab sim start` forks (it does not depend on the rest of the CLI being importable).
"""

from __future__ import annotations

import argparse
import sys

from devlab.errors import DevlabError
from devlab.sim import daemon, faults


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devlab.sim")
    parser.add_argument("--profile", default="s23")
    parser.add_argument("--port", type=int, default=15555)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--root")
    parser.add_argument("--time-scale", type=float)
    parser.add_argument("--fault", action="append", default=[])
    parser.add_argument("--benchmark-tool", default="litert")
    args = parser.parse_args(argv)
    try:
        props = dict(faults.parse_assignment(text) for text in args.fault)
        daemon.run_foreground(args.profile, args.port, args.host, args.root, props, args.time_scale,
                              args.benchmark_tool)
    except (DevlabError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return getattr(exc, "exit_code", 2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
