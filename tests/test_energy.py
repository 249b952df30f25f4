"""Energy per inference (`devlab run --energy`): power_rails / battery packets parsed with perfetto's protos, the
idle-subtracted arithmetic on traces with known values, and the whole path through the real adb server to
simulated phones: a Pixel with rails, an S23 without them (battery counters), and one that is charging."""

from __future__ import annotations

import json
import time
from pathlib import Path

import jsonschema
import pytest
from perfetto.protos.perfetto.trace.perfetto_trace_pb2 import TracePacket

from cli_helpers import REPO, one_error_line, run_devlab
from devlab.energy.energy import MIN_SAMPLES, Context, RunShare, energy_per_inference
from devlab.energy.power_trace import read_power
from devlab.energy.record import power_config
from devlab.errors import ParseError
from devlab.sim import faults
from devlab.sim.power import power_model
from devlab.trace.config import parse_config
from devlab.trace.framing import PacketStream
from devlab.trace.writer import TraceWriter
from report_helpers import load_in_chromium
from sim_fixtures import adb_server, start_phone, stop_phone  # noqa: F401  (fixtures)

SCHEMA = json.loads((REPO / "devlab" / "schemas" / "run.schema.json").read_text())
MODEL = "models/poco_x3/mnv3_seg_float.tflite"
QUICK = ("--runs", "3", "--warmup", "1", "--min-secs", "0.05", "--max-secs", "5", "--no-op-profile", "--no-trace",
         "--cooldown", "0")
ENERGY_SCALE = 0.05      # 10 simulated s of energy run = 0.5 s: adb's round trips stay small next to it
SHARE = RunShare(init_ms=0.0, inference_ms=1000.0, mean_latency_ms=2.0, inferences=500)


def _rails_trace(path: Path, watts: dict[str, float], seconds: float, polls: int = 20, descriptor: bool = True,
                 start_uws: int = 1_000_000) -> Path:
    """A trace as android.power writes it: descriptors in the first power_rails packet, then energy since boot."""
    names = list(watts)
    with open(path, "wb") as out:
        writer = TraceWriter(out)
        for i in range(polls + 1):
            ts = 10**9 + int(i * seconds / polls * 1e9)
            packet = TracePacket(trusted_packet_sequence_id=3, timestamp=ts)
            packet.power_rails.session_uuid = 7
            if i == 0 and descriptor:
                for index, name in enumerate(names):
                    packet.power_rails.rail_descriptor.add(index=index, rail_name=name, subsys_name=name.lower())
            if descriptor:
                for index, name in enumerate(names):
                    packet.power_rails.energy_data.add(index=index, timestamp_ms=ts // 10**6,
                                                       energy=start_uws + int(watts[name] * 1e6 * i * seconds / polls))
            writer.write(packet)
            battery = TracePacket(trusted_packet_sequence_id=3, timestamp=ts)
            battery.battery.current_ua = -int(sum(watts.values()) / 4.0 * 1e6)      # at 4.0 V, drained
            battery.battery.charge_counter_uah = 4_000_000 - i * 10
            writer.write(battery)
    return path


def test_power_packets_are_read_with_perfettos_protos(tmp_path):
    data = read_power(_rails_trace(tmp_path / "t.perfetto-trace", {"S2S_VDD_G3D": 0.5, "VSYS_PWR_DISPLAY": 0.1}, 2.0))
    assert data.subsystems == {"S2S_VDD_G3D": "s2s_vdd_g3d", "VSYS_PWR_DISPLAY": "vsys_pwr_display"}
    assert len(data.rails["S2S_VDD_G3D"]) == 21 and len(data.battery) == 21
    assert data.rails["S2S_VDD_G3D"][-1].energy_uws - data.rails["S2S_VDD_G3D"][0].energy_uws == 1_000_000
    assert data.battery[0].current_ua == -150_000 and data.span_ns == 2 * 10**9
    (tmp_path / "log.txt").write_text("not a trace")
    with pytest.raises(ParseError):
        read_power(tmp_path / "log.txt")


