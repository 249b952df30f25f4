"""Sustained performance (`devlab run --sustained 2m`): durations, the series' onset and sustained/peak ratio on
points with known values, and a simulated S23 that heats up and throttles, through the real adb server and the
installed devlab script, with the curve checked in the report in headless Chromium."""

from __future__ import annotations

import json

import jsonschema
import pytest

from cli_helpers import REPO, one_error_line, run_devlab
from devlab.errors import UsageError
from devlab.sustained.series import Point, parse_duration, summarize
from report_helpers import load_in_chromium
from sim_fixtures import adb_server, start_phone, stop_phone  # noqa: F401  (fixtures)

SCHEMA = json.loads((REPO / "devlab" / "schemas" / "run.schema.json").read_text())
MODEL = "models/poco_x3/mnv3_seg_float.tflite"
# 2 simulated minutes of 6 s points: at 0.05 each point takes 0.3 s, long next to adb's round trips between points
# (at the suite's 0.002 those gaps would be most of the simulated time, and the phone would cool between points)
SUSTAINED_SCALE = 0.05


def test_durations():
    assert parse_duration("10m") == 600 and parse_duration("2m30s") == 150 and parse_duration("1h") == 3600
    for bad in ("", "10", "ten minutes", "1m"):
        with pytest.raises(UsageError):
            parse_duration(bad)


def _point(t: float, ms: float, freq: int = 900, status: str = "none") -> Point:
    return Point(t, t / 100, ms, 10, freq, status, {"skin": 30.0})


def test_onset_and_sustained_to_peak_on_known_points():
    points = [_point(t, 10.0) for t in range(5, 61, 5)]                       # first minute: 10 ms
    points += [_point(t, 10.0, 900, "light") for t in (65, 70)]               # the status rises first
    points += [_point(t, 12.5, 700, "moderate") for t in range(75, 181, 5)]   # then the clock and the latency
    summary = summarize(points, 180.0)
    assert summary["first_minute_median_ms"] == 10.0 and summary["last_minute_median_ms"] == 12.5
    assert summary["sustained_to_peak"] == pytest.approx(0.8)
    assert summary["throttling_onset_s"] == 65 and summary["slowdown_onset_s"] == 75
    assert summary["max_thermal_status"] == "moderate" and summary["last_gpu_freq_hz"] == 700
    assert summary["sustained_to_start"] == pytest.approx(0.8)
    # a phone that throttles within the first minute: the first-minute ratio hides it, the start baseline does not
    early = [_point(t, 10.0) for t in (5, 10, 15)] + [_point(t, 12.5, 700, "light") for t in range(20, 181, 5)]
    early_summary = summarize(early, 180.0)
    assert early_summary["sustained_to_peak"] == 1.0 and early_summary["sustained_to_start"] == pytest.approx(0.8)
    assert early_summary["slowdown_onset_s"] == 20 and early_summary["throttling_onset_s"] == 20
    steady = summarize([_point(t, 10.0) for t in range(5, 181, 5)], 180.0)
    assert steady["sustained_to_peak"] == 1.0 and steady["throttling_onset_s"] is None
    assert steady["slowdown_onset_s"] is None


def test_sustained_shorter_than_two_minutes_is_refused(tmp_path):
    result = run_devlab("run", "--device", "s23", "--sustained", "30s", cwd=tmp_path, timeout=120)
    assert result.exit_code == 2
    assert "shorter than 2 minutes" in one_error_line(result.stderr)


