"""`devlab run` on this machine end to end: real TF conversion, real LiteRT runs, run.json against its schema."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from cli_helpers import REPO, CliResult, run_devlab

SCHEMA = json.loads((REPO / "devlab" / "schemas" / "run.schema.json").read_text())


@pytest.fixture(scope="module")
def host_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, CliResult]:
    workdir = tmp_path_factory.mktemp("host-run")
    result = run_devlab("run", "--runs", "5", "--warmup", "1", "--min-secs", "0", "--json", cwd=workdir)
    assert result.exit_code == 0, result.stderr
    return workdir, result


def test_run_writes_a_schema_valid_record_with_three_measured_variants(host_run: tuple[Path, CliResult]) -> None:
    workdir, result = host_run
    record = json.loads(result.stdout)
    jsonschema.validate(record, SCHEMA)
    cpu_rows = [v for v in record["variants"] if v["accelerator"] == "cpu"]
    assert [v["variant"] for v in cpu_rows] == ["fp32", "fp16", "int8-dynamic"]
    for row in cpu_rows:
        assert row["status"] == "ok", row["error"]
        timing = row["timing"]
        assert timing["source"] == "measured"
        latency = timing["latency_ms"]
        assert latency["count"] >= 5 and len(latency["samples_ms"]) == latency["count"]
        assert 0 < latency["min_ms"] <= latency["median_ms"] <= latency["max_ms"]
        assert latency["min_ms"] <= latency["mean_ms"] <= latency["max_ms"]
        assert timing["init_ms"] > 0 and timing["first_run_ms"] > 0
        log = workdir / "traces" / record["run_id"] / row["logs"]["runtime"]
        assert log.is_file()
    assert record["device"]["serial"] == "host" and record["device"]["simulated"] is False


def test_run_folder_holds_the_same_record(host_run: tuple[Path, CliResult]) -> None:
    workdir, result = host_run
    record = json.loads(result.stdout)
    on_disk = json.loads((workdir / "traces" / record["run_id"] / "run.json").read_text())
    assert on_disk == record


def test_build_manifest_records_each_variant(host_run: tuple[Path, CliResult]) -> None:
    workdir, result = host_run
    record = json.loads(result.stdout)
    manifest = json.loads((workdir / "models" / "build" / "sd-block" / "manifest.json").read_text())
    by_name = {v["name"]: v for v in manifest["variants"]}
    import hashlib
    for name in ("fp32", "fp16", "int8-dynamic"):
        entry = by_name[name]
        data = Path(entry["path"]) if Path(entry["path"]).is_absolute() else workdir / entry["path"]
        assert hashlib.sha256(data.read_bytes()).hexdigest() == entry["sha256"]
        assert entry["bytes"] == data.stat().st_size
        assert sum(entry["op_histogram"].values()) > 10
        assert entry["recipe"]["quantization"] in ("none", "fp16", "int8-dynamic")
        assert entry["delegation"]["source"] == "estimated"
    assert by_name["fp32"]["equivalence"] is None
    assert by_name["fp16"]["equivalence"]["passed"] is True
    assert by_name["fp16"]["bytes"] < by_name["fp32"]["bytes"]
    assert record["build"]["fp16"]["sha256"] == by_name["fp16"]["sha256"]


def test_second_run_reuses_the_build_cache(host_run: tuple[Path, CliResult]) -> None:
    workdir, _ = host_run
    variant = workdir / "models" / "build" / "sd-block" / "fp32.tflite"
    before = variant.stat().st_mtime_ns
    result = run_devlab("build", "sd-block", cwd=workdir)
    assert result.exit_code == 0, result.stderr
    assert variant.stat().st_mtime_ns == before
    assert "yes" in result.stderr  # the manifest table's `cached` column


def test_no_gpu_is_said_once_and_the_run_goes_on(host_run: tuple[Path, CliResult]) -> None:
    _, result = host_run
    record = json.loads(result.stdout)
    if record["device"]["gpu"]:
        pytest.skip(f"this machine has a GPU adapter ({record['device']['gpu']})")
    gpu_notes = [n for n in record["notes"] if "GPU" in n]
    assert len(gpu_notes) == 1
    assert result.stderr.count("GPU runs skipped") == 1


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (("run", "--variants", "fp32,nope"), 2, "unknown variant 'nope'"),
        (("run", "--model", "does/not/exist.tflite"), 2, "is neither a zoo model nor an existing file"),
        (("run", "--device", "nokia3310"), 2, "nokia3310"),
        (("run", "--runs", "0"), 2, "--runs must be at least 1"),
        (("build", "sd-block", "--variants", "gpu,as-is"), 2, "unknown variant 'as-is'"),
    ],
)
def test_bad_input_gives_one_clear_line(tmp_path: Path, args: tuple[str, ...], code: int, message: str) -> None:
    result = run_devlab(*args, cwd=tmp_path)
    assert result.exit_code == code
    assert "Traceback" not in result.stderr
    error_lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(error_lines) == 1 and message in error_lines[0]
    assert " — " in error_lines[0]  # the fix follows the problem


def test_corrupt_model_file(tmp_path: Path) -> None:
    corrupt = tmp_path / "broken model.tflite"
    corrupt.write_bytes(b"\x00" * 64)
    result = run_devlab("build", str(corrupt), cwd=tmp_path)
    assert result.exit_code == 2
    assert "is not a TFLite model" in result.stderr and "Traceback" not in result.stderr
    assert corrupt.read_bytes() == b"\x00" * 64  # nothing the user had is touched


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    result = run_devlab("--debug", "run", "--variants", "nope", cwd=tmp_path)
    assert result.exit_code == 2 and "Traceback" in result.stderr


def test_version_and_help() -> None:
    from devlab import __version__
    version = run_devlab("--version")
    assert version.exit_code == 0 and version.stdout.strip() == f"devlab {__version__}"
    help_text = run_devlab("--help")
    assert help_text.exit_code == 0
    for command in ("build", "run", "devices"):
        assert command in help_text.stdout


def test_devices_lists_the_host(tmp_path: Path) -> None:
    result = run_devlab("devices", "--json", cwd=tmp_path)
    assert result.exit_code == 0, result.stderr
    hosts = [d for d in json.loads(result.stdout) if d["serial"] == "host"]
    assert len(hosts) == 1 and hosts[0]["model"]


def test_host_run_writes_a_perfetto_trace_of_every_timed_inference(host_run: tuple[Path, CliResult]) -> None:
    from devlab.trace.analysis import analyze
    workdir, result = host_run
    record = json.loads(result.stdout)
    ok_rows = [v for v in record["variants"] if v["status"] == "ok"]
    trace = workdir / "traces" / record["run_id"] / ok_rows[0]["logs"]["trace"]
    summary = analyze(trace).to_json()
    assert summary["errors"] == []
    invoke = next(s for s in summary["slices"] if s["name"] == "Invoke")
    assert invoke["count"] == sum(v["timing"]["latency_ms"]["count"] for v in ok_rows)
    total_ms = sum(sum(v["timing"]["latency_ms"]["samples_ms"]) for v in ok_rows)
    assert abs(invoke["total_ms"] - total_ms) < 0.01 * total_ms
    assert any("per-inference" in note for note in record["notes"])
