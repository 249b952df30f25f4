"""The output check (--check-outputs) where it was missing: `devlab farm` asked for it in devlab.toml's [farm] (or
with --check-outputs) gives every phone's rows their numerics blocks, in run.json, farm.json and report.html;
`devlab run --resume` of a --check-outputs run checks the resumed rows on the same inputs and refuses other ones.
All through the installed console script; the farm on simulated phones, the resume on this machine's CPU."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import jsonschema
import numpy as np
import pytest

from cli_helpers import REPO, one_error_line, run_devlab
from devlab.numerics.model_io import inputs_sha256, read_model_io
from numerics_models import overflow_model
from sim_fixtures import adb_server, cli_env, start_phone, stop_phone  # noqa: F401  (fixtures)

SCHEMA = json.loads((REPO / "devlab" / "schemas" / "run.schema.json").read_text())
QUICK = ("--runs", "2", "--min-secs", "0")


def _model_and_inputs(folder: Path, value: float = 0.5) -> tuple[Path, Path, str]:
    """A tiny real .tflite (relu(x*3)/3 + x, no fp16 overflow at this scale) and an .npz for it, with its sha256."""
    model = folder / "small.tflite"
    model.write_bytes(overflow_model(scale=3.0))
    inputs = folder / "inputs" / "in.npz"
    inputs.parent.mkdir(exist_ok=True)
    feeds = {"x": np.linspace(-value, value, 64, dtype=np.float32).reshape(1, 64)}
    np.savez(inputs, **feeds)
    return model, inputs, inputs_sha256(read_model_io(model), feeds)


@pytest.fixture()
def two_phones(adb_server, tmp_path: Path):  # noqa: F811
    phones = [start_phone(adb_server, tmp_path / f"phone{i}", profile) for i, profile in enumerate(("s23", "pixel8"))]
    try:
        yield phones
    finally:
        for phone in phones:
            stop_phone(phone)


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_farm_toml_check_outputs_gives_every_phone_numerics(cli_env, two_phones, tmp_path: Path) -> None:  # noqa: F811
    model, inputs, sha = _model_and_inputs(tmp_path)
    # relative to the toml's folder, not to where devlab runs
    (tmp_path / "devlab.toml").write_text('[farm]\ncheck_outputs = true\ninputs = "inputs/in.npz"\n')
    work = tmp_path / "work"
    work.mkdir()
    devices = ",".join(p.serial for p in two_phones)
    result = run_devlab("farm", "--devices", devices, "--model", str(model), "--variants", "as-is",
                        "--accelerator", "all", *QUICK, "--json", cwd=work, env=cli_env, timeout=500)
    assert result.exit_code == 0, result.stderr
    farm = json.loads(result.stdout)
    farm_dir = work / "traces" / farm["run_id"]
    assert len(farm["devices"]) == 2
    html = (farm_dir / "report.html").read_text()
    for row in farm["devices"]:
        record = json.loads((farm_dir / row["run_dir"] / "run.json").read_text())
        jsonschema.validate(record, SCHEMA)
        assert record["settings"]["check_outputs"] is True
        assert record["settings"]["inputs"] == str(inputs)
        assert {(v["variant"], v["accelerator"]) for v in record["variants"]} == {("as-is", "gpu"), ("as-is", "cpu")}
        for variant in record["variants"]:
            numerics = variant["numerics"]
            assert numerics["status"] == "ok" and numerics["source"] == "simulated", numerics
            assert numerics["inputs_sha256"] == sha                      # the toml's file, not random inputs
            assert numerics["reference"]["inputs"] == "--inputs in.npz"
            assert numerics["outputs"][0]["max_rel_error"] < 0.05
            assert (farm_dir / row["run_dir"] / numerics["arrays"]).is_file()
        for cell in row["variants"]:   # farm.json: the check in short, per cell
            assert cell["numerics"]["status"] == "ok" and cell["numerics"]["worst_rel_error"] < 0.05
            assert cell["numerics"]["non_finite"] is False
        matrix_row = html.split(f'id="farm-{row["device"]}"')[1].split("</tr>")[0]
        assert matrix_row.count('class="numerics ok"') == 2, matrix_row
    assert "<div>numerics: ok</div>" in html          # each phone's headline card
    assert "numerics ok" in result.stderr             # the console table

    # --no-check-outputs overrides the toml: no check, and the missing file of a check not asked for is no error
    (tmp_path / "devlab.toml").write_text('[farm]\ncheck_outputs = true\ninputs = "gone.npz"\n')
    off = run_devlab("farm", "--devices", two_phones[0].serial, "--model", str(model), "--variants", "as-is",
                     "--accelerator", "cpu", *QUICK, "--no-check-outputs", "--json", cwd=work, env=cli_env,
                     timeout=300)
    assert off.exit_code == 0, off.stderr
    (row,) = json.loads(off.stdout)["devices"]
    assert all(cell["numerics"] is None for cell in row["variants"])


@pytest.mark.parametrize("toml, words", [
    ('[farm]\ncheck_outputs = "yes"\n', ("[farm.check_outputs] must be true or false (got 'yes')",
                                          "write check_outputs = true")),
    ('[farm]\ncheck_outputs = true\ninputs = "missing.npz"\n', ("[farm.inputs] names ", "missing.npz, which is not a file",
                                                                  'write inputs = "path/to/inputs.npz"')),
])
def test_a_bad_farm_setting_is_one_line_naming_the_key(tmp_path: Path, toml: str, words: tuple[str, ...]) -> None:
    (tmp_path / "devlab.toml").write_text(toml)
    result = run_devlab("farm", "--devices", "127.0.0.1:1", "--model", "sd-block", cwd=tmp_path, timeout=120)
    assert result.exit_code == 2, result.stderr
    line = one_error_line(result.stderr)
    assert all(word in line for word in words), line
    assert not (tmp_path / "traces").exists()          # refused before any build or phone work


@pytest.fixture(scope="module")
def checked_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str]:
    """A complete `devlab run --check-outputs --inputs` on this machine's CPU: (its folder, the cwd, inputs sha)."""
    work = tmp_path_factory.mktemp("checked")
    model, inputs, sha = _model_and_inputs(work)
    result = run_devlab("run", "--model", str(model), "--variants", "as-is,int8-dynamic,int8-weight-only",
                        "--accelerator", "cpu", "--check-outputs", "--inputs", "inputs/in.npz", *QUICK,
                        "--warmup", "0", "--max-secs", "1", "--json", cwd=work, timeout=300)
    assert result.exit_code == 0, result.stderr
    record = json.loads(result.stdout)
    assert all(v["numerics"]["inputs_sha256"] == sha for v in record["variants"])
    return work / "traces" / record["run_id"], work, sha


