"""run.json, manifests and reports are written with devlab.fsutil.atomic_write_* : a writer SIGKILLed at any moment
leaves the previous complete file or the new complete file, never a half-written one."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cli_helpers import REPO
from devlab.fsutil import atomic_write_json

pytestmark = pytest.mark.timeout(120)

# Each record is ~2 MB of JSON, so a kill often lands inside a write; `generation` tells the versions apart.
WRITER = """
import sys
from pathlib import Path
from devlab.fsutil import atomic_write_json
from devlab.report.run_record import RUN_JSON
target = Path(sys.argv[1]) / RUN_JSON
payload = ["x" * 1000] * 2000
generation = 0
while True:
    generation += 1
    atomic_write_json(target, {"generation": generation, "payload": payload, "end": "complete"})
    print(generation, flush=True)
"""


def test_sigkill_at_random_moments_never_leaves_a_half_written_run_json(tmp_path: Path):
    rng = random.Random(7)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    seen: list[int] = []
    for _ in range(12):
        writer = subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path)], env=env, stdout=subprocess.PIPE,
                                  text=True)
        assert writer.stdout is not None
        writer.stdout.readline()                       # at least one complete write happened in this process
        time.sleep(rng.uniform(0.0, 0.15))
        writer.send_signal(signal.SIGKILL)
        writer.wait(timeout=30)
        writer.stdout.close()
        record = json.loads((tmp_path / "run.json").read_text())   # parses: it is whole
        assert record["end"] == "complete" and len(record["payload"]) == 2000
        seen.append(record["generation"])
        # a kill may leave the writer's temporary file behind; it never carries the real name
        assert all(p.name == "run.json" or (p.name.startswith(".run.json.") and p.name.endswith(".tmp"))
                   for p in tmp_path.iterdir())
        # ... and each later write sweeps what dead writers left: only the last victim's file can remain
        assert len(list(tmp_path.glob(".run.json.*.tmp"))) <= 1
    assert max(seen) > 1    # some kills landed after several rewrites: the property was tested mid-stream
    atomic_write_json(tmp_path / "run.json", {"end": "complete"})
    assert [p.name for p in tmp_path.iterdir()] == ["run.json"]
