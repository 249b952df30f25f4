"""AdbDevice and the adb server layer, through the real adb server (adbutils' binary) and the simulated phone."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from devlab.devices.adb import AdbDevice
from devlab.devices.adb_server import AdbServer, ServerSpec, bundled_adb
from devlab.devices.resolve import AdbOptions, list_devices, resolve_device
from devlab.errors import DeviceError, DeviceNotFound
from devlab.sim import faults
from sim_fixtures import adb_server, free_port, sim_phone, start_phone, stop_phone  # noqa: F401  (fixtures)

HOSTILE = "/data/local/tmp/devlab/we ird/it's \"q\"; $(touch pwned) `id` & x.bin"


@pytest.fixture()
def env(adb_server, tmp_path, monkeypatch):
    monkeypatch.setenv("ANDROID_ADB_SERVER_PORT", str(adb_server.port))
    monkeypatch.setenv("DEVLAB_HOME", str(tmp_path / "home"))   # no stray `devlab sim start` phones
    monkeypatch.chdir(tmp_path)


def _device(phone) -> AdbDevice:
    server = AdbServer(ServerSpec("127.0.0.1", phone.adb.port, bundled_adb()))
    device = AdbDevice(server, phone.serial)
    device.read_info()
    return device


def test_listing_shows_the_simulated_phone_as_s23(env, sim_phone):
    infos = {info.serial: info for info in list_devices(include_host=False)}
    info = infos[sim_phone.serial]
    assert (info.alias, info.model, info.simulated) == ("s23", "SM-S918B", True)
    assert (info.board, info.soc, info.gpu, info.abi) == ("kalama", "SM8550", "Adreno (TM) 740", "arm64-v8a")
    assert (info.android_version, info.sdk) == ("14", "34")
    assert info.battery_level == 87 and info.battery_temp_c == 31.0 and info.thermal_status == "none"
    assert info.extra["egl"] == "adreno" and "s23u" in info.extra["aliases"].split(",")


def test_resolution_by_alias_and_serial(env, sim_phone):
    assert resolve_device("s23").serial == sim_phone.serial
    assert resolve_device("s23u").info.alias == "s23u"
    assert resolve_device(sim_phone.serial).info.model == "SM-S918B"


def test_unknown_device_lists_what_is_attached(env, sim_phone):
    with pytest.raises(DeviceNotFound) as caught:
        resolve_device("pixel8")
    assert sim_phone.serial in caught.value.problem and "SM-S918B" in caught.value.problem
    with pytest.raises(DeviceNotFound) as caught:
        resolve_device("no-such-phone")
    assert sim_phone.serial in caught.value.problem and "s23" in (caught.value.fix or "")


def test_shell_quotes_every_argument_and_keeps_exit_codes(sim_phone):
    device = _device(sim_phone)
    args = ["a b", "it's", '"q"', "$(touch pwned)", "`id`", ";", "&&", "|", "$HOME", "*"]
    result = device.shell(["echo", *args])
    assert result.ok and result.stdout == " ".join(args) + "\n"
    assert device.shell(["false"]).exit_code == 1
    assert device.shell(["sh-not-here"]).exit_code == 127
    assert not any("pwned" in names for _, _, names in os.walk(sim_phone.root))
    with pytest.raises(TypeError):
        device.shell("echo hi")  # type: ignore[arg-type]


def test_push_pull_and_the_hash_cache(sim_phone, tmp_path):
    device = _device(sim_phone)
    local = tmp_path / "model one.bin"
    local.write_bytes(os.urandom(300_000))
    first = device.push(local, "/data/local/tmp/devlab/cache/model.bin")
    assert (first.bytes_sent, first.cached) == (300_000, False)
    second = device.push(local, "/data/local/tmp/devlab/cache/model.bin")
    assert (second.bytes_sent, second.cached, second.sha256) == (0, True, first.sha256)
    local.write_bytes(os.urandom(300_000))   # same size, other content: sent again
    third = device.push(local, "/data/local/tmp/devlab/cache/model.bin")
    assert third.bytes_sent == 300_000 and third.sha256 != first.sha256
    back = tmp_path / "back.bin"
    device.pull("/data/local/tmp/devlab/cache/model.bin", back)
    assert back.read_bytes() == local.read_bytes()


def test_hostile_device_paths_are_never_interpreted(sim_phone, tmp_path):
    device = _device(sim_phone)
    local = tmp_path / "it's; $(x) \"q\".bin"
    local.write_bytes(b"payload\n" * 1000)
    assert device.push(local, HOSTILE).bytes_sent == 8000
    assert (sim_phone.root / HOSTILE.lstrip("/")).read_bytes() == local.read_bytes()
    assert device.remote_sha256(HOSTILE) == device.push(local, HOSTILE).sha256
    assert device.shell(["cat", HOSTILE]).stdout == local.read_text()
    device.pull(HOSTILE, tmp_path / "pulled; $(y)")
    assert (tmp_path / "pulled; $(y)").read_bytes() == local.read_bytes()
    assert not any("pwned" in names for _, _, names in os.walk(sim_phone.root))


def test_missing_remote_file_is_a_clear_error(sim_phone, tmp_path):
    with pytest.raises(DeviceError) as caught:
        _device(sim_phone).pull("/data/local/tmp/nothing-here", tmp_path / "x")
    assert caught.value.stage == "pull nothing-here" and caught.value.device == sim_phone.serial


def test_device_dropping_mid_push_names_device_and_stage(adb_server, tmp_path):
    phone = start_phone(adb_server, tmp_path / "root")
    try:
        device = _device(phone)
        local = tmp_path / "big.bin"
        local.write_bytes(os.urandom(4 << 20))
        phone.server.device.setprop(faults.DROP_AFTER_BYTES, "1000000")
        with pytest.raises(DeviceError) as caught:
            device.push(local, "/data/local/tmp/devlab/big.bin")
        assert caught.value.device == phone.serial and caught.value.stage == "push big.bin"
        assert "connection lost" in caught.value.problem
    finally:
        stop_phone(phone)


def test_killed_local_server_is_restarted_once():
    server = AdbServer(ServerSpec("127.0.0.1", free_port(), bundled_adb()))
    try:
        assert server.call(lambda client: client.server_version(), stage="t") > 0   # started on first use
        subprocess.run([str(bundled_adb()), "-P", str(server.spec.port), "kill-server"], timeout=30, check=True)
        assert not server.answers()
        assert server.call(lambda client: client.server_version(), stage="t") > 0
    finally:
        subprocess.run([str(bundled_adb()), "-P", str(server.spec.port), "kill-server"], timeout=30)


def test_remote_server_that_does_not_answer_is_an_error_not_a_local_start(env):
    port = free_port()
    with pytest.raises(DeviceError) as caught:
        list_devices(AdbOptions(servers=(f"localhost:{port}",)), include_host=False)
    assert f"localhost:{port}" in caught.value.problem
    assert not AdbServer(ServerSpec("127.0.0.1", port, None)).answers()


def test_missing_adb_binary_is_a_clear_error(tmp_path):
    server = AdbServer(ServerSpec("127.0.0.1", free_port(), tmp_path / "no-adb"))
    with pytest.raises(DeviceError) as caught:
        server.ensure_running()
    assert "no-adb" in caught.value.problem and "DEVLAB_ADB" in (caught.value.fix or "")


# --- the user's benchmark_model must be an Android executable (issue 11, defects 6 and 9) ---------------------------

def elf64_aarch64(path: Path, interpreter: str | None) -> Path:
    """A minimal ELF64 little-endian AArch64 executable header with one program header: PT_INTERP naming
    `interpreter` (as a dynamically linked build has), or PT_LOAD only (a static build)."""
    import struct
    interp = (interpreter.encode() + b"\0") if interpreter else b""
    ehdr = (b"\x7fELF" + bytes([2, 1, 1, 0]) + bytes(8)
            + struct.pack("<HHIQQQIHHHHHH", 2, 183, 1, 0x400000, 64, 0, 0, 64, 56, 1, 64, 0, 0))
    p_type = 3 if interpreter else 1
    phdr = struct.pack("<IIQQQQQQ", p_type, 4, 120, 0, 0, len(interp), len(interp), 1)
    path.write_bytes(ehdr + phdr + interp)
    path.chmod(0o755)
    return path


def test_a_glibc_build_is_refused_before_the_push_and_the_phone_would_not_run_it(cli_env, tmp_path, adb_server,
                                                                                 real_fixtures):
    from cli_helpers import run_devlab
    phone = start_phone(adb_server, tmp_path / "root")
    try:
        phone.server.device.setprop("ro.devlab.simulated", "0")   # a "real" phone: it runs the user's tool
        glibc = elf64_aarch64(tmp_path / "linux_aarch64_benchmark_model", "/lib/ld-linux-aarch64.so.1")
        # the phone's own rule (Android has no glibc loader): the shell cannot start it
        device = _device(phone)
        device.push(glibc, "/data/local/tmp/glibc_bm", mode=0o755)
        ran = device.shell(["/data/local/tmp/glibc_bm", "--help"])
        assert ran.exit_code == 127 and "No such file or directory" in ran.stderr
        # devlab refuses it before pushing anything, naming the interpreter and where to get an Android build
        args = ("run", "--device", phone.serial, "--model", str(real_fixtures / "models/poco_x3/mnv3_seg_float.tflite"),
                "--variants", "as-is", "--benchmark-model", str(glibc))
        result = run_devlab(*args, cwd=tmp_path, env=cli_env, timeout=120)
        assert result.exit_code == 2, result.stderr
        line = result.stderr.strip().splitlines()[-1]
        assert line.startswith("error:") and "/lib/ld-linux-aarch64.so.1" in line and "/system/bin/linker64" in line
        assert "android_aarch64_benchmark_model" in line
        assert device.shell(["test", "-e", "/data/local/tmp/devlab/bin/benchmark_model"]).exit_code == 1
    finally:
        stop_phone(phone)


def test_android_and_static_builds_pass_the_elf_check(tmp_path):
    from devlab.bench.binary import check_elf
    assert check_elf(elf64_aarch64(tmp_path / "bionic", "/system/bin/linker64"), "arm64-v8a") == "AArch64"
    assert check_elf(elf64_aarch64(tmp_path / "hwasan", "/system/bin/linker_hwasan64"), "arm64-v8a") == "AArch64"
    assert check_elf(elf64_aarch64(tmp_path / "static", None), "arm64-v8a") == "AArch64"


@pytest.mark.parametrize("abi", ["x86_64", "x86"])
def test_x86_phones_are_pointed_at_builds_that_exist(cli_env, tmp_path, adb_server, real_fixtures, abi):
    """TFLite publishes android_aarch64 / android_arm prebuilts only (its benchmark README): for an x86 phone the
    hint names no prebuilt (linux_x86-64_benchmark_model is a glibc host build) and points at `devlab tools fetch`
    and the bazel config for that ABI."""
    from cli_helpers import run_devlab
    phone = start_phone(adb_server, tmp_path / "root", fault_props={"ro.devlab.simulated": "0",
                                                                      "ro.product.cpu.abi": abi})
    try:
        args = ("run", "--device", phone.serial, "--model", str(real_fixtures / "models/poco_x3/mnv3_seg_float.tflite"),
                "--variants", "as-is")
        result = run_devlab(*args, cwd=tmp_path, env=cli_env, timeout=120)
        assert result.exit_code == 2, result.stderr
        line = result.stderr.strip().splitlines()[-1]
        assert f"no benchmark_model binary for ABI {abi}" in line
        assert f"devlab tools fetch benchmark_model --abi {abi}" in line and f"--config=android_{abi}" in line
        assert "linux_x86-64_benchmark_model" not in line and "android_x86_benchmark_model" not in line
    finally:
        stop_phone(phone)


def test_vulkan_render_engine_gpu_is_labelled_as_the_driver_family(adb_server, tmp_path):
    """SurfaceFlinger's Vulkan RenderEngine dumps `RE Vulkan` and no `GLES:` line (frameworks/native
    SkiaVkRenderEngine::appendBackendSpecificInfoToDump): ro.hardware.egl is then all there is, and it names the
    driver family, not the GPU."""
    phone = start_phone(adb_server, tmp_path / "root", fault_props={"debug.renderengine.backend": "skiavkthreaded"})
    try:
        device = _device(phone)
        dump = device.shell(["dumpsys", "SurfaceFlinger"]).stdout
        assert "RE Vulkan" in dump and "GLES:" not in dump
        info = device.info
        assert info.gpu != "adreno" and info.gpu.startswith("adreno (driver family")
        assert info.extra["gpu_source"] == "ro.hardware.egl" and info.extra["render_engine"] == "vulkan"
    finally:
        stop_phone(phone)


def test_a_file_over_4_gib_has_its_whole_size_through_stat_v2(sim_phone, tmp_path):
    """STAT v1 carries a 32-bit size (a 5 GiB + 7 file reads as 1 GiB + 7, so the post-push size check fails); the
    phone has stat_v2, so devlab asks STA2. The file is sparse in the phone's sandbox: nothing is pushed."""
    big = sim_phone.root / "data/local/tmp/devlab/big.bin"
    big.parent.mkdir(parents=True, exist_ok=True)
    big.write_bytes(b"x")
    os.truncate(big, 5 * 2**30 + 7)
    try:
        device = _device(sim_phone)
        assert "stat_v2" in device.features()
        info = device.stat("/data/local/tmp/devlab/big.bin")
        assert (info.size, info.size_bits, info.is_file) == (5 * 2**30 + 7, 64, True)
        assert device.stat("/data/local/tmp/devlab/absent.bin").error == 2     # ENOENT, said by STA2
    finally:
        big.unlink()


