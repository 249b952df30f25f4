"""The GPU delegate's program cache: cold vs warm init in `devlab run --device`, `--clear-cache`, `--cooldown`.

End to end through the installed `devlab` script, the real adb server and the simulated phone. The simulated tool's
cache rules come from TFLite's sources (docs/sim-fidelity.md, the "GPU program cache" rows); the first test holds the
simulated phone to them, so a devlab that believed something else (one flag is enough, any token reads the cache,
the GL backend caches, the cache is read in the run that writes it) would fail here. Expected inits come from the
simulator's cost model (devlab/sim/profiles.py), never from devlab's own code under test.
"""

from __future__ import annotations

import json
import re
import shutil
import time
from pathlib import Path

import jsonschema
import pytest

from cli_helpers import REPO, run_devlab
from devlab.build.gpu_compat import plan_gpu_delegation
from devlab.build.tflite_graph import read_tflite
from devlab.sim import faults
from devlab.sim.costmodel import plan_costs
from devlab.sim.profiles import get_profile
from sim_fixtures import start_phone, stop_phone

SCHEMA = json.loads((REPO / "devlab" / "schemas" / "run.schema.json").read_text())
BENCH = "/system/bin/benchmark_model"
MODEL = "models/poco_x3/mnv3_seg_float.tflite"      # wholly on the GPU of the simulated s23
QUICK = ("--runs", "3", "--warmup", "1", "--min-secs", "0.05", "--max-secs", "5", "--no-op-profile", "--no-trace")
CACHE_ROOT = "/data/local/tmp/devlab/gpu-program-cache"
SHORT = ("--use_gpu=true", "--num_runs=1", "--warmup_runs=1", "--min_secs=0", "--warmup_min_secs=0")
NOT_SUPPORTED = "GPU program cache: not supported by this benchmark tool"


def _bench(phone, *flags: str):
    result = phone.device().shell2([BENCH, *flags], v2=True, timeout=120)
    return result.returncode, result.stdout, result.stderr


def _init_ms(stdout: str) -> float:
    return float(re.search(r"Initialized session in ([0-9.]+)ms\.", stdout).group(1))


def _files(phone, folder: str) -> list[str]:
    host = phone.server.device.fs.resolve(folder, "/")
    return sorted(p.name for p in host.iterdir()) if host.is_dir() else []


def _expected_inits(model: Path) -> tuple[float, float, float]:
    """(cold, warm, noise) of the s23's cost model for this model with fp16 (the tool's default)."""
    cost = get_profile("s23").cost
    graph = read_tflite(model)
    costs = plan_costs(graph, plan_gpu_delegation(graph), cost, threads=4, fp16=True)
    base = 4.0 + 1.5 * model.stat().st_size / 1e6
    compile_ms = cost.gpu_init_ms + cost.gpu_init_per_kernel_ms * len(costs.kernels)
    return base + compile_ms, base + compile_ms * cost.serialized_init_factor, cost.noise_rel


def test_simulated_tool_keeps_the_program_cache_as_tflite_does(adb_server, tmp_path, real_fixtures):
    phone = start_phone(adb_server, tmp_path / "phone")
    try:
        model = "/data/local/tmp/m.tflite"
        phone.device().sync.push(real_fixtures / MODEL, model)
        cache, token = "/data/local/tmp/cache", "tok-1"
        assert phone.shell("mkdir", "-p", cache).returncode == 0
        graph = f"--graph={model}"
        # serialization needs both flags (gpu_delegate_provider.cc): one alone caches nothing and says nothing
        for one in (f"--delegate_serialize_dir={cache}", f"--delegate_serialize_token={token}"):
            code, out, err = _bench(phone, graph, *SHORT, one)
            assert code == 0, err
            assert "serialized" not in out + err and "couldn't be opened" not in err
            assert "INFO: Initialized OpenCL-based API.\n" in err
        assert _files(phone, cache) == []
        both = (f"--delegate_serialize_dir={cache}", f"--delegate_serialize_token={token}")
        # first run: the read misses (error reporter, stderr), it compiles and writes <token>_<fingerprint>.bin
        code, out, err = _bench(phone, graph, *SHORT, *both)
        assert code == 0, err
        (written,) = _files(phone, cache)
        assert re.fullmatch(rf"{token}_\d+\.bin", written)
        entry = f"{cache}/{written}"
        assert f"ERROR: File {entry} couldn't be opened for reading: No such file or directory\n" in err
        assert "INFO: Initialized OpenCL-based API.\n" in err and "from serialized data" not in out + err
        cold = _init_ms(out)
        # second run: it reads the entry and says so; the compile is the profile's serialized_init_factor of a cold one
        code, out, err = _bench(phone, graph, *SHORT, *both)
        assert code == 0, err
        size = (phone.server.device.fs.resolve(entry, "/")).stat().st_size
        assert f"INFO: Found serialized data for model {token} ({size} B) at {entry}\n" in err
        assert "INFO: Initialized OpenCL-based API from serialized data.\n" in err
        assert "-based API" not in out               # the delegate's lines go to stderr (minimal logger), not stdout
        warm = _init_ms(out)
        expected_cold, expected_warm, noise = _expected_inits(real_fixtures / MODEL)
        assert cold == pytest.approx(expected_cold, rel=noise + 0.01)
        assert warm == pytest.approx(expected_warm, rel=noise + 0.01)
        # another token, or another precision (the options are in the fingerprint): not read, a new entry
        for other in ((f"--delegate_serialize_dir={cache}", "--delegate_serialize_token=tok-2"),
                      (*both, "--gpu_precision_loss_allowed=false")):
            code, out, err = _bench(phone, graph, *SHORT, *other)
            assert code == 0, err
            assert "couldn't be opened for reading" in err and "from serialized data" not in err
        assert len(_files(phone, cache)) == 3
        # the OpenGL backend has no program cache at all
        code, out, err = _bench(phone, graph, *SHORT, *both, "--gpu_backend=gl")
        assert code == 0, err
        assert "INFO: Initialized OpenGL-based API.\n" in err and "serialized" not in err
        # a folder that does not exist: the save fails, OpenCL init fails; the default backend falls back to GL,
        # --gpu_backend=cl fails the delegate
        missing = ("--delegate_serialize_dir=/data/local/tmp/nope", f"--delegate_serialize_token={token}")
        code, out, err = _bench(phone, graph, *SHORT, *missing)
        assert code == 0, err
        assert "ERROR: Failed to open for writing: /data/local/tmp/nope/tok-1" in err
        assert "ERROR: Falling back to OpenGL\n" in err and "INFO: Initialized OpenGL-based API.\n" in err
        code, out, err = _bench(phone, graph, *SHORT, *missing, "--gpu_backend=cl")
        assert code == 1
        assert "TfLiteGpuDelegate Init: Failed to save serialized data" in err
        assert "Failed to apply GPU delegate." in err and "Benchmarking failed." in err
    finally:
        stop_phone(phone)


