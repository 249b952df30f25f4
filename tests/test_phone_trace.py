"""The trace run of the phone measurement plan, end to end: the real CLI, the real adb server, the simulated s23 with
its perfetto and benchmark_model. Expected numbers come from the simulator's documented cost model
(devlab/sim/costmodel.py), never from the attribution code under test."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import jsonschema
import pytest

from cli_helpers import REPO, devlab_script, run_devlab
from devlab.bench.phone_tool import PhoneBenchOptions
from devlab.bench.log_parser import parse_benchmark_log
from devlab.bench.op_profile import parse_op_profile_csv
from devlab.build.gpu_compat import plan_gpu_delegation
from devlab.build.tflite_graph import read_tflite
from devlab.runner import RunRequest, run
from devlab.sim.costmodel import plan_costs
from devlab.sim.profiles import get_profile
from devlab.trace.record import TRACE_PROP
from devlab.trace.analysis import analyze
from sim_fixtures import adb_server, free_port, sim_phone, start_phone, stop_phone  # noqa: F401  (fixtures)

SCHEMA = json.loads((REPO / "devlab" / "schemas" / "run.schema.json").read_text())
CONFORMER = "models/litert/torchaudio_conformer.tflite"     # 100 ops on the GPU, 38 CPU fallbacks
QUICK = ("--runs", "3", "--warmup", "1", "--min-secs", "0.05", "--max-secs", "5", "--cooldown", "0")
UI = "https://ui.perfetto.dev"


@pytest.fixture(scope="module")
def traced_run(adb_server, sim_phone, tmp_path_factory, real_fixtures):  # noqa: F811
    """One `devlab run --device s23` of the conformer, with debug.tflite.trace set to a user's own value first."""
    work = tmp_path_factory.mktemp("traced")
    env = {"ANDROID_ADB_SERVER_PORT": str(adb_server.port), "DEVLAB_HOME": str(work / "home"),
           "DEVLAB_BENCHMARK_MODEL": ""}
    assert sim_phone.shell("setprop", TRACE_PROP, "2").returncode == 0
    model = work / "conformer.tflite"
    shutil.copyfile(real_fixtures / CONFORMER, model)
    result = run_devlab("run", "--device", "s23", "--model", str(model), "--variants", "as-is", *QUICK, "--json",
                        cwd=work, env=env, timeout=300)
    prop_after = sim_phone.shell("getprop", TRACE_PROP).stdout.strip()
    sim_phone.shell("setprop", TRACE_PROP, "0")
    assert result.exit_code == 0, result.stderr
    record = json.loads(result.stdout)
    return record, work / "traces" / record["run_id"], result, prop_after, model


def _expected_shares(model: Path) -> dict[str, float]:
    """The cost model's table for a clean inference on the s23 (defaults: 4 threads, fp16 allowed)."""
    graph = read_tflite(model)
    plan = plan_gpu_delegation(graph)
    costs = plan_costs(graph, plan, get_profile("s23").cost, threads=4, fp16=True)
    total = costs.total_us
    shares = {k.label: k.us / total for k in costs.kernels}
    shares.update({f"{graph.ops[n].op}@{n}": us / total for n, us in costs.cpu_us.items()})
    shares["CPU<->GPU copies + sync"] = costs.copy_us / total
    return shares