def test_rails_that_moved_minus_idle_times_latency(tmp_path):
    idle = read_power(_rails_trace(tmp_path / "idle", {"GPU": 0.005, "CPU": 0.040, "DISP": 0.110}, 2.0))
    run = read_power(_rails_trace(tmp_path / "run", {"GPU": 1.205, "CPU": 0.340, "DISP": 0.110}, 2.0))
    block = energy_per_inference(idle, run, SHARE, Context("trace", charging=True, dumpsys_voltage_mv=None))
    assert block["method"] == "rails" and block["status"] == "ok"
    assert {r["rail"]: r["moved"] for r in block["rails"]} == {"CPU": True, "DISP": False, "GPU": True}
    # (1.200 + 0.300) W excess x 2 ms = 3.0 mJ; charging is said, and does not matter for rails
    assert block["excess_power_mw"] == pytest.approx(1500.0, rel=1e-6)
    assert block["mj_per_inference"] == pytest.approx(3.0, rel=1e-6)
    assert any("charging" in w and "rails are unaffected" in w for w in block["warnings"])


def _phased_gpu_trace(path: Path, watts: list[float], poll_s: float = 0.05) -> Path:
    """One GPU rail whose power is watts[i] between poll i and poll i + 1."""
    with open(path, "wb") as out:
        writer = TraceWriter(out)
        energy = 0
        for i in range(len(watts) + 1):
            packet = TracePacket(trusted_packet_sequence_id=3, timestamp=10**9 + int(i * poll_s * 1e9))
            if i == 0:
                packet.power_rails.rail_descriptor.add(index=0, rail_name="GPU", subsys_name="GPU")
            packet.power_rails.energy_data.add(index=0, energy=energy)
            writer.write(packet)
            energy += int(watts[i] * 1e6 * poll_s) if i < len(watts) else 0
    return path


def test_the_init_share_of_the_window_is_left_out(tmp_path):
    """The run's window starts with the delegate's init: half the window at 2 W, then 1 W; init_ms says half."""
    idle = read_power(_rails_trace(tmp_path / "idle", {"GPU": 0.0}, 2.0))
    run = read_power(_phased_gpu_trace(tmp_path / "run", [2.0] * 20 + [1.0] * 20))
    share = RunShare(init_ms=500.0, inference_ms=500.0, mean_latency_ms=4.0, inferences=125)
    block = energy_per_inference(idle, run, share, Context("trace", False, None))
    assert block["excess_power_mw"] == pytest.approx(1000.0, rel=1e-6)     # not the 1.5 W of the whole window
    assert block["mj_per_inference"] == pytest.approx(4.0, rel=1e-6)


def test_idle_seconds_before_the_run_in_its_window_are_left_out(tmp_path):
    """An old perfetto (no --background-wait) records 2 s of settle time before the run: the run is the window's
    last inference_ms (the log's own warm-up + timed runs time), whatever came before it."""
    idle = read_power(_rails_trace(tmp_path / "idle", {"GPU": 0.0}, 2.0))
    run = read_power(_phased_gpu_trace(tmp_path / "run", [0.0] * 40 + [1.0] * 20))   # 2 s idle, 1 s at 1 W
    share = RunShare(init_ms=0.0, inference_ms=1000.0, mean_latency_ms=2.0, inferences=500)
    block = energy_per_inference(idle, run, share, Context("trace", False, None))
    assert block["excess_power_mw"] == pytest.approx(1000.0, rel=1e-6)    # not the window's 333 mW
    assert block["mj_per_inference"] == pytest.approx(2.0, rel=1e-6)


def test_battery_when_no_rails_and_loud_when_charging_or_short(tmp_path):
    idle = read_power(_rails_trace(tmp_path / "idle", {"x": 0.4}, 2.0, descriptor=False))
    run = read_power(_rails_trace(tmp_path / "run", {"x": 1.2}, 2.0, descriptor=False))
    assert run.rails_packets == 21 and not run.rails     # rails packets with no descriptor: the phone has none
    ok = energy_per_inference(idle, run, SHARE, Context("trace", False, 4000.0))
    assert ok["method"] == "battery" and ok["status"] == "ok"
    assert ok["excess_power_mw"] == pytest.approx(800.0, rel=1e-3)          # |I| x V, 4.0 V from dumpsys
    assert ok["mj_per_inference"] == pytest.approx(1.6, rel=1e-3)
    assert any("power rails absent" in w for w in ok["warnings"])
    charging = energy_per_inference(idle, run, SHARE, Context("trace", True, 4000.0))
    assert charging["status"] == "untrusted" and charging["mj_per_inference"] is None
    assert any(w.startswith("UNTRUSTED: the phone was charging") for w in charging["warnings"])
    few = energy_per_inference(read_power(_rails_trace(tmp_path / "i2", {"x": 0.4}, 2.0, polls=MIN_SAMPLES - 3)),
                               run, SHARE, Context("trace", False, 4000.0))
    assert few["status"] == "untrusted" and any("too few power samples" in w for w in few["warnings"])
    no_voltage = energy_per_inference(idle, run, SHARE, Context("trace", False, None))
    assert no_voltage["status"] == "unavailable" and no_voltage["mj_per_inference"] is None


