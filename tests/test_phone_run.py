"""`devlab devices` and `devlab run --device s23` end to end: the real CLI, the real adb server (adbutils' binary),
the simulated phone and its simulated benchmark_model."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import jsonschema
import pytest

from cli_helpers import REPO, run_devlab
from devlab.config import load_config
from devlab.devices.resolve import resolve_device
from devlab.errors import DeviceNotFound
from devlab.runner import RunRequest, run
from devlab.bench.phone_tool import PhoneBenchOptions
from devlab.sim import faults
from sim_fixtures import adb_server, sim_phone, start_phone, stop_phone  # noqa: F401  (fixtures)

SCHEMA = json.loads((REPO / "devlab" / "schemas" / "run.schema.json").read_text())
MODEL = "models/poco_x3/mnv3_seg_float.tflite"
QUICK = ("--runs", "3", "--warmup", "1", "--min-secs", "0.05", "--max-secs", "5", "--cooldown", "0")


@pytest.fixture()
def other_phone(adb_server, tmp_path):
    phone = start_phone(adb_server, tmp_path / "root2")
    yield phone
    stop_phone(phone)


def test_devices_json_lists_the_simulated_phone_as_s23(cli_env, sim_phone, tmp_path):
    result = run_devlab("devices", "--json", cwd=tmp_path, env=cli_env, timeout=120)
    assert result.exit_code == 0, result.stderr
    by_serial = {d["serial"]: d for d in json.loads(result.stdout)}
    phone = by_serial[sim_phone.serial]
    assert (phone["alias"], phone["model"], phone["simulated"], phone["kind"]) == ("s23", "SM-S918B", True, "adb")
    assert phone["gpu"] == "Adreno (TM) 740" and phone["battery_level"] == 87
    assert by_serial["host"]["simulated"] is False


def test_run_on_the_simulated_s23_measures_every_variant(cli_env, sim_phone, tmp_path, real_fixtures):
    model = tmp_path / "my model; $(touch pwned) 'q'.tflite"    # nothing in a user's path goes through a shell
    shutil.copyfile(real_fixtures / MODEL, model)
    args = ("run", "--device", "s23", "--model", str(model), "--variants", "as-is,int8-dynamic", *QUICK, "--json")
    result = run_devlab(*args, cwd=tmp_path, env=cli_env, timeout=300)
    assert result.exit_code == 0, result.stderr
    record = json.loads(result.stdout)
    jsonschema.validate(record, SCHEMA)
    assert record["device"]["simulated"] is True and record["device"]["alias"] == "s23"
    assert record["tools"]["benchmark_model"]["origin"] == "simulated phone"
    assert len(record["tools"]["benchmark_model"]["sha256"]) == 64
    run_dir = tmp_path / "traces" / record["run_id"]
    assert [v["variant"] for v in record["variants"]] == ["as-is", "int8-dynamic"]
    for row in record["variants"]:
        assert row["status"] == "ok", row["error"]
        assert row["timing"]["source"] == "simulated"            # never passed off as a phone's number
        latency = row["timing"]["latency_ms"]
        assert latency["count"] >= 3 and latency["min_ms"] <= latency["mean_ms"] <= latency["max_ms"]
        assert latency["samples_ms"] == [] and latency["p90_ms"] is None   # not printed by the tool: not invented
        assert row["delegation"]["reported"]["source"] == "simulated"
        assert row["delegation"]["reported"]["delegate"] == "gpu"
        op_rows = row["extra"]["op_profile"]["rows"]
        assert row["extra"]["op_profile"]["source"] == "op-profile" and any(r["is_gpu_kernel"] for r in op_rows)
        assert row["kernels"]["source"] == "estimated" and row["kernels"]["clean_source"] == "simulated"
        assert abs(sum(k["ms_per_inference"] for k in row["kernels"]["rows"]) - latency["mean_ms"]) < 0.02 * latency["mean_ms"]
        for log in row["logs"].values():
            assert (run_dir / log).stat().st_size > 0
        assert row["extra"]["push_bytes_sent"] == row["model"]["bytes"]
    assert "Loaded model /data/local/tmp/devlab/models/" in (run_dir / record["variants"][0]["logs"]["clean"]).read_text()
    assert not (tmp_path / "pwned").exists()

    again = json.loads(run_devlab(*args, cwd=tmp_path, env=cli_env, timeout=300).stdout)
    assert [v["extra"]["push_bytes_sent"] for v in again["variants"]] == [0, 0]   # hash cache: nothing re-sent


def test_missing_benchmark_model_on_a_real_phone_says_where_to_get_one(cli_env, other_phone, tmp_path, real_fixtures):
    other_phone.server.device.setprop("ro.devlab.simulated", "0")   # the sim plays a real phone: no built-in tool
    args = ("run", "--device", other_phone.serial, "--model", str(real_fixtures / MODEL), "--variants", "as-is")
    result = run_devlab(*args, cwd=tmp_path, env=cli_env, timeout=120)
    assert result.exit_code == 2
    assert "no benchmark_model binary for ABI arm64-v8a" in result.stderr and "--benchmark-model" in result.stderr
    not_elf = tmp_path / "benchmark_model"
    not_elf.write_text("#!/bin/sh\n")
    result = run_devlab(*args, "--benchmark-model", str(not_elf), cwd=tmp_path, env=cli_env, timeout=120)
    assert result.exit_code == 2 and "not an ELF executable" in result.stderr


def test_ambiguous_alias_lists_both_phones_and_config_alias_picks_one(cli_env, sim_phone, other_phone, tmp_path):
    with pytest.raises(DeviceNotFound) as caught:
        resolve_device("s23")
    assert sim_phone.serial in caught.value.problem and other_phone.serial in caught.value.problem
    (tmp_path / "devlab.toml").write_text(f'[devices.bench-s23]\nmodel = "SM-S918*"\nserial = "{other_phone.serial}"\n')
    device = resolve_device("bench-s23", config=load_config())
    assert device.serial == other_phone.serial and device.info.alias == "bench-s23"


class _DropDuringSecondVariant:
    """Progress sink that arms the phone's drop fault once the first variant is on: its runs move little data, the
    second variant's push crosses the budget."""

    def __init__(self, phone) -> None:
        self.phone = phone
        self.armed = False

    def start(self, stage: str, total: int) -> None:
        return None

    def step(self, stage: str, what: str) -> None:
        if stage == "bench" and not self.armed:
            self.armed = True
            self.phone.server.device.setprop(faults.DROP_AFTER_BYTES, "400000")