def _partial_copy(run_dir: Path, name: str, keep: int) -> Path:
    """The run as a kill after its first `keep` rows leaves it (run.json is rewritten after every row)."""
    copy = run_dir.parent / name
    shutil.copytree(run_dir, copy)
    record = json.loads((copy / "run.json").read_text())
    record["variants"] = record["variants"][:keep]
    (copy / "run.json").write_text(json.dumps(record))
    return copy


@pytest.mark.slow
def test_resume_checks_the_resumed_rows_on_the_same_inputs(checked_run) -> None:
    run_dir, work, sha = checked_run
    partial = _partial_copy(run_dir, "partial", keep=1)
    kept = json.loads((partial / "run.json").read_text())["variants"][0]
    result = run_devlab("run", "--resume", str(partial), "--json", cwd=work, timeout=300)
    assert result.exit_code == 0, result.stderr
    record = json.loads(result.stdout)
    jsonschema.validate(record, SCHEMA)
    assert record["variants"][0] == kept                                    # kept as it was, block and all
    resumed = record["variants"][1:]
    assert [v["variant"] for v in resumed] == ["int8-dynamic", "int8-weight-only"]
    for row in resumed:
        numerics = row["numerics"]
        assert numerics["status"] == "ok" and numerics["source"] == "measured"
        assert numerics["inputs_sha256"] == sha                             # the run's inputs file, found again
        assert numerics["reference"]["variant"] == "as-is"                  # the kept rows' reference
        assert (partial / numerics["arrays"]).is_file()
    assert any("resumed rows' outputs checked too" in note for note in record["notes"])
    assert "numerics: int8-weight-only on cpu: ok" in result.stderr


def test_resume_with_other_inputs_is_refused_naming_both_sha256(checked_run) -> None:
    run_dir, work, sha = checked_run
    partial = _partial_copy(run_dir, "other-inputs", keep=1)
    before = (partial / "run.json").read_text()
    other = work / "other.npz"
    feeds = {"x": np.full((1, 64), 0.25, np.float32)}
    np.savez(other, **feeds)
    other_sha = inputs_sha256(read_model_io(work / "small.tflite"), feeds)
    result = run_devlab("run", "--resume", str(partial), "--inputs", str(other), cwd=work, timeout=300)
    assert result.exit_code == 2, result.stderr
    line = one_error_line(result.stderr)
    assert sha in line and other_sha in line and "other.npz" in line, line
    assert "pass --inputs with the file the run used" in line, line
    assert (partial / "run.json").read_text() == before                     # nothing ran, nothing was rewritten