@pytest.mark.slow
def test_a_simulated_s23_heats_up_and_throttles(adb_server, tmp_path, real_fixtures):
    phone = start_phone(adb_server, tmp_path / "phone", time_scale=SUSTAINED_SCALE)
    try:
        env = {"ANDROID_ADB_SERVER_PORT": str(adb_server.port), "DEVLAB_HOME": str(tmp_path / "home"),
               "DEVLAB_BENCHMARK_MODEL": ""}
        result = run_devlab("run", "--device", phone.serial, "--model", str(real_fixtures / MODEL), "--variants",
                            "as-is", "--runs", "3", "--warmup", "1", "--min-secs", "0.05", "--no-op-profile",
                            "--no-trace", "--sustained", "2m", "--json", cwd=tmp_path, env=env, timeout=600)
    finally:
        stop_phone(phone)
    assert result.exit_code == 0, result.stderr
    assert "sustained: as-is on gpu: sustained/peak 0." in result.stderr and "throttling from " in result.stderr
    assert "last minute vs the first points 0." in result.stderr
    record = json.loads(result.stdout)
    jsonschema.validate(record, SCHEMA)
    (row,) = record["variants"]
    sustained = row["extra"]["sustained"]
    points = sustained["points"]
    assert sustained["source"] == "simulated" and sustained["cooldown"]["cooled"] is True
    assert points[-1]["t_s"] >= 120 and len(points) >= 15
    # the phone heats: skin temperature rises, the governor cuts the GPU clock, latency follows
    assert points[-1]["temperatures_c"]["skin"] > points[0]["temperatures_c"]["skin"] + 2
    assert points[-1]["gpu_freq_hz"] < points[0]["gpu_freq_hz"]
    assert sustained["max_thermal_status"] in ("light", "moderate", "severe")
    assert sustained["throttling_onset_s"] is not None and 0 < sustained["throttling_onset_s"] < 120
    assert sustained["sustained_to_peak"] < 0.95
    assert sustained["sustained_to_start"] <= sustained["sustained_to_peak"]
    assert sustained["sustained_to_peak"] == pytest.approx(
        sustained["first_minute_median_ms"] / sustained["last_minute_median_ms"], abs=1e-4)
    run_dir = tmp_path / "traces" / record["run_id"]
    page = load_in_chromium(run_dir / "report.html", tmp_path)
    assert not page.console, page.console
    assert 'id="sustained"' in page.dom
    assert f'data-ratio="{sustained["sustained_to_peak"]}"' in page.dom
    for curve in ("latency", "gpu-freq", "skin", "gpu"):
        assert f'data-curve="{curve}" data-points="{len(points)}"' in page.dom
    assert page.dom.count('<path class="line"') >= 4


@pytest.mark.slow
def test_cooldown_waits_for_a_hot_phone_and_says_when_it_never_cools(adb_server, tmp_path, monkeypatch,
                                                                      real_fixtures):
    """A phone a long run has heated throttles (status light or worse); cool_down polls `dumpsys thermalservice`
    until the status is none. One held hot by the thermal_status fault is reported as not cooled."""
    from devlab.devices.adb import AdbDevice
    from devlab.devices.resolve import resolve_device
    from devlab.report.energy_console import energy_lines
    from devlab.sim import faults
    from devlab.sustained.run import cool_down, read_thermal
    monkeypatch.setenv("ANDROID_ADB_SERVER_PORT", str(adb_server.port))
    phone = start_phone(adb_server, tmp_path / "phone", time_scale=SUSTAINED_SCALE)
    try:
        device = resolve_device(phone.serial)
        assert isinstance(device, AdbDevice)
        device.push(real_fixtures / MODEL, "/data/local/tmp/m.tflite")
        hot = device.shell(["benchmark_model", "--graph=/data/local/tmp/m.tflite", "--use_gpu=true",
                            "--min_secs=150", "--max_secs=200"], timeout=120)
        assert hot.ok, hot.stderr
        status, temps = read_thermal(device)
        assert status != "none" and temps["skin"] >= 37.0
        cooled = cool_down(device, timeout_s=120)
        assert cooled["cooled"] is True and cooled["status"] == "none" and cooled["waited_s"] > 0
        assert cooled["temperatures_c"]["skin"] < temps["skin"]
        phone.server.device.setprop(faults.THERMAL_STATUS, "3")
        stuck = cool_down(device, timeout_s=3)
        assert stuck["cooled"] is False and stuck["status"] == "severe" and stuck["waited_s"] >= 3
    finally:
        stop_phone(phone)
    record = {"variants": [{"variant": "fp32", "accelerator": "gpu", "extra": {"sustained": {
        "source": "simulated", "cooldown": stuck, "points": [], "sustained_to_peak": None}}}]}
    assert energy_lines(record)[0] == (f"sustained: fp32 on gpu: started warm: thermal status severe after waiting "
                                       f"{stuck['waited_s']:.0f} s for it to cool")