def test_power_config_is_a_valid_trace_config():
    config = parse_config(power_config(rails=True))
    (source,) = config.data_sources
    assert source.config.name == "android.power"
    power = source.config.android_power_config
    assert power.battery_poll_ms == 100 and power.collect_power_rails
    assert list(power.battery_counters) == [1, 2, 3]      # CHARGE, CAPACITY_PERCENT, CURRENT


# --- through the real adb server and the simulated phone -----------------------------------------------------------
def _energy_run(adb_server, tmp_path, real_fixtures, profile: str, fault_props: dict[str, str] | None = None):
    phone = start_phone(adb_server, tmp_path / "phone", profile=profile, fault_props=fault_props,
                        time_scale=ENERGY_SCALE)
    try:
        env = {"ANDROID_ADB_SERVER_PORT": str(adb_server.port), "DEVLAB_HOME": str(tmp_path / "home"),
               "DEVLAB_BENCHMARK_MODEL": ""}
        result = run_devlab("run", "--device", phone.serial, "--model", str(real_fixtures / MODEL), "--variants",
                            "as-is", *QUICK, "--energy", "--json", cwd=tmp_path, env=env, timeout=300)
        assert result.exit_code == 0, result.stderr
        record = json.loads(result.stdout)
        jsonschema.validate(record, SCHEMA)
        (row,) = record["variants"]
        model = power_model(phone.server.device)
        return record, row, model, result.stderr
    finally:
        stop_phone(phone)


def _expected_excess_mw(model) -> float:
    """What the simulated phone's power model drew above idle during the energy run's timed phase (its longest
    busy interval): the number the trace must give back."""
    longest = max(model._busy, key=lambda b: b.end_ns - b.start_ns)
    return model._excess_mw(longest)


@pytest.mark.slow
def test_energy_on_a_pixel_uses_the_rails_that_moved(adb_server, tmp_path, real_fixtures):
    record, row, model, _ = _energy_run(adb_server, tmp_path, real_fixtures, "pixel8")
    energy = row["extra"]["energy"]
    assert energy["source"] == "simulated" and energy["method"] == "rails" and energy["status"] == "ok", json.dumps(energy)
    moved = {r["rail"] for r in energy["rails"] if r["moved"]}
    assert "S2S_VDD_G3D" in moved and "VSYS_PWR_DISPLAY" not in moved
    assert energy["excess_power_mw"] == pytest.approx(_expected_excess_mw(model), rel=0.15)
    assert energy["mj_per_inference"] == pytest.approx(energy["excess_power_mw"] * energy["latency_ms"] / 1000,
                                                rel=1e-4)
    assert energy["samples"]["idle"] >= 10 and energy["samples"]["run"] >= 10
    # the phone charges over USB (the simulated phone's default): rails are unaffected, and the block says so
    assert energy["charging"] is True and any("rails are unaffected" in w for w in energy["warnings"])
    run_dir = tmp_path / "traces" / record["run_id"]
    for name in energy["traces"].values():
        assert read_power(run_dir / name).rails["S2S_VDD_G3D"]
    page = load_in_chromium(run_dir / "report.html", tmp_path)
    assert not page.console, page.console
    assert 'id="energy"' in page.dom and f'data-mj="{energy["mj_per_inference"]}"' in page.dom
    assert "mJ / inference" in page.dom and "simulated" in page.dom


@pytest.mark.slow
def test_energy_on_an_s23_is_the_battery_and_untrusted_while_charging(adb_server, tmp_path, real_fixtures):
    record, row, _, stderr = _energy_run(adb_server, tmp_path, real_fixtures, "s23")
    energy = row["extra"]["energy"]
    assert energy["method"] == "battery" and energy["charging"] is True
    assert energy["status"] == "untrusted" and energy["mj_per_inference"] is None
    assert any("power rails absent" in w for w in energy["warnings"])
    assert any(w.startswith("UNTRUSTED: the phone was charging over USB") for w in energy["warnings"])
    # the console says it, the report's headline says untrusted instead of a number, and its section shows why
    assert "energy: as-is on gpu: no number (untrusted, simulated, battery)" in stderr
    assert "energy: as-is on gpu: UNTRUSTED: the phone was charging over USB" in stderr
    html = (tmp_path / "traces" / record["run_id"] / "report.html").read_text()
    assert '<div class="energy">energy: <span class="status untrusted">untrusted</span>' in html
    assert "energy: not recorded" not in html and "UNTRUSTED: the phone was charging over USB" in html


