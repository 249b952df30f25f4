"""compare and gate on real host runs: an injected 20 % regression is found and gated (exit 3); two sets of runs of
the same thing stay quiet; a significant change inside the equivalence margin is no change; another phone or binary
is said out loud; another model, graph or device model is refused (exit 2) unless forced; the default candidate is
the newest run of the same model and device model."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest

from devlab.report.compare import compare_runs
from devlab.report.gate import evaluate_gate, parse_threshold
from devlab.report.rounds import merge_rounds
from devlab.report.run_match import pick_candidate
from devlab.report.run_record import PARTIAL_NOTE
from devlab.errors import UsageError
from cli_helpers import one_error_line
from report_helpers import devlab, host_run


@pytest.fixture(scope="module")
def baseline_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # 200 runs: the median's interval must stay narrower than the 20 % shift even on a loaded 2-core machine.
    # One thread: two threads on two shared cores stall whenever anything else runs, and the samples then split into
    # two modes (11 ms / 30 ms seen) with the median jumping between them. A run that is still too noisy to resolve
    # 20 % (its own two halves disagree by an interval wider than 20 points) is measured again with more runs, up to
    # three times, as a benchmark harness would; the tests then judge compare on the best run this machine gave.
    best: tuple[float, Path] | None = None
    for attempt, runs in enumerate((200, 400, 800)):   # more runs narrow the median's interval ~ 1/sqrt(runs)
        run_dir = host_run(tmp_path_factory.mktemp(f"base{attempt}"), "--runs", str(runs), "--threads", "1")
        record = json.loads((run_dir / "run.json").read_text())
        halves = compare_runs(_every_other(record, 0), _every_other(record, 1))
        width = max(d.ci_high_pct - d.ci_low_pct for d in halves.variants)
        if best is None or width < best[0]:
            best = (width, run_dir)
        if width < 20.0:
            break
    return best[1]


def _every_other(record: dict, start: int) -> dict:
    half = copy.deepcopy(record)
    for variant in half["variants"]:
        latency = variant["timing"]["latency_ms"]
        latency["samples_ms"] = latency["samples_ms"][start::2]
    return half


def _derived(baseline_dir: Path, tmp: Path, name: str, change, edit=lambda record: None) -> Path:
    """A copy of the baseline run in tmp/name with every variant's samples changed and the record edited."""
    record = json.loads((baseline_dir / "run.json").read_text())
    record = copy.deepcopy(record)
    record["run_id"] = Path(name).name
    for variant in record["variants"]:
        latency = variant["timing"]["latency_ms"]
        latency["samples_ms"] = change(latency["samples_ms"])
    edit(record)
    out = tmp / name
    out.mkdir(parents=True)
    (out / "run.json").write_text(json.dumps(record))
    return out


def _scaled(factor: float):
    return lambda samples: [s * factor for s in samples]


def _halves(baseline_dir: Path, tmp: Path) -> tuple[Path, Path]:
    """The same runs of the same thing, split in two interleaved halves: no change is there to find."""
    return (_derived(baseline_dir, tmp, "even", lambda s: s[0::2]),
            _derived(baseline_dir, tmp, "odd", lambda s: s[1::2]))


def _load(path: Path) -> dict:
    return json.loads((path / "run.json").read_text())


def test_compare_finds_an_injected_20_percent_regression(baseline_dir: Path, tmp_path: Path) -> None:
    slower = _derived(baseline_dir, tmp_path, "slower", _scaled(1.2))
    comparison = compare_runs(_load(baseline_dir), _load(slower), seed=1)
    for delta in comparison.variants:
        assert delta.verdict == "slower" and delta.significant, delta
        assert delta.delta_pct == pytest.approx(20.0, abs=0.01)
        assert 0 < delta.ci_low_pct <= 20.0 <= delta.ci_high_pct
    assert comparison.warnings == ()


def test_compare_stays_quiet_on_two_runs_of_the_same_thing(baseline_dir: Path, tmp_path: Path) -> None:
    even, odd = _halves(baseline_dir, tmp_path)
    comparison = compare_runs(_load(even), _load(odd), seed=3)
    assert [d.significant for d in comparison.variants] == [False, False]
    assert all(d.ci_low_pct < 0 < d.ci_high_pct for d in comparison.variants)


def test_bootstrap_is_seeded(baseline_dir: Path, tmp_path: Path) -> None:
    slower = _derived(baseline_dir, tmp_path, "s", _scaled(1.05))
    a = compare_runs(_load(baseline_dir), _load(slower), seed=5).to_json()
    b = compare_runs(_load(baseline_dir), _load(slower), seed=5).to_json()
    assert a == b


