"""Model paths and device aliases full of shell syntax (spaces, quotes, `;`, `$()`, backticks, newlines) are data,
never commands: `devlab build`, `devlab run --device host` and `devlab run --device <phone alias>` with such names
must not create the canary file, on the host (cwd) or on the simulated phone (its sandbox)."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from cli_helpers import run_devlab
from sim_fixtures import start_phone, stop_phone

pytestmark = pytest.mark.timeout(240)

MODEL = "models/litert/add_10x10.tflite"
HOSTILE = "m'; touch canary; echo \"$(touch canary)\" `touch canary` && touch canary #"
QUICK = ("--runs", "2", "--warmup", "0", "--min-secs", "0", "--max-secs", "2", "--cooldown", "0")


def _canaries(*roots: Path) -> list[Path]:
    return [p for root in roots for p in root.rglob("canary")]


def _hostile_model(folder: Path, real_fixtures: Path, newline: bool) -> Path:
    name = HOSTILE + ("\ntouch canary\n" if newline else "") + ".tflite"
    path = folder / name
    shutil.copyfile(real_fixtures / MODEL, path)
    return path


def test_build_and_host_run_treat_hostile_model_paths_as_data(tmp_path, real_fixtures):
    model = _hostile_model(tmp_path, real_fixtures, newline=True)
    env = {"DEVLAB_HOME": str(tmp_path / "home")}
    built = run_devlab("build", str(model), "--variants", "as-is", "--json", cwd=tmp_path, env=env, timeout=180)
    assert built.exit_code == 0, built.stderr
    assert json.loads(built.stdout)["model"]["path"] == str(model)
    ran = run_devlab("run", "--device", "host", "--model", str(model), "--variants", "as-is", "--accelerator", "cpu",
                     *QUICK, "--json", cwd=tmp_path, env=env, timeout=180)
    assert ran.exit_code == 0, ran.stderr
    record = json.loads(ran.stdout)
    assert record["model"]["path"] == str(model) and record["variants"][0]["status"] == "ok"
    assert _canaries(tmp_path) == []


def test_phone_run_with_hostile_alias_and_model_path_runs_nothing_it_did_not_mean(adb_server, tmp_path, real_fixtures):
    phone = start_phone(adb_server, tmp_path / "phone")
    work = tmp_path / "work"
    work.mkdir()
    alias = "s23 $(touch canary); `touch canary` 'q\""
    (work / "devlab.toml").write_text(f"[devices.{json.dumps(alias)}]\nserial = {json.dumps(phone.serial)}\n")
    model = _hostile_model(work, real_fixtures, newline=False)
    env = {"ANDROID_ADB_SERVER_PORT": str(adb_server.port), "DEVLAB_HOME": str(tmp_path / "home"),
           "DEVLAB_BENCHMARK_MODEL": ""}
    try:
        ran = run_devlab("run", "--device", alias, "--model", str(model), "--variants", "as-is", *QUICK,
                         "--no-trace", "--json", cwd=work, env=env, timeout=180)
        newline = _hostile_model(work, real_fixtures, newline=True)
        with_newline = run_devlab("run", "--device", alias, "--model", str(newline), "--variants", "as-is", *QUICK,
                             "--no-trace", "--json", cwd=work, env=env, timeout=180)
    finally:
        stop_phone(phone)
    assert ran.exit_code == 0, ran.stderr
    record = json.loads(ran.stdout)
    assert record["device"]["alias"] == alias and record["variants"][0]["status"] == "ok"
    # the device path is built from a slug of the model's name; the user's text itself never reaches the device
    pushed = sorted(p.relative_to(phone.root).as_posix() for p in phone.root.rglob("*.tflite"))
    assert f"data/local/tmp/devlab/models/{record['model']['name']}/as-is.tflite" in pushed and len(pushed) == 2
    assert all(re.fullmatch(r"[A-Za-z0-9_./-]+", path) for path in pushed), pushed
    assert record["model"]["name"] == "m_touch_canary_echo_touch_canary_touch_canary_touch_canary"
    assert with_newline.exit_code == 0, with_newline.stderr      # a newline in the file name is data too
    assert json.loads(with_newline.stdout)["model"]["path"] == str(newline)
    assert _canaries(work, phone.root) == []