@pytest.mark.slow
def test_energy_on_an_unplugged_s23_from_the_battery_counters(adb_server, tmp_path, real_fixtures):
    _, row, model, _ = _energy_run(adb_server, tmp_path, real_fixtures, "s23", {faults.CHARGING: "0"})
    energy = row["extra"]["energy"]
    assert energy["method"] == "battery" and energy["status"] == "ok" and energy["charging"] is False
    # the battery sees every load, the hidden rails' included
    assert energy["excess_power_mw"] == pytest.approx(_expected_excess_mw(model), rel=0.15)
    assert energy["mj_per_inference"] > 0


def test_energy_and_sustained_are_for_phones(tmp_path):
    result = run_devlab("run", "--energy", cwd=tmp_path, timeout=120)
    assert result.exit_code == 2
    assert "--energy and --sustained measure a phone" in one_error_line(result.stderr)


@pytest.mark.slow
def test_energy_on_android_12_whose_perfetto_settles_before_the_run(adb_server, tmp_path, real_fixtures):
    """Android 12's perfetto has no --background-wait: devlab gives its data sources 2 s to start, which the run's
    window records as idle before the run; the inferences are still measured on their own."""
    _, row, model, _ = _energy_run(adb_server, tmp_path, real_fixtures, "pixel6-a12")
    energy = row["extra"]["energy"]
    assert energy["method"] == "rails" and energy["status"] == "ok"
    assert energy["excess_power_mw"] == pytest.approx(_expected_excess_mw(model), rel=0.15)


@pytest.mark.slow
def test_the_simulated_data_source_polls_as_traced_probes_does(adb_server, tmp_path, monkeypatch):
    """Through the real adb server: a poll under 100 ms is capped to 100 ms (of simulated time), rail descriptors
    come in the first rails packet only, a phone without rails writes one empty rails packet, and the battery
    packets hold only the counters asked for."""
    from devlab.devices.adb import AdbDevice
    from devlab.devices.resolve import resolve_device
    from devlab.energy.record import _record
    monkeypatch.setenv("ANDROID_ADB_SERVER_PORT", str(adb_server.port))
    for profile, rails in (("pixel8", True), ("s23", False)):
        phone = start_phone(adb_server, tmp_path / profile, profile=profile, time_scale=ENERGY_SCALE)
        try:
            device = resolve_device(phone.serial)
            assert isinstance(device, AdbDevice)
            config = tmp_path / f"{profile}.pbtxt"
            config.write_text(power_config(rails=True, poll_ms=20))
            device.shell(["mkdir", "-p", "/data/misc/perfetto-configs", "/data/misc/perfetto-traces"])
            device.push(config, "/data/misc/perfetto-configs/p.pbtxt")
            window = _record(device, profile, "/data/misc/perfetto-configs/p.pbtxt", tmp_path, profile,
                             lambda: time.sleep(0.1), [])     # 0.1 s = 2 simulated s: 20 polls
        finally:
            stop_phone(phone)
        trace = window.power
        stamps = [b.ts_ns for b in trace.battery]
        assert len(stamps) >= 10
        steps = [b - a for a, b in zip(stamps, stamps[1:])]
        assert min(steps) >= 100e6 * ENERGY_SCALE * 0.99           # capped to 100 ms, not the 20 asked
        assert all(b.current_ua is not None and b.charge_uah is not None and b.voltage_uv is None
                   for b in trace.battery)                          # VOLTAGE was not asked for
        packets = [p for _, p in PacketStream(window.path) if p.HasField("power_rails")]
        if rails:
            assert len(packets) == len(stamps) and len(packets[0].power_rails.rail_descriptor) == 8
            assert not any(p.power_rails.rail_descriptor for p in packets[1:])
            assert all(len(p.power_rails.energy_data) == 8 for p in packets)
        else:
            assert len(packets) == 1 and not packets[0].power_rails.rail_descriptor and not trace.rails