def _run(env, cwd: Path, *args: str):
    result = run_devlab("run", *args, "--json", cwd=cwd, env=env, timeout=300)
    assert result.exit_code == 0, result.stderr
    record = json.loads(result.stdout)
    jsonschema.validate(record, SCHEMA)
    return record, result


def test_run_records_cold_and_warm_init_from_the_program_cache(cli_env, sim_phone, tmp_path, real_fixtures):
    model = tmp_path / "mnv3.tflite"
    shutil.copyfile(real_fixtures / MODEL, model)
    args = ("--device", "s23", "--model", str(model), "--variants", "as-is", "--accelerator", "gpu", *QUICK,
            "--cooldown", "0")
    record, result = _run(cli_env, tmp_path, *args)
    (row,) = record["variants"]
    assert row["status"] == "ok", row["error"]
    timing, cache = row["timing"], row["extra"]["gpu_cache"]
    expected_cold, expected_warm, noise = _expected_inits(model)
    assert timing["source"] == "simulated" and cache["source"] == "simulated" and cache["status"] == "ok"
    assert timing["init_cold_ms"] == pytest.approx(expected_cold, rel=noise + 0.01)
    assert timing["init_warm_ms"] == pytest.approx(expected_warm, rel=noise + 0.01)
    assert timing["init_warm_ms"] < timing["init_cold_ms"]
    assert timing["init_ms"] == pytest.approx(expected_cold, rel=noise + 0.01)   # the clean run: no cache, as before
    # a folder of devlab's own per variant, a token from the model's sha256 and the GPU settings
    assert cache["dir"] == f"{CACHE_ROOT}/{cache['token']}"
    assert cache["token"].startswith(row["model"]["sha256"][:32])
    assert len(cache["written"]) == 1 and cache["written"][0].startswith(cache["token"] + "_")
    run_dir = tmp_path / "traces" / record["run_id"]
    assert "couldn't be opened for reading" in (run_dir / row["logs"]["gpu-cache-cold"]).read_text()
    assert "from serialized data." in (run_dir / row["logs"]["gpu-cache-warm"]).read_text()
    assert "from serialized data" not in (run_dir / row["logs"]["clean"]).read_text()
    assert any(note.startswith("init ms is the clean run's init") for note in record["notes"])
    assert record["settings"]["phone"]["cooldown_s"] == 0 and record["settings"]["phone"]["clear_cache"] is False
    # console: cold and warm beside init, with the source
    assert "cold" in result.stderr and "warm" in result.stderr
    assert f"{timing['init_cold_ms']:.3f}" in result.stderr and f"{timing['init_warm_ms']:.3f}" in result.stderr
    # report.html: both, each with its source badge
    html = (run_dir / "report.html").read_text()
    cells = re.search(r'<tr id="latency-as-is-gpu">(.*?)</tr>', html).group(1)
    assert f'data-v="{timing["init_cold_ms"]}"' in cells and f'data-v="{timing["init_warm_ms"]}"' in cells
    assert cells.count('<span class="src simulated"') >= 3

    # a second run starts cold again: devlab empties its own folder before the cold run
    again, _ = _run(cli_env, tmp_path, *args)
    (row2,) = again["variants"]
    assert row2["extra"]["gpu_cache"]["cold"]["from_cache"] is False
    assert row2["timing"]["init_cold_ms"] == pytest.approx(expected_cold, rel=noise + 0.01)


