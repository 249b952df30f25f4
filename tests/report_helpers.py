"""Shared by the report/compare/gate/farm tests: real runs (host via the CLI, simulated phones via the farm) and a
real headless Chromium to load report.html in."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from cli_helpers import devlab_script

REPO = Path(__file__).resolve().parents[1]


def devlab(*args: str, env: dict[str, str] | None = None, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(devlab_script()), *args], capture_output=True, text=True, timeout=timeout,
                          cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO), **(env or {})})


def host_run(out: Path, *extra: str) -> Path:
    """A real `devlab run` on this machine's CPU; returns its run folder."""
    result = devlab("run", "--variants", "fp32,fp16", "--accelerator", "cpu", "--runs", "15", "--min-secs", "0.1",
                    "--out", str(out), *extra)
    assert result.returncode == 0, result.stderr
    (run_dir,) = [p for p in out.iterdir() if (p / "run.json").is_file()]
    return run_dir


@dataclass(frozen=True)
class Page:
    dom: str
    console: list[str]       # every console message the page produced (errors, warnings, logs)


def load_in_chromium(html: Path, tmp: Path) -> Page:
    chromium = shutil.which("chromium")
    assert chromium, "Debian's chromium is missing: run `bash scripts/test-deps.sh` as root"
    result = subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={tmp / 'chromium'}",
         "--enable-logging=stderr", "--v=0", "--dump-dom", html.resolve().as_uri()],
        capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    return Page(result.stdout, [line for line in result.stderr.splitlines() if ":CONSOLE" in line])


@dataclass(frozen=True)
class SimFarm:
    outcome: object            # devlab.farm.farm.FarmOutcome
    phones: list               # sim_fixtures.SimPhone
    victim: str                # serial of the phone taken offline after its first step
    steps: list                # (device, Step, VariantRun) in completion order


def sim_farm(adb, root: Path, phones: list, victim_index: int | None = 1, **request) -> SimFarm:
    """A real farm run over simulated phones on a real adb server; the victim goes offline after its first step
    (the simulator's own fault injection)."""
    import pytest

    from devlab.bench.phone_tool import PhoneBenchOptions
    from devlab.farm.farm import FarmRequest, run_farm
    from devlab.progress import NoProgress
    from devlab.runner import RunRequest, build_for_request

    victim = phones[victim_index].serial if victim_index is not None else ""
    steps: list = []

    def on_step(name, step, result) -> None:
        steps.append((name, step, result))
        if name == victim and step.index == 0:
            phones[victim_index].server.device.setprop("devlab.fault.offline", "1")

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ANDROID_ADB_SERVER_PORT", str(adb.port))
        patch.setenv("DEVLAB_HOME", str(root / "home"))
        _, manifest = build_for_request(RunRequest(model="sd-block", variants="fp32,fp16", build_root=REPO),
                                        NoProgress())
        options = {"bench": PhoneBenchOptions(accelerators=("gpu", "cpu"), num_runs=10, min_secs=0.05), **request}
        farm = FarmRequest(devices=tuple(p.serial for p in phones), model="sd-block", variants="fp32,fp16",
                           out_root=root / "runs", **options)
        outcome = run_farm(farm, manifest, on_step)
    return SimFarm(outcome, phones, victim, steps)
