"""devlab farm over simulated phones behind a real adb server: parallel, leased, interleaved, thermally gated, and
one phone dropping midway costs only its own remaining steps."""

from __future__ import annotations

import json
import threading
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from devlab.farm.farm import FARM_JSON
from devlab.devices.leases import DeviceLease
from devlab.farm.schedule import interleaved_steps
from devlab.report.compare import compare_runs
from devlab.report.gate import evaluate_gate
from devlab.report.junit import farm_suites, write_junit
from report_helpers import sim_farm
from sim_fixtures import start_phone, stop_phone


@pytest.fixture(scope="module")
def farm(adb_server, tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("farm")
    phones = [start_phone(adb_server, root / f"phone{i}", "s23" if i % 2 == 0 else "pixel8") for i in range(4)]
    try:
        yield sim_farm(adb_server, root, phones, victim_index=1)
    finally:
        for phone in phones:
            stop_phone(phone)


def test_every_healthy_phone_keeps_all_its_results(farm) -> None:
    outcome = farm.outcome
    assert not outcome.ok and len(outcome.devices) == 4
    healthy = [d for d in outcome.devices if d.name != farm.victim]
    for device in healthy:
        assert device.error is None
        cells = {(v["variant"], v["accelerator"]): v for v in device.record["variants"]}
        assert set(cells) == {("fp32", "gpu"), ("fp32", "cpu"), ("fp16", "gpu"), ("fp16", "cpu")}
        assert all(v["status"] == "ok" and v["timing"]["source"] == "simulated" for v in cells.values())
        assert device.record["device"]["simulated"] is True
        assert (device.run_dir / "run.json").is_file() and (device.run_dir / "report.html").is_file()


def test_the_phone_that_dropped_midway_keeps_its_first_step(farm) -> None:
    (victim,) = [d for d in farm.outcome.devices if d.name == farm.victim]
    variants = victim.record["variants"]
    first = min(variants, key=lambda v: v["extra"]["farm_step"]["order"])
    assert first["status"] == "ok" and first["timing"]["latency_ms"]["mean_ms"] > 0
    rest = [v for v in variants if v is not first]
    assert len(rest) == 3 and all(v["status"] == "failed" and v["error"] for v in rest)


def test_farm_json_has_the_per_device_table_and_temperatures(farm) -> None:
    data = json.loads((farm.outcome.run_dir / FARM_JSON).read_text())
    rows = {row["device"]: row for row in data["devices"]}
    assert set(rows) == {p.serial for p in farm.phones} and data["ok"] is False
    assert rows[farm.victim]["status"] == "partial"
    for name, row in rows.items():
        assert (farm.outcome.run_dir / row["run_dir"] / "run.json").is_file()
        ok_cells = [c for c in row["variants"] if c["status"] == "ok"]
        for cell in ok_cells:
            assert cell["median_ms"] is not None or cell["mean_ms"] is not None
            # the simulated phones report a battery temperature: recorded before and after every run
            assert cell["thermal"]["before_c"] > 0 and cell["thermal"]["after_c"] > 0
            assert cell["thermal"]["source"] == "simulated"
        if name != farm.victim:
            assert len(ok_cells) == 4


def test_steps_ran_in_parallel_and_in_each_phones_seeded_order(farm) -> None:
    # Parallel means the phones' busy windows overlap in time. (Completion order proves nothing: on a loaded
    # machine one phone can finish all its steps while the others are still pushing their first variant.)
    windows = []
    for device in farm.outcome.devices:
        steps = [v["extra"]["farm_step"] for v in device.record["variants"]]
        assert all(0 <= s["start_s"] <= s["end_s"] for s in steps)
        windows.append((min(s["start_s"] for s in steps), max(s["end_s"] for s in steps)))
    windows.sort()
    assert any(later_start < end for (_, end), (later_start, _) in zip(windows, windows[1:])), windows
    for device in farm.outcome.devices:
        order = sorted(device.record["variants"], key=lambda v: v["extra"]["farm_step"]["order"])
        seed = device.record["settings"]["farm"]["order_seed"]
        expected = interleaved_steps(["fp32", "fp16"], ["gpu", "cpu"], 1, seed)
        assert [(v["variant"], v["accelerator"]) for v in order] == [(s.variant, s.accelerator) for s in expected]


def test_interleaved_steps_shuffle_each_round_reproducibly() -> None:
    a = interleaved_steps(["a", "b", "c"], ["gpu"], 3, seed=7)
    assert a == interleaved_steps(["a", "b", "c"], ["gpu"], 3, seed=7)
    assert [s.index for s in a] == list(range(9))
    for round_index in range(3):
        assert sorted(s.variant for s in a if s.round == round_index) == ["a", "b", "c"]
    orders = {tuple(s.variant for s in a if s.round == r) for r in range(3)}
    others = {tuple(s.variant for s in interleaved_steps(["a", "b", "c"], ["gpu"], 3, seed=s_)) for s_ in range(20)}
    assert len(orders | others) > 1


def test_farm_junit_has_a_case_per_device_and_variant(farm, tmp_path: Path) -> None:
    path = write_junit(tmp_path / "farm.xml",
                       farm_suites([(d.name, d.record, d.error) for d in farm.outcome.devices]))
    root = ET.parse(path).getroot()
    assert root.tag == "testsuites" and root.get("tests") == "16" and root.get("failures") == "3"
    victim_cases = [c for c in root.iter("testcase") if c.get("classname").startswith("devlab.")
                    and c.find("failure") is not None]
    assert len(victim_cases) == 3
    assert all(c.find("failure").get("message") for c in victim_cases)


def test_thermal_gate_waits_and_records_when_the_phone_stays_hot(adb_server, tmp_path: Path) -> None:
    phone = start_phone(adb_server, tmp_path / "hot", "s23")
    try:
        run = sim_farm(adb_server, tmp_path, [phone], victim_index=None, max_temp_c=20.0, thermal_timeout_s=0.3)
    finally:
        stop_phone(phone)
    (device,) = run.outcome.devices
    for variant in device.record["variants"]:
        thermal = variant["extra"]["thermal"]
        assert thermal["cooled_below_max"] is False and thermal["max_c"] == 20.0
        assert 0.25 <= thermal["waited_s"] < 5 and thermal["before_c"] >= 20.0


def test_a_leased_phone_fails_clearly_then_waits_for_its_lease(adb_server, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    phone = start_phone(adb_server, tmp_path / "busy", "pixel8")
    monkeypatch.setenv("DEVLAB_HOME", str(tmp_path / "home"))
    try:
        with DeviceLease(phone.serial, root=tmp_path / "home" / "leases"):
            busy = sim_farm(adb_server, tmp_path, [phone], victim_index=None, lease_timeout_s=0.3)
        (device,) = busy.outcome.devices
        assert device.record is None and "is leased by pid" in device.error and "--lease-timeout" in device.error

        holder = DeviceLease(phone.serial, root=tmp_path / "home" / "leases").__enter__()
        threading.Timer(0.8, lambda: holder.__exit__(None, None, None)).start()
        started = time.monotonic()
        waited = sim_farm(adb_server, tmp_path, [phone], victim_index=None, lease_timeout_s=20)
        (device,) = waited.outcome.devices
        assert device.error is None and time.monotonic() - started >= 0.7
        assert any("lease waited" in note for note in device.record["notes"])
    finally:
        stop_phone(phone)


def test_rounds_are_merged_per_variant_by_compare_and_gate(adb_server, tmp_path: Path) -> None:
    phone = start_phone(adb_server, tmp_path / "rounds", "s23")
    try:
        run = sim_farm(adb_server, tmp_path, [phone], victim_index=None, rounds=2)
    finally:
        stop_phone(phone)
    (device,) = run.outcome.devices
    assert len(device.record["variants"]) == 2 * 2 * 2   # variants x accelerators x rounds
    comparison = compare_runs(device.record, device.record)
    assert sorted(d.key for d in comparison.variants) == ["fp16/cpu", "fp16/gpu", "fp32/cpu", "fp32/gpu"]
    for delta in comparison.variants:
        # simulated phone rows carry count/mean/std only (like benchmark_model): means compared, rounds pooled
        assert delta.method == "welch-mean" and delta.verdict == "no change"
        counts = [v["timing"]["latency_ms"]["count"] for v in device.record["variants"] if v["variant"] == delta.variant
                  and v["accelerator"] == delta.accelerator]
        assert "baseline: 2 rounds merged" in delta.note and len(counts) == 2
        assert delta.baseline_runs == sum(counts) and min(counts) >= 10
    assert evaluate_gate(device.record, device.record, 0.05).passed


def test_farm_report_shows_every_phone_side_by_side(farm, tmp_path: Path) -> None:
    from report_helpers import load_in_chromium
    data = json.loads((farm.outcome.run_dir / FARM_JSON).read_text())
    page = load_in_chromium(farm.outcome.run_dir / "report.html", tmp_path)
    assert page.console == []
    assert 'id="simulated-banner"' in page.dom
    for row in data["devices"]:
        matrix_row = page.dom.split(f'id="farm-{row["device"]}"')[1].split("</tr>")[0]
        for cell in row["variants"]:
            if cell["status"] == "ok":
                value = cell["median_ms"] if cell["median_ms"] is not None else cell["mean_ms"]
                assert f"{value:.3f}" in matrix_row and "simulated" in matrix_row
            else:
                assert cell["status"] in matrix_row            # the dropped phone's failed step is shown, not hidden
        assert f'href="{row["run_dir"]}/report.html"' in page.dom
    assert page.dom.count('class="card"') >= len(data["devices"]) - 1   # a headline per phone that measured
    # every phone's trace run side by side: its per-inference distribution, GPU clock and hottest zone
    section = page.dom.split('<h2 id="invokes">')[1]
    traced = 0
    for device in farm.outcome.devices:
        for v in (device.record or {"variants": []})["variants"]:
            latency = (v.get("kernels") or {}).get("invoke_latency")
            if not latency:
                continue
            traced += 1
            row = section.split(f'data-device="{device.name}" data-variant="{v["variant"]}-{v["accelerator"]}"')[1]
            row = row.split("</tr>")[0]
            assert f'{latency["p50_ms"]:.3f}' in row and f'{v["kernels"]["temperatures"][0]["max_c"]:.1f}' in row
            assert v["kernels"]["temperatures"][0]["zone"] in row and "simulated" in row
    assert traced >= 3 and section.count('class="dot"') == sum(
        len(v["kernels"]["invoke_latency"]["samples_ms"]) for d in farm.outcome.devices
        for v in (d.record or {"variants": []})["variants"] if (v.get("kernels") or {}).get("invoke_latency"))