def test_every_variant_has_a_kernel_table_that_sums_to_the_clean_mean(traced_run) -> None:
    record, run_dir, result, prop_after, model = traced_run
    jsonschema.validate(record, SCHEMA)
    on_disk = json.loads((run_dir / "run.json").read_text())
    assert prop_after == "2"          # the user's own value is back after the trace run
    graph = read_tflite(model)
    for row in on_disk["variants"]:
        assert row["status"] == "ok", row["error"]
        clean_mean = row["timing"]["latency_ms"]["mean_ms"]
        kernels = row["kernels"]
        assert kernels["source"] == "estimated" and kernels["clean_source"] == "simulated"
        assert kernels["inputs"] == ["clean run", "op-profile", "trace", "model graph"]
        total = sum(k["ms_per_inference"] for k in kernels["rows"])
        assert abs(total - clean_mean) <= 0.01 * clean_mean, (total, clean_mean)
        kinds = {k["kind"] for k in kernels["rows"]}
        assert {"gpu_kernel", "cpu_op", "copy_sync", "unattributed"} <= kinds
        for k in kernels["rows"]:
            for node, op in k["ops"]:                 # node indices and types are the model's
                assert graph.ops[node].op == op
            if k["kind"] == "gpu_kernel":
                assert k["unit"] == "GPU" and k["ops"] and k["calls_per_inference"] == 1
                assert k["mean_ms"] > 0 and k["p50_ms"] > 0 and k["p90_ms"] >= k["p50_ms"]
            if k["kind"] == "cpu_op":
                assert k["unit"] == "CPU" and len(k["ops"]) == 1 and k["p50_ms"] is not None
        freq = kernels["gpu_frequency"]    # the s23 profile's GPU runs at 680 MHz throughout
        assert (freq["min_khz"], freq["mean_khz"], freq["max_khz"]) == (680_000, 680_000, 680_000)
        # a simulated phone's trace numbers are the simulator's, and say so
        assert freq["samples"] >= 3 and freq["throttled"] is False and freq["source"] == "simulated"
        assert len(freq["series"]) == freq["samples"] and freq["series"][0][0] == 0.0
        assert all(khz == 680_000 for _, khz in freq["series"])
        assert len(kernels["top_kernels"]) == 5
        trace_info = row["extra"]["trace"]
        assert "gpu.renderstages.adreno" in trace_info["offered"] and "gpu.renderstages.adreno" in trace_info["used"]
        assert {"atrace", "sched", "gpufreq", "gpu.renderstages"} <= set(trace_info["arrived"])
        assert trace_info["errors"] == [] and row["logs"]["trace"] == f"{row['variant']}.perfetto-trace"
        assert trace_info["status"] == "complete" and trace_info["incomplete"] == []
        assert trace_info["started_with"] == "--background-wait" and trace_info["leftover_sessions"] == 0
        assert (run_dir / row["logs"]["trace"]).stat().st_size > 0
        assert "Inference timings in us" in (run_dir / row["logs"]["trace-run"]).read_text()   # the tool's log
        assert (run_dir / row["logs"]["trace_config"]).read_text().startswith("buffers")
    # the console table shows the top kernels, labelled with their provenance
    assert "top kernels, estimated" in result.stderr and "estimated from op-profile" in result.stderr


def test_shares_match_the_cost_model(traced_run) -> None:
    record, run_dir, _, _, model = traced_run
    expected = _expected_shares(model)
    rows = {k["kernel"]: k for k in record["variants"][0]["kernels"]["rows"]}
    assert set(expected) <= set(rows)
    for name, share in expected.items():
        # op-profile rows are printed with 3 decimals (ms): a few microseconds of rounding per row. The copies row
        # is derived (delegate wall time - 2 x its kernels), so the seeded per-run noise of both terms (the s23's
        # noise_rel is 3 %) lands on it undivided: it gets twice the tolerance (a profiling pass left in would put
        # it near 50 %, far outside).
        derived = name == "CPU<->GPU copies + sync"
        assert rows[name]["share"] == pytest.approx(share, rel=0.06 if derived else 0.03, abs=0.002), name
    assert rows["unattributed"]["share"] == pytest.approx(0, abs=0.01)


def test_the_trace_holds_tflite_slices_and_render_stages_named_like_the_op_profile(traced_run) -> None:
    record, run_dir, _, _, model = traced_run
    row = record["variants"][0]
    summary = analyze(run_dir / row["logs"]["trace"])
    assert summary.errors == ()
    names = {s.name for s in summary.slices}
    plan = plan_gpu_delegation(read_tflite(model))
    cpu_nodes = [n for n in range(len(read_tflite(model).ops)) if n not in set(plan.delegated)]
    assert "Invoke@0/0" in names and summary.slice("Invoke@0/0").count >= 4     # warm-up + timed runs
    assert summary.status == "complete" and summary.lost_data == ()
    assert {f"{read_tflite(model).ops[n].op}@{n}/0" for n in cpu_nodes} <= names
    assert any(re.fullmatch(r"TfLiteGpuDelegateV2@\d+/0", n) for n in names)
    profile = parse_op_profile_csv((run_dir / row["logs"]["op_profile_csv"]).read_text())
    kernel_labels = {r.kernel_label for r in profile.run_rows() if r.is_gpu_kernel}
    assert kernel_labels and {s.name for s in summary.gpu_render_stages} == kernel_labels