def _another_unit(record: dict) -> None:
    """Another machine of the same model with another benchmark binary: comparable, but said."""
    record["device"]["serial"] = "R5CT"
    record["tools"]["benchmark_model"] = {"sha256": "ab" * 32}


def _another_device_model(record: dict) -> None:
    record["device"].update(serial="R5CT", model="SM-S911B", kind="adb")


def _another_model(record: dict) -> None:
    record["model"]["name"] = "mobilenet-v3"


def _another_graph(record: dict) -> None:
    ops = record["build"]["fp16"]["op_histogram"]
    ops["DEQUANTIZE"] = ops.get("DEQUANTIZE", 0) + 2


def test_compare_cli_json_and_mismatch_warning(baseline_dir: Path, tmp_path: Path) -> None:
    other = _derived(baseline_dir, tmp_path, "other-unit", _scaled(1.0), _another_unit)
    result = devlab("compare", str(baseline_dir), str(other), "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert any("different devices" in w and "R5CT" in w for w in data["warnings"])
    assert any("different benchmark binary benchmark_model" in w for w in data["warnings"])
    assert "warning: different devices" in result.stderr
    assert {v["key"] for v in data["variants"]} == {"fp32/cpu", "fp16/cpu"}
    assert data["differences"] == [] and data["allow_different_models"] is False
    assert data["candidate"] == {"path": str(other), "picked": False, "why": None}


@pytest.mark.slow
@pytest.mark.parametrize("edit, said", [
    (_another_device_model, "different device models: "),
    (_another_model, "different models: sd-block (zoo) vs mobilenet-v3 (zoo)"),
    (_another_graph, "variant fp16 is another graph ("),
])
def test_different_models_graphs_or_device_models_are_refused_unless_forced(baseline_dir: Path, tmp_path: Path,
                                                                           edit, said: str) -> None:
    other = _derived(baseline_dir, tmp_path, "other", _scaled(1.0), edit)
    for command in (("compare", str(baseline_dir), str(other)),
                    ("gate", "--baseline", str(baseline_dir), "--candidate", str(other))):
        refused = devlab(*command)
        assert refused.returncode == 2, refused.stderr
        line = one_error_line(refused.stderr)
        assert "are not comparable: " + said in line and "--allow-different-models" in line
        forced = devlab(*command, "--allow-different-models", "--json")
        assert forced.returncode == 0, forced.stderr
        data = json.loads(forced.stdout)
        comparison = data.get("comparison", data)        # gate nests the comparison in its verdict
        assert comparison["allow_different_models"] is True
        assert len(comparison["differences"]) == 1 and said in comparison["differences"][0]
        assert f"compared anyway (--allow-different-models): {said}" in forced.stderr
        assert "DIFFERENT models or devices compared anyway" in " ".join(forced.stderr.split())   # table caption


def test_same_graph_with_other_bytes_is_a_warning(baseline_dir: Path, tmp_path: Path) -> None:
    def reconverted(record: dict) -> None:
        record["build"]["fp32"]["sha256"] = "cd" * 32
    other = _derived(baseline_dir, tmp_path, "reconverted", _scaled(1.0), reconverted)
    comparison = compare_runs(_load(baseline_dir), _load(other))
    assert comparison.differences == ()
    assert [w for w in comparison.warnings if w.startswith("variant fp32: same graph but other bytes")]
    timing_only = _load(other)
    timing_only["settings"]["constant_weights"] = True
    assert "different setting constant_weights: False vs True" in compare_runs(_load(other), timing_only).warnings


def _tight(record: dict, factor: float, seed: int) -> None:
    """Samples with 0.1 % noise around the run's own median, scaled: any shift of a few tenths is significant."""
    rng = np.random.default_rng(seed)
    for variant in record["variants"]:
        latency = variant["timing"]["latency_ms"]
        median = float(np.median(latency["samples_ms"]))
        latency["samples_ms"] = (median * factor * (1 + 0.001 * rng.standard_normal(200))).tolist()


@pytest.mark.slow
def test_a_significant_change_inside_the_equivalence_margin_is_no_change(baseline_dir: Path, tmp_path: Path) -> None:
    base = _derived(baseline_dir, tmp_path, "tight", _scaled(1.0), lambda r: _tight(r, 1.0, 1))
    small = _derived(baseline_dir, tmp_path, "small", _scaled(1.0), lambda r: _tight(r, 0.992, 2))
    large = _derived(baseline_dir, tmp_path, "large", _scaled(1.0), lambda r: _tight(r, 0.97, 3))
    for delta in compare_runs(_load(base), _load(small)).variants:      # -0.8 %: significant, but inside 2 %
        assert delta.significant and delta.ci_high_pct < 0 and delta.delta_pct == pytest.approx(-0.8, abs=0.1)
        assert delta.verdict == "no change"
        assert "significant but -0.8 % is within the ±2 % equivalence margin" in delta.note
    for delta in compare_runs(_load(base), _load(large)).variants:      # -3 %: beyond the margin
        assert delta.significant and delta.verdict == "faster"
    for delta in compare_runs(_load(base), _load(small), equivalence_margin=0.005).variants:
        assert delta.verdict == "faster"                                 # a finer margin names it
    shown = devlab("compare", str(base), str(small))
    assert shown.returncode == 0, shown.stderr
    assert "faster*" not in shown.stderr and "no change (significant but -0.8 %" in shown.stderr
    finer = devlab("compare", str(base), str(small), "--equivalence-margin", "0.5%", "--json")
    assert finer.returncode == 0, finer.stderr
    data = json.loads(finer.stdout)
    assert data["equivalence_margin_pct"] == pytest.approx(0.5)
    assert [v["verdict"] for v in data["variants"]] == ["faster", "faster"] and "faster*" in finer.stderr
    bad = devlab("compare", str(base), str(small), "--equivalence-margin", "lots")
    assert bad.returncode == 2 and "--equivalence-margin 'lots' is not a number" in one_error_line(bad.stderr)


def test_the_gate_margin_is_never_wider_than_the_allowed_regression(baseline_dir: Path, tmp_path: Path) -> None:
    base = _derived(baseline_dir, tmp_path, "tight", _scaled(1.0), lambda r: _tight(r, 1.0, 1))
    slower = _derived(baseline_dir, tmp_path, "slower", _scaled(1.0), lambda r: _tight(r, 1.015, 4))
    verdict = evaluate_gate(_load(base), _load(slower), 0.01)           # +1.5 % against 1 % allowed
    assert not verdict.passed and all(d.verdict == "slower" for d in verdict.comparison.variants)
    assert verdict.comparison.equivalence_margin_pct == pytest.approx(1.0)
    assert evaluate_gate(_load(base), _load(slower), 0.05).passed       # and inside a 5 % allowance


def _stamped(created: str, partial: bool = False):
    def edit(record: dict) -> None:
        record["created"] = created
        record["notes"] = [PARTIAL_NOTE] if partial else []
    return edit


@pytest.mark.slow
def test_default_candidate_is_the_newest_complete_run_of_the_same_model_and_device_model(
        baseline_dir: Path, tmp_path: Path) -> None:
    root = tmp_path / "runs"
    base = _derived(baseline_dir, root, "base", _scaled(1.0), _stamped("2026-01-01T10:00:00+00:00"))
    _derived(baseline_dir, root, "older", _scaled(1.0), _stamped("2026-01-01T11:00:00+00:00"))
    newest = _derived(baseline_dir, root, "farm/devices/host", _scaled(1.2), _stamped("2026-01-01T12:00:00+00:00"))
    for name, edit in (("phone", _another_device_model), ("model", _another_model)):
        def newer_but_other(record: dict, edit=edit) -> None:
            edit(record)
            _stamped("2026-01-01T13:00:00+00:00")(record)
        _derived(baseline_dir, root, name, _scaled(1.0), newer_but_other)
    _derived(baseline_dir, root, "partial", _scaled(1.0), _stamped("2026-01-01T14:00:00+00:00", partial=True))
    result = devlab("gate", "--baseline", str(base), "--out", str(root), "--json")
    assert result.returncode == 3, result.stderr                        # the newest match is the +20 % one
    data = json.loads(result.stdout)
    assert data["candidate"]["path"] == str(newest) and data["candidate"]["picked"] is True
    assert data["comparison"]["candidate_run"] == "host"
    said = f"candidate: {newest} (the newest complete run of sd-block (zoo) on "
    assert said in result.stderr and "2 matched" in result.stderr       # base itself is not a candidate
    compared = devlab("compare", str(base), "--out", str(root), "--json")
    assert compared.returncode == 0, compared.stderr
    assert json.loads(compared.stdout)["candidate"]["path"] == str(newest)
    lonely = tmp_path / "lonely"
    alone = _derived(baseline_dir, lonely, "base", _scaled(1.0))
    _derived(baseline_dir, lonely, "phone", _scaled(1.0), _another_device_model)
    none = devlab("gate", "--baseline", str(alone), "--out", str(lonely))
    assert none.returncode == 2
    assert "no complete run of sd-block (zoo) on " in one_error_line(none.stderr)


def test_a_newer_run_of_a_model_file_with_other_bytes_is_passed_over_and_said(baseline_dir: Path,
                                                                              tmp_path: Path) -> None:
    def model_file(sha: str, created: str):
        def edit(record: dict) -> None:
            record["model"] = {"name": "mnv3", "type": "tflite", "path": "mnv3.tflite", "sha256": sha}
            _stamped(created)(record)
        return edit
    root = tmp_path / "runs"
    base = _derived(baseline_dir, root, "base", _scaled(1.0), model_file("a" * 64, "2026-01-01T10:00:00+00:00"))
    same = _derived(baseline_dir, root, "same", _scaled(1.0), model_file("a" * 64, "2026-01-01T11:00:00+00:00"))
    edited = _derived(baseline_dir, root, "edited", _scaled(1.0), model_file("b" * 64, "2026-01-01T12:00:00+00:00"))
    pick = pick_candidate(base, _load(base), root)
    assert pick.path == same
    assert f"1 newer runs of a model named mnv3 with other bytes were passed over (e.g. {edited})" in pick.said


def test_gate_exits_3_naming_the_regressed_variant(baseline_dir: Path, tmp_path: Path) -> None:
    slower = _derived(baseline_dir, tmp_path, "cand", _scaled(1.2))
    junit = tmp_path / "gate.xml"
    result = devlab("gate", "--baseline", str(baseline_dir), "--candidate", str(slower), "--max-regression", "5%",
                    "--junit", str(junit))
    assert result.returncode == 3, result.stderr
    assert "fp32/cpu: +20.0 % slower" in result.stderr and "allowed 5 %" in result.stderr
    assert junit.read_text().count("<failure ") == 2


def test_gate_passes_within_the_threshold_and_on_noise(baseline_dir: Path, tmp_path: Path) -> None:
    slower = _derived(baseline_dir, tmp_path, "bit", _scaled(1.2))
    assert evaluate_gate(_load(baseline_dir), _load(slower), 0.25).passed     # 20 % < allowed 25 %
    even, odd = _halves(baseline_dir, tmp_path)
    result = devlab("gate", "--baseline", str(even), "--candidate", str(odd))
    assert result.returncode == 0, result.stderr
    assert "gate passed" in result.stderr


def test_gate_fails_when_a_variant_breaks(baseline_dir: Path, tmp_path: Path) -> None:
    broken = _derived(baseline_dir, tmp_path, "broken", _scaled(1.0))
    record = _load(broken)
    record["variants"][1].update(status="failed", timing=None, error="clean run failed: GPU delegate crashed")
    (broken / "run.json").write_text(json.dumps(record))
    verdict = evaluate_gate(_load(baseline_dir), record, 0.05)
    assert not verdict.passed
    assert "fp16/cpu" in verdict.summary() and "GPU delegate crashed" in verdict.summary()


def test_runs_without_samples_are_compared_on_means(baseline_dir: Path) -> None:
    base = _load(baseline_dir)
    cand = copy.deepcopy(base)
    for record, factor in ((base, 1.0), (cand, 1.2)):
        for variant in record["variants"]:
            latency = variant["timing"]["latency_ms"]
            latency["mean_ms"] *= factor
            latency["samples_ms"] = []        # classic benchmark_model output: count/mean/std only
    delta = compare_runs(base, cand).variants[0]
    assert delta.method == "welch-mean" and delta.delta_pct == pytest.approx(20.0)
    assert delta.ci_low_pct < 20.0 < delta.ci_high_pct


@pytest.mark.parametrize("text, value", [("5%", 0.05), ("0.05", 0.05), ("12.5 %", 0.125)])
def test_threshold_parsing(text: str, value: float) -> None:
    assert parse_threshold(text) == pytest.approx(value)


def test_bad_threshold_is_a_usage_error() -> None:
    with pytest.raises(UsageError):
        parse_threshold("five")


def _in_rounds(record: dict, rounds: int, change=lambda samples: samples, drop_samples: bool = False) -> dict:
    """The record as `devlab farm --rounds N` writes it: N rows per variant, each holding every N-th run."""
    out = copy.deepcopy(record)
    rows = []
    for round_index in range(rounds):
        for variant in record["variants"]:
            row = copy.deepcopy(variant)
            samples = np.asarray(change(variant["timing"]["latency_ms"]["samples_ms"][round_index::rounds]))
            latency = row["timing"]["latency_ms"]
            latency.update(count=len(samples), mean_ms=float(samples.mean()), std_ms=float(samples.std(ddof=1)),
                           min_ms=float(samples.min()), max_ms=float(samples.max()),
                           samples_ms=[] if drop_samples else samples.tolist())
            row["extra"] = {**row.get("extra", {}), "farm_step": {"round": round_index}}
            rows.append(row)
    out["variants"] = rows
    return out


def test_rounds_of_one_variant_are_merged_before_comparing(baseline_dir: Path) -> None:
    base = _load(baseline_dir)
    slower = _in_rounds(base, 3, change=lambda s: [x * 1.2 for x in s])
    comparison = compare_runs(base, slower, seed=2)
    assert [d.key for d in comparison.variants] == ["fp32/cpu", "fp16/cpu"]     # one row per variant, not per round
    for delta, variant in zip(comparison.variants, base["variants"]):
        assert delta.verdict == "slower" and delta.candidate_runs == len(variant["timing"]["latency_ms"]["samples_ms"])
        assert "candidate: 3 rounds merged" in delta.note
    quiet = compare_runs(_in_rounds(base, 2), _in_rounds(base, 2), seed=2)
    assert [d.verdict for d in quiet.variants] == ["no change", "no change"]


def test_rounds_without_samples_combine_into_the_exact_mean_and_std_of_all_runs(baseline_dir: Path) -> None:
    base = _load(baseline_dir)
    merged = merge_rounds(_in_rounds(base, 4, drop_samples=True)["variants"])
    assert len(merged) == len(base["variants"])
    for row, variant in zip(merged, base["variants"]):
        everything = np.asarray(variant["timing"]["latency_ms"]["samples_ms"])
        latency = row["timing"]["latency_ms"]
        assert latency["count"] == len(everything)
        assert latency["mean_ms"] == pytest.approx(everything.mean(), rel=1e-9)
        assert latency["std_ms"] == pytest.approx(everything.std(ddof=1), rel=1e-9)
        assert latency["min_ms"] == everything.min() and latency["max_ms"] == everything.max()
        assert latency["median_ms"] is None and latency["p90_ms"] is None   # not derivable from round summaries


def test_a_failed_round_is_left_out_and_said(baseline_dir: Path) -> None:
    record = _in_rounds(_load(baseline_dir), 2)
    record["variants"][0].update(status="failed", timing=None, error="device offline")
    merged = {(r["variant"], r["accelerator"]): r for r in merge_rounds(record["variants"])}
    fp32 = merged[("fp32", "cpu")]
    assert fp32["status"] == "ok" and fp32["merge_note"] == "merged 1 of 2 rounds (1 failed, left out)"
    record["variants"][2].update(status="failed", timing=None, error="device offline")
    assert merge_rounds(record["variants"])[0]["status"] == "failed"


def test_compare_html_page_shows_both_headlines_and_every_delta(baseline_dir: Path, tmp_path: Path) -> None:
    from report_helpers import load_in_chromium
    slower = _derived(baseline_dir, tmp_path, "slower-html", _scaled(1.2))
    html_path = tmp_path / "compare.html"
    result = devlab("compare", str(baseline_dir), str(slower), "--html", str(html_path), "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    page = load_in_chromium(html_path, tmp_path)
    assert page.console == []
    assert 'id="headline-baseline"' in page.dom and 'id="headline-candidate"' in page.dom
    assert page.dom.count('class="card"') == 2          # one cpu headline card per run
    for delta in data["variants"]:
        row = page.dom.split(f'id="delta-{delta["variant"]}-{delta["accelerator"]}"')[1].split("</tr>")[0]
        assert f'{delta["delta_pct"]:.1f} %' in row and delta["verdict"] in row
        assert f'{delta["ci_low_pct"]:+.1f} %' in row and f'{delta["ci_high_pct"]:+.1f} %' in row
    assert "http://" not in page.dom.replace("http://www.w3.org/2000/svg", "")


def test_merged_rounds_say_whose_per_inference_samples_they_show(baseline_dir: Path) -> None:
    record = _in_rounds(_load(baseline_dir), 2)
    for round_index, row in enumerate(record["variants"]):
        row["kernels"] = {"source": "estimated", "rows": [{"kernel": "k", "ms_per_inference": 1.0 + round_index}],
                          "invoke_latency": {"count": 3, "samples_ms": [1.0, 2.0, 3.0], "run": "trace run (profiled)"}}
    merged = merge_rounds(record["variants"])[0]["kernels"]
    assert merged["invoke_latency"]["run"] == "trace run (profiled) (round 1 of 2)"
    assert merged["invoke_latency"]["samples_ms"] == [1.0, 2.0, 3.0]       # one trace run's, never averaged
