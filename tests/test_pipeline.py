"""`devlab pipeline`: definition errors, the host end-to-end run and the composed run on the simulated phone, all
through the installed devlab script. The component builds are shared by the module (one working folder), so the
three sd-small conversions happen once."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import numpy as np
import pytest

from cli_helpers import REPO, run_devlab
from sim_fixtures import adb_server, sim_phone  # noqa: F401  (fixtures)

SCHEMA = json.loads((REPO / "devlab" / "schemas" / "run.schema.json").read_text())
SD_SMALL = (REPO / "devlab" / "pipeline" / "definitions" / "sd-small.toml").read_text()


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("pipeline-work")


def _definition(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "my pipeline.toml"
    path.write_text(text)
    return path


def _error_line(result) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ") and " — " in lines[0]
    return lines[0]


@pytest.mark.parametrize("edit, key", [
    (lambda t: t.replace("invocations = 40", "invocations = 39"), "components[1].invocations"),
    (lambda t: t.replace("invocations = 2\n", "", 1), "components[0].invocations"),
    (lambda t: t.replace('role = "unet"', 'role = "denoiser"'), "components[1].role"),
    (lambda t: t.replace("unet_batch = 1", "unet_batch = 3"), "unet_batch"),
    (lambda t: t.replace("steps = 20", 'steps = "twenty"'), "steps"),
    (lambda t: t.replace("guidance_scale = 7.5", "guidance_scale = 7.5\nsampler = \"ddim\""), "sampler"),
    (lambda t: t.replace('variant = "gpu"', "variant = 16", 1), "components[0].variant"),
    (lambda t: t.replace('model = "sd-small-unet"\n', "", 1), "components[1].model"),
    (lambda t: t.replace('model = "sd-small-vae-decoder"', 'model = "sd-small-vae"'), "components[2].model:"),
    (lambda t: t.replace('variant = "gpu"\ninvocations = 1', 'variant = "gpu+int4"\ninvocations = 1'),
     "components[2].variant:"),
])
def test_a_bad_pipeline_file_is_one_line_naming_the_key(tmp_path, edit, key):
    path = _definition(tmp_path, edit(SD_SMALL))
    result = run_devlab("pipeline", "run", str(path), cwd=tmp_path, timeout=120)
    assert result.exit_code == 2
    line = _error_line(result)
    assert f"{path}: {key} " in line
    assert not (tmp_path / "traces").exists() and not (tmp_path / "models").exists()   # nothing built or run


def test_invalid_toml_unknown_pipeline_and_missing_file_are_usage_errors(tmp_path):
    path = _definition(tmp_path, SD_SMALL.replace("steps = 20", "steps = = 20"))
    result = run_devlab("pipeline", "run", str(path), cwd=tmp_path, timeout=120)
    assert result.exit_code == 2 and "is not valid TOML" in _error_line(result) and "line" in result.stderr
    result = run_devlab("pipeline", "run", "sd-smal", cwd=tmp_path, timeout=120)
    assert result.exit_code == 2 and "sd-small, sd14" in _error_line(result)
    result = run_devlab("pipeline", "run", str(tmp_path / "none.toml"), cwd=tmp_path, timeout=120)
    assert result.exit_code == 2 and "does not exist" in _error_line(result)


def test_gpu_on_a_host_without_one_stops_before_building(tmp_path):
    from devlab.devices.host import HostDevice
    if HostDevice().has_gpu:
        pytest.skip("this machine has a GPU adapter LiteRT can use")
    result = run_devlab("pipeline", "run", "sd-small", "--accelerator", "gpu", cwd=tmp_path, timeout=120)
    assert result.exit_code == 1 and "GPU" in _error_line(result)
    assert not (tmp_path / "models").exists()


def test_ddim_schedule_is_sd14s():
    # diffusers' DDIMScheduler for SD 1.4: 1000 training steps, step ratio 1000 // 20 = 50, steps_offset 1, and
    # scaled-linear betas from 0.00085 to 0.012 (alphas_cumprod[0] = 1 - 0.00085)
    from devlab.pipeline.host_run import ddim_timesteps
    timesteps, alphas = ddim_timesteps(20)
    assert list(timesteps) == list(range(951, 0, -50))
    assert alphas[0] == pytest.approx(1 - 0.00085) and alphas[-1] == pytest.approx(0.0047, abs=2e-4)


@pytest.mark.slow
def test_sd_small_runs_end_to_end_on_the_host_in_one_process(workdir):
    result = run_devlab("pipeline", "run", "sd-small", "--seed", "3", "--json", cwd=workdir, timeout=900)
    assert result.exit_code == 0, result.stderr
    record = json.loads(result.stdout)
    jsonschema.validate(record, SCHEMA)
    section = record["pipeline"]
    assert section["mode"] == "end-to-end" and section["end_to_end"]["source"] == "measured"
    assert record["model"] == {"name": "sd-small", "type": "pipeline", "file": section["definition"]["file"]}
    assert [(c["role"], c["invocations"]) for c in section["components"]] == [
        ("text_encoder", 2), ("unet", 40), ("vae_decoder", 1)]
    # every invocation timed, and the end-to-end wall time holds them all plus the hand-over glue
    rows = {row["extra"]["component"]: row for row in record["variants"]}
    for component in section["components"]:
        latency = rows[component["role"]]["timing"]["latency_ms"]
        assert latency["count"] == component["invocations"] == len(latency["samples_ms"])
        assert component["total_ms"] == pytest.approx(sum(latency["samples_ms"]), rel=1e-6)
        assert component["init_cold_ms"] > 0 and component["init_warm_ms"] > 0   # CPU: XNNPACK weight cache
        assert component["peak_memory"]["source"] == "measured" and component["peak_memory"]["load_bytes"] > 0
        assert component["memory_plan"]["activations_planned_bytes"] > 0
    end = section["end_to_end"]
    assert end["invocations_ms"] < end["ms"] and end["glue_ms"] == pytest.approx(end["ms"] - end["invocations_ms"])
    assert sum(c["share"] for c in section["components"]) == pytest.approx(1.0)
    assert section["peak_memory"]["bytes"] > 0 and "VmHWM" in section["peak_memory"]["method"]
    run_dir = workdir / "traces" / record["run_id"]
    image = np.load(run_dir / "image.npy")
    assert image.shape == (1, 128, 128, 3) and np.isfinite(image).all() and image.std() > 0.01
    assert "end to end (measured)" in result.stderr

    # the tensors are really handed on: the same seed decodes the same image, another seed another one
    again = json.loads(run_devlab("pipeline", "run", "sd-small", "--seed", "3", "--json", cwd=workdir,
                                  timeout=900).stdout)
    other = json.loads(run_devlab("pipeline", "run", "sd-small", "--seed", "4", "--json", cwd=workdir,
                                  timeout=900).stdout)
    same = np.load(workdir / "traces" / again["run_id"] / "image.npy")
    different = np.load(workdir / "traces" / other["run_id"] / "image.npy")
    assert np.array_equal(image, same) and np.abs(image - different).mean() > 1e-3


@pytest.mark.slow
def test_components_that_do_not_fit_are_refused_naming_the_key(workdir):
    text = SD_SMALL.replace('model = "sd-small-vae-decoder"', 'model = "sd-small-text-encoder"')
    path = workdir / "mismatch.toml"
    path.write_text(text)
    result = run_devlab("pipeline", "run", str(path), cwd=workdir, timeout=900)
    assert result.exit_code == 2
    assert "components[2].model takes [1, 16]" in _error_line(result)


@pytest.mark.slow
def test_sd_small_on_the_simulated_phone_is_composed_never_measured(cli_env, sim_phone, workdir):
    result = run_devlab("pipeline", "run", "sd-small", "--device", "s23", "--runs", "3", "--json",
                        "--delegate-serialize-dir", "/data/local/tmp/devlab/gpu-cache", cwd=workdir, env=cli_env,
                        timeout=900)
    assert result.exit_code == 0, result.stderr
    record = json.loads(result.stdout)
    jsonschema.validate(record, SCHEMA)
    section = record["pipeline"]
    assert section["mode"] == "composed" and section["end_to_end"]["source"] == "composed"
    assert section["end_to_end"]["components_sources"] == ["simulated"]
    assert record["device"]["simulated"] is True
    composed = sum(c["invocations"] * c["median_ms"] for c in section["components"])
    assert section["end_to_end"]["ms"] == pytest.approx(composed)
    for component in section["components"]:
        assert component["timing_source"] == "simulated"
        component_run = json.loads((Path(component["run"]) / "run.json").read_text())
        row = next(r for r in component_run["variants"] if r["status"] == "ok")
        assert row["timing"]["latency_ms"]["median_ms"] == pytest.approx(component["median_ms"])
        assert component_run["model"]["name"] == component["model"]
        # warm: loaded again from the program cache the first run wrote (the simulated phone compiles less)
        assert component["warm_init"].startswith("GPU delegate program cache")
        assert 0 < component["init_warm_ms"] < component["init_cold_ms"]
    cache = sim_phone.root / "data" / "local" / "tmp" / "devlab" / "gpu-cache"
    assert len(list(cache.iterdir())) == 3   # one serialized program set per component
    assert "measured" not in {section["end_to_end"]["source"], *section["end_to_end"]["components_sources"]}
    assert "end to end (composed)" in result.stderr