def test_trace_open_serves_the_run_trace_to_the_perfetto_ui(traced_run) -> None:
    record, run_dir, _, _, _ = traced_run
    trace = run_dir / record["variants"][0]["logs"]["trace"]
    port = free_port()
    printed = run_devlab("trace", "open", str(trace), "--port", str(port), "--no-serve", timeout=60)
    assert printed.exit_code == 0, printed.stderr
    link = printed.stdout.strip()
    assert link.startswith(f"{UI}/#!/?url=")
    url = urllib.parse.unquote(link.split("?url=", 1)[1])
    assert url == f"http://127.0.0.1:{port}/{urllib.parse.quote(trace.name)}"
    server = subprocess.Popen([str(devlab_script()), "trace", "open", str(trace), "--port", str(port)],
                              env={**__import__("os").environ, "PYTHONPATH": str(REPO)}, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    try:
        assert server.stdout.readline().strip() == link         # the same link, now served
        deadline = time.monotonic() + 20
        while True:
            try:
                request = urllib.request.Request(url, headers={"Origin": UI})
                with urllib.request.urlopen(request, timeout=5) as response:
                    body, cors = response.read(), response.headers["Access-Control-Allow-Origin"]
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        assert body == trace.read_bytes() and cors == UI
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_a_failing_trace_run_keeps_the_clean_and_op_profile_results(cli_env, sim_phone, tmp_path,  # noqa: F811
                                                                    real_fixtures) -> None:
    # perfetto cannot write its output where a folder of the same name sits: the trace run fails after setprop
    blocker = sim_phone.root / "data/misc/perfetto-traces/as-is.perfetto-trace"
    blocker.unlink(missing_ok=True)      # left by the module's earlier runs
    blocker.mkdir(parents=True)
    try:
        request = RunRequest(model=str(real_fixtures / CONFORMER), device="s23", variants="as-is",
                             out_root=tmp_path / "traces", build_root=tmp_path,
                             phone=PhoneBenchOptions(num_runs=3, warmup_runs=1, min_secs=0.05))
        outcome = run(request)
    finally:
        blocker.rmdir()
    assert sim_phone.shell("getprop", TRACE_PROP).stdout.strip() == "0"
    row = json.loads((outcome.run_dir / "run.json").read_text())["variants"][0]
    assert row["status"] == "ok" and row["timing"]["latency_ms"]["mean_ms"] > 0
    # perfetto opens its output when it starts (perfetto_cmd.cc), so it refuses to start, after the setprop
    assert "starting perfetto failed" in row["extra"]["trace_error"]
    assert "Failed to open /data/misc/perfetto-traces/as-is.perfetto-trace" in row["extra"]["trace_error"]
    kernels = row["kernels"]
    assert kernels["basis"] == "op-profile" and "trace" not in kernels["inputs"]
    total = sum(k["ms_per_inference"] for k in kernels["rows"])
    assert abs(total - row["timing"]["latency_ms"]["mean_ms"]) <= 0.01 * row["timing"]["latency_ms"]["mean_ms"]
    assert kernels["gpu_frequency"] is None and "trace" not in row["logs"]
    assert (outcome.run_dir / row["logs"]["op_profile_csv"]).is_file()


def test_no_trace_skips_the_trace_run(cli_env, sim_phone, tmp_path, real_fixtures) -> None:  # noqa: F811
    result = run_devlab("run", "--device", "s23", "--model", str(real_fixtures / "models/litert/add_10x10.tflite"),
                        "--variants", "as-is", "--no-trace", *QUICK, "--json", cwd=tmp_path, env=cli_env, timeout=300)
    assert result.exit_code == 0, result.stderr
    row = json.loads(result.stdout)["variants"][0]
    assert "trace" not in row["logs"] and "trace" not in row["extra"]
    assert row["kernels"]["inputs"] == ["clean run", "op-profile", "model graph"]
    assert not list((tmp_path / "traces").rglob("*.perfetto-trace"))


def test_trace_record_command(cli_env, sim_phone, tmp_path, real_fixtures) -> None:  # noqa: F811
    model = real_fixtures / CONFORMER
    result = run_devlab("trace", "record", "--device", "s23", "--model", str(model), "--variant", "as-is",
                        "--runs", "3", "--json", cwd=tmp_path, env=cli_env, timeout=300)
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    trace = Path(data["trace"])
    assert trace.is_file() and trace.name == "as-is.perfetto-trace"
    assert {"atrace", "gpu.renderstages"} <= set(data["arrived"])
    assert data["status"] == "complete" and data["incomplete"] == [] and "trace complete" in result.stderr
    summary = analyze(trace)
    assert data["summary"]["slices"] == json.loads(json.dumps(summary.to_json()))["slices"]
    assert summary.slice("Invoke@0/0").count >= 3
    assert f"trace: {trace}" in result.stderr and "GPU render stages" in result.stderr
    assert sim_phone.shell("getprop", TRACE_PROP).stdout.strip() == "0"


def _trace_only_run(adb_server, tmp_path: Path, real_fixtures: Path, **phone_options):  # noqa: F811
    """`devlab run` of the conformer with the trace as the only profiled run, on a fresh simulated phone started
    with phone_options; (the CLI result, its run.json checked against the schema, the model file)."""
    phone = start_phone(adb_server, tmp_path / "phone", **phone_options)
    try:
        env = {"ANDROID_ADB_SERVER_PORT": str(adb_server.port), "DEVLAB_HOME": str(tmp_path / "home"),
               "DEVLAB_BENCHMARK_MODEL": ""}
        model = tmp_path / "conformer.tflite"
        shutil.copyfile(real_fixtures / CONFORMER, model)
        result = run_devlab("run", "--device", phone.serial, "--model", str(model), "--variants", "as-is",
                            "--no-op-profile", *QUICK, "--json", cwd=tmp_path, env=env, timeout=300)
    finally:
        stop_phone(phone)
    assert result.exit_code == 0, result.stderr
    record = json.loads(result.stdout)
    jsonschema.validate(record, SCHEMA)
    return result, record, model


@pytest.mark.slow
@pytest.mark.parametrize("profile, tool", [("s23", "classic"), ("pixel6-a12", "classic"), ("s23", "litert")])
def test_trace_only_attribution_comes_from_tflite_invoke_slices(adb_server, tmp_path, real_fixtures,  # noqa: F811
                                                                profile, tool) -> None:
    """`devlab run` with the trace as the only profiled run, on Android 14 (perfetto with --background-wait, table
    --query) and Android 12 (neither): a complete trace whose kernel table comes from the `Invoke@0/0` slices
    TFLite's ATrace profiler writes, with the shares of the simulator's cost model."""
    result, record, model = _trace_only_run(adb_server, tmp_path, real_fixtures, profile=profile,
                                            benchmark_tool=tool)
    row = record["variants"][0]
    trace_info, kernels = row["extra"]["trace"], row["kernels"]
    row["extra"]["trace"] = {**trace_info, "status": "partly"}          # the schema holds the status words
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(record, SCHEMA)
    assert trace_info["status"] == "complete" and trace_info["errors"] == [], trace_info
    assert trace_info["started_with"] == ("--background-wait" if profile == "s23" else "--background")
    vendor = "adreno" if profile == "s23" else "mali"
    assert trace_info["used"] == ["linux.ftrace", "linux.process_stats", f"gpu.counters.{vendor}",
                                  f"gpu.renderstages.{vendor}"]
    assert kernels["basis"] == "trace" and kernels["inputs"] == ["clean run", "trace", "model graph"]
    rows = {k["kernel"]: k for k in kernels["rows"]}
    assert not any(k.startswith("Invoke") for k in rows)
    # the partition's own slice (LITERT_CL / TfLiteGpuDelegateV2) is split into GPU kernels and copies+sync
    assert {"gpu_kernel", "copy_sync"} <= {k["kind"] for k in rows.values()}
    assert not any(k["unit"] == "CPU" and k["kernel"].startswith(("LITERT_CL", "TfLite")) for k in rows.values())
    graph = read_tflite(model)
    plan = plan_gpu_delegation(graph)
    costs = plan_costs(graph, plan, get_profile(profile).cost, threads=4, fp16=True)
    for node, us in costs.cpu_us.items():      # every CPU-fallback op, named <op>@<node> from its ATrace slice
        assert rows[f"{graph.ops[node].op}@{node}"]["share"] == pytest.approx(us / costs.total_us, rel=0.05,
                                                                              abs=0.002)
    total = sum(k["ms_per_inference"] for k in kernels["rows"])
    assert total == pytest.approx(row["timing"]["latency_ms"]["mean_ms"], rel=0.01)


def test_trace_invokes_last_what_the_benchmark_log_says(traced_run) -> None:
    """The phone's trace clock is simulated time: an Invoke slice lasts what the trace run's own log reports, at any
    time scale (the suite runs the simulator 500x faster than a phone; its trace must not be 500x shorter)."""
    record, run_dir, _, _, _ = traced_run
    row = record["variants"][0]
    log = parse_benchmark_log((run_dir / row["logs"]["trace-run"]).read_text())
    logged_ms = log.runs[-1].inference.avg_us / 1000
    invokes = next(s for s in analyze(run_dir / row["logs"]["trace"]).slices if s.name == "Invoke@0/0")
    assert invokes.p50_ms == pytest.approx(logged_ms, rel=0.05)


def test_per_inference_latency_comes_from_the_trace_runs_invokes(traced_run) -> None:
    record, run_dir, result, _, _ = traced_run
    row = record["variants"][0]
    summary = analyze(run_dir / row["logs"]["trace"])
    invokes = next(s for s in summary.slices if s.name == "Invoke@0/0")
    latency = row["kernels"]["invoke_latency"]
    assert latency["source"] == "simulated" and "profiled" in latency["run"]
    assert latency["count"] == invokes.count == len(latency["samples_ms"])
    assert latency["samples_ms"] == [round(v, 4) for v in invokes.samples_ms]     # in run order
    assert latency["max_ms"] == pytest.approx(max(latency["samples_ms"]), abs=1e-4)
    assert latency["min_ms"] <= latency["p50_ms"] <= latency["p90_ms"] <= latency["p99_ms"] <= latency["max_ms"]
    # a profiled run runs the GPU graph twice: slower than the clean run it is shown beside
    assert latency["mean_ms"] > row["timing"]["latency_ms"]["mean_ms"]
    assert f"trace run Invokes (profiled, not the clean latency): p50 {latency['p50_ms']:.3f}" in result.stderr


def test_each_thermal_zone_over_the_trace_run_from_the_kernels_events(traced_run) -> None:
    """thermal/thermal_temperature is in devlab's config; the simulated kernel updates every zone of the profile
    from its heat model, so the zones are the profile's, each no cooler than its idle temperature."""
    record, run_dir, result, _, _ = traced_run
    row = record["variants"][0]
    profile = get_profile("s23")
    zones = {z["zone"]: z for z in row["kernels"]["temperatures"]}
    assert set(zones) == {zone.type for zone in profile.thermal_zones}
    for zone in profile.thermal_zones:
        z = zones[zone.type]
        assert z["source"] == "simulated" and z["samples"] >= 2 and len(z["series"]) == z["samples"]
        assert zone.temp_millic / 1000 - 0.05 <= z["min_c"] <= z["mean_c"] <= z["max_c"] < zone.temp_millic / 1000 + 30
    assert [z["max_c"] for z in row["kernels"]["temperatures"]] == \
        sorted((z["max_c"] for z in zones.values()), reverse=True)       # hottest first
    summary = analyze(run_dir / row["logs"]["trace"])
    assert {c.name for c in summary.counters if c.name.startswith("temp.")} == {f"temp.{z}" for z in zones}
    assert "temperatures (simulated): hottest zone" in result.stderr


def test_an_ftrace_event_the_phone_refuses_is_said_not_lost(adb_server, tmp_path, real_fixtures) -> None:  # noqa: F811
    """A user build may not let perfetto enable thermal/thermal_temperature: traced_probes lists it in the
    START_OF_TRACE ftrace_stats' failed_ftrace_events and records none. The trace stays complete; run.json, the
    console and the report say the temperatures are absent because the phone refused them."""
    result, record, _ = _trace_only_run(adb_server, tmp_path, real_fixtures,
                                        fault_props={"devlab.fault.ftrace_refused": "thermal/thermal_temperature"})
    row = record["variants"][0]
    refusal = "thermal/thermal_temperature: failed to enable (permissions, or a conflicting option)"
    assert row["extra"]["trace"]["refused"] == [refusal] and row["extra"]["trace"]["status"] == "complete"
    assert row["kernels"]["temperatures"] == [] and row["kernels"]["gpu_frequency"]["samples"] >= 3
    assert f"the phone would not record {refusal}" in " ".join(result.stderr.split())
    page = (tmp_path / "traces" / record["run_id"] / "report.html").read_text()
    assert f'class="sub temperatures-refused">Temperatures: not recorded: the phone refused {refusal}' in page