def test_device_dropping_mid_run_keeps_what_finished(cli_env, other_phone, tmp_path, real_fixtures):
    request = RunRequest(model=str(real_fixtures / MODEL), device=other_phone.serial, variants="as-is,int8-dynamic",
                         out_root=tmp_path / "traces", build_root=tmp_path,
                         phone=PhoneBenchOptions(num_runs=3, warmup_runs=1, min_secs=0.05))
    outcome = run(request, _DropDuringSecondVariant(other_phone))
    first, second = outcome.record.variants
    assert first.status == "ok" and first.timing is not None
    assert second.status == "failed"
    assert other_phone.serial in second.error and "push int8-dynamic.tflite" in second.error
    on_disk = json.loads((outcome.run_dir / "run.json").read_text())
    assert [v["status"] for v in on_disk["variants"]] == ["ok", "failed"]
    assert (outcome.run_dir / first.logs["clean"]).is_file()


def test_delegate_serialize_dir_is_created_so_the_second_run_starts_from_the_cache(cli_env, sim_phone, tmp_path,
                                                                                   real_fixtures):
    folder = "/data/local/tmp/devlab/gpu cache; $(id)"     # created on the phone, never read by a shell
    args = ("run", "--device", "s23", "--model", str(real_fixtures / MODEL), "--variants", "as-is",
            "--accelerator", "gpu", "--delegate-serialize-dir", folder, "--no-trace", *QUICK, "--json")
    inits = []
    for _ in range(2):
        result = run_devlab(*args, cwd=tmp_path, env=cli_env, timeout=300)
        assert result.exit_code == 0, result.stderr
        (row,) = json.loads(result.stdout)["variants"]
        assert row["status"] == "ok", row["error"]
        inits.append(row["timing"]["init_ms"])
    assert sim_phone.server.device.fs.resolve(folder, "/").is_dir()
    # the simulated delegate compiles its GPU programs on the first run and reads them back on the second
    assert inits[1] < inits[0]