def test_litert_tool_says_not_supported_and_records_null(adb_server, cli_env, tmp_path, real_fixtures):
    phone = start_phone(adb_server, tmp_path / "phone", benchmark_tool="litert")
    try:
        record, result = _run(cli_env, tmp_path, "--device", phone.serial, "--model", str(real_fixtures / MODEL),
                               "--variants", "as-is", "--accelerator", "gpu", *QUICK, "--cooldown", "0")
    finally:
        stop_phone(phone)
    (row,) = record["variants"]
    assert row["status"] == "ok", row["error"]
    assert row["timing"]["init_cold_ms"] is None and row["timing"]["init_warm_ms"] is None
    assert row["timing"]["init_ms"] is not None
    cache = row["extra"]["gpu_cache"]
    assert cache["status"] == "unsupported" and cache["reason"].startswith(NOT_SUPPORTED)
    assert not any(name.startswith("gpu-cache") for name in row["logs"])      # no run was made for it
    assert any(note.startswith(NOT_SUPPORTED) for note in record["notes"])
    assert NOT_SUPPORTED in " ".join(result.stderr.split())


def test_clear_cache_removes_devlab_caches_on_the_phone(cli_env, sim_phone, tmp_path, real_fixtures):
    stale = f"{CACHE_ROOT}/another-model-precision-default-backend-auto"
    user_dir = "/data/local/tmp/devlab/my-cache"
    assert sim_phone.shell("mkdir", "-p", stale, user_dir).returncode == 0
    assert sim_phone.shell("touch", f"{stale}/x_1.bin", f"{user_dir}/someone-else_7.bin").returncode == 0
    args = ("--device", "s23", "--model", str(real_fixtures / MODEL), "--variants", "as-is", "--accelerator", "gpu",
            *QUICK, "--cooldown", "0", "--delegate-serialize-dir", user_dir)
    first, _ = _run(cli_env, tmp_path, *args)
    assert _files(sim_phone, stale) == ["x_1.bin"]          # by default only the variant's own folder is emptied
    sha = first["variants"][0]["model"]["sha256"]
    assert any(name.startswith(sha + "_") for name in _files(sim_phone, user_dir))   # the clean run's cache
    record, result = _run(cli_env, tmp_path, *args, "--clear-cache")
    assert not sim_phone.server.device.fs.resolve(stale, "/").exists()
    assert "someone-else_7.bin" in _files(sim_phone, user_dir)     # another model's cache is not this run's
    (row,) = record["variants"]
    run_dir = tmp_path / "traces" / record["run_id"]
    # the clean run compiled again: its cache in --delegate-serialize-dir was removed before measuring
    assert "couldn't be opened for reading" in (run_dir / row["logs"]["clean"]).read_text()
    (note,) = [n for n in record["notes"] if n.startswith("--clear-cache")]
    assert CACHE_ROOT in note and "1 cached program file(s) of this run's models" in note
    assert "--clear-cache: removed" in " ".join(result.stderr.split())
    assert record["settings"]["phone"]["clear_cache"] is True
    host = run_devlab("run", "--clear-cache", "--runs", "1", cwd=tmp_path, env=cli_env, timeout=120)
    assert host.exit_code == 2 and "--clear-cache" in host.stderr


def test_cooldown_is_waited_recorded_and_a_hot_phone_is_noted(adb_server, cli_env, tmp_path, real_fixtures):
    phone = start_phone(adb_server, tmp_path / "phone", fault_props={faults.THERMAL_STATUS: "2"})
    try:
        started = time.monotonic()
        record, result = _run(cli_env, tmp_path, "--device", phone.serial, "--model", str(real_fixtures / MODEL),
                              "--variants", "as-is", "--accelerator", "gpu", *QUICK, "--cooldown", "1.5")
        elapsed = time.monotonic() - started
    finally:
        stop_phone(phone)
    (row,) = record["variants"]
    assert record["settings"]["phone"]["cooldown_s"] == 1.5
    assert elapsed >= 2 * 1.5          # clean, cold, warm: two waits
    notes = row["extra"]["notes"]
    assert [n.split(" run:")[0] for n in notes] == [f"thermal status moderate before the {name}"
                                                     for name in ("clean", "gpu-cache-cold", "gpu-cache-warm")]
    assert "thermal status moderate before the clean run" in " ".join(result.stderr.split())
    bad = run_devlab("run", "--device", "s23", "--cooldown", "-1", cwd=tmp_path, env=cli_env, timeout=120)
    assert bad.exit_code == 2 and "--cooldown" in bad.stderr