def test_a_phone_without_stat_v2_compares_sizes_modulo_4_gib(adb_server, tmp_path):
    """adbd before Android 8 has no stat_v2: STAT v1's size is all there is, and devlab compares it as what it is
    (the size modulo 2^32) instead of failing every push of a file over 4 GiB."""
    from devlab.devices.adb import _same_size
    phone = start_phone(adb_server, tmp_path / "root", fault_props={faults.NO_SHELL_V2: "1"})
    try:
        big = phone.root / "data/local/tmp/big.bin"
        big.write_bytes(b"x")
        os.truncate(big, 5 * 2**30 + 7)
        device = _device(phone)
        assert "stat_v2" not in device.features()
        info = device.stat("/data/local/tmp/big.bin")
        assert (info.size, info.size_bits) == (2**30 + 7, 32)     # 5 GiB + 7 modulo 4 GiB
        assert _same_size(info, 5 * 2**30 + 7) and not _same_size(info, 5 * 2**30 + 8)
    finally:
        stop_phone(phone)


# --- the phone's state, checked before a run and recorded with it (issue 11) ----------------------------------------

def test_run_records_the_phone_state_and_warns_about_what_slows_it(cli_env, tmp_path, adb_server, real_fixtures):
    import json
    from cli_helpers import run_devlab
    phone = start_phone(adb_server, tmp_path / "root", fault_props={faults.THERMAL_STATUS: "2"})
    try:
        assert phone.shell("settings", "put", "global", "low_power", "1").returncode == 0   # battery saver on
        args = ("run", "--device", phone.serial, "--model", str(real_fixtures / "models/poco_x3/mnv3_seg_float.tflite"),
                "--variants", "as-is", "--runs", "3", "--warmup", "1", "--min-secs", "0.05", "--no-op-profile",
                "--no-trace", "--taskset", "f0", "--json")
        result = run_devlab(*args, cwd=tmp_path, env=cli_env, timeout=300)
        assert result.exit_code == 0, result.stderr
        record = json.loads(result.stdout)
        before, after = record["device_state"]["before"], record["device_state"]["after"]
        assert before["source"] == "simulated" and before["thermal_status"] == "moderate"
        assert before["battery_saver"] is True and before["charging"] is True and before["screen_awake"] is True
        assert {t["name"]: t["kind"] for t in before["temperatures"]}["gpuss-0"] == "gpu"
        assert {t["name"]: t["celsius"] for t in before["temperatures"]}["skin-therm"] == 33.5
        assert before["cpu_governors"] == {"policy0": "schedutil", "policy4": "schedutil", "policy7": "schedutil"}
        assert before["data_free_bytes"] > 2**30 and after["read_at"] >= before["read_at"]
        assert (before["taskset_mask"], before["benchmark_cpus"]) == ("f0", "4-7")   # as the kernel applied it
        notes = " ".join(record["notes"])
        assert "thermal status is moderate" in notes and "battery saver is on" in notes
    finally:
        stop_phone(phone)


