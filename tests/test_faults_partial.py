"""A devlab killed mid-run leaves a valid run.json with the variants it finished, and --resume completes it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import jsonschema
import pytest

from cli_helpers import REPO, devlab_script, run_devlab
from devlab.report.run_record import PARTIAL_NOTE

SCHEMA = json.loads((REPO / "devlab" / "schemas" / "run.schema.json").read_text())


@pytest.mark.timeout(600)
def test_killed_run_keeps_finished_variants_and_resume_completes(tmp_path: Path) -> None:
    args = ["run", "--variants", "fp32,fp16,int8-dynamic", "--accelerator", "cpu", "--runs", "5", "--min-secs",
            "3", "--warmup", "0"]
    built = run_devlab("build", "sd-block", "--variants", "fp32,fp16,int8-dynamic", cwd=tmp_path)
    assert built.exit_code == 0, built.stderr
    process = subprocess.Popen([str(devlab_script()), *args], cwd=tmp_path,
                               env={**os.environ, "PYTHONPATH": str(REPO)},
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 240
    record_path = None
    while time.monotonic() < deadline and process.poll() is None:
        found = list((tmp_path / "traces").glob("*/run.json")) if (tmp_path / "traces").is_dir() else []
        if found:
            record_path = found[0]
            break
        time.sleep(0.05)
    assert record_path is not None, "no run.json appeared after the first variant"
    process.send_signal(signal.SIGKILL)   # mid-run: the second variant is being timed (min-secs 3)
    process.wait()
    partial = json.loads(record_path.read_text())
    jsonschema.validate(partial, SCHEMA)
    assert PARTIAL_NOTE in partial["notes"]
    assert [v["variant"] for v in partial["variants"]] == ["fp32"] and partial["variants"][0]["status"] == "ok"
    kept = partial["variants"][0]

    resumed = run_devlab("run", "--resume", str(record_path.parent), "--json", cwd=tmp_path)
    assert resumed.exit_code == 0, resumed.stderr
    final = json.loads(record_path.read_text())
    jsonschema.validate(final, SCHEMA)
    assert [v["variant"] for v in final["variants"] if v["status"] == "ok"] == ["fp32", "fp16", "int8-dynamic"]
    assert final["variants"][0] == kept            # what finished before the kill is kept as it was
    assert PARTIAL_NOTE not in final["notes"]