def test_variants_that_do_not_fit_on_the_phone_fail_before_any_push(cli_env, tmp_path, adb_server, real_fixtures):
    from cli_helpers import run_devlab
    phone = start_phone(adb_server, tmp_path / "root", fault_props={faults.DATA_FREE: str(100 * 2**20)})
    try:
        args = ("run", "--device", phone.serial, "--model", str(real_fixtures / "models/poco_x3/mnv3_seg_float.tflite"),
                "--variants", "as-is")
        result = run_devlab(*args, cwd=tmp_path, env=cli_env, timeout=300)
        assert result.exit_code == 1, result.stderr
        line = result.stderr.strip().splitlines()[-1]
        assert line.startswith("error:") and "free space" in line and "MiB free on /data/local/tmp/devlab" in line
        assert "free space on the phone" in line
        assert not (phone.root / "data/local/tmp/devlab/models").exists()
        # the phone's own rule: a push past the free space fails as adbd's does
        device = _device(phone)
        big = tmp_path / "big.bin"
        big.write_bytes(os.urandom(101 * 2**20))
        with pytest.raises(DeviceError, match="No space left on device"):
            device.push(big, "/data/local/tmp/big.bin")
    finally:
        stop_phone(phone)


def test_the_cpus_a_benchmark_may_use_are_read_as_the_kernel_applied_them(sim_phone):
    """`taskset MASK cat /proc/self/status` runs like the benchmark (taskset execs it: same pid, same affinity):
    its Cpus_allowed_list is the mask cut to the CPUs the phone has (sched_setaffinity), which devlab records and
    compares with what was asked."""
    from devlab.devices.device_state import read_phone_state, state_warnings
    device = _device(sim_phone)
    assert read_phone_state(device).benchmark_cpus == "0-7"                 # no mask: every CPU of the s23
    state = read_phone_state(device, taskset_mask="1f0")                   # CPUs 4-8 asked, the phone has 0-7
    assert state.benchmark_cpus == "4-7"
    assert any("taskset 1f0 asks for CPUs 4-8, but a process launched that way may run on 4-7" in w
               for w in state_warnings(state))
