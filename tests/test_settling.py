"""The settle-in detector: a timed series that started before the device settled is said, never trimmed."""

from __future__ import annotations

import json
import random

import pytest

from cli_helpers import one_error_line, run_devlab
from devlab.bench.settling import settle_in

# SD 1.4's text encoder (gpu variant) on the lent H200 after a 2-run warm-up, `devlab run --runs 50 --min-secs 1`,
# the first 30 of its 100 timed runs as run.json holds them (ms)
H200_TEXT_ENCODER = [25.98, 25.88, 26.0, 25.75, 25.87, 26.4, 26.03, 25.78, 14.18, 9.07, 8.88, 8.75, 8.69, 8.69,
                     8.88, 8.58, 8.61, 8.79, 8.78, 8.6, 8.9, 8.57, 8.76, 8.57, 8.72, 8.62, 8.66, 8.67, 8.72, 8.82]


def test_a_gpu_still_raising_its_clocks_is_said():
    found = settle_in(H200_TEXT_ENCODER)
    assert found is not None and found.leading_runs == 9
    assert found.settled_median_ms == pytest.approx(8.67, abs=0.01)       # the second half's median
    assert found.ratio == pytest.approx(25.94 / 8.67, rel=0.01)
    note = found.note(len(H200_TEXT_ENCODER))
    assert note.startswith("the first 9 of 30 timed runs were 3.0x slower") and "--warmup-secs" in note


def test_a_settled_series_with_noise_and_outliers_is_not_flagged():
    rng = random.Random(7)
    for _ in range(200):
        series = [8.6 * rng.uniform(0.9, 1.1) for _ in range(40)]
        series[0] *= 2.5                  # a first-run outlier and a preemption are noise, not a regime
        series[rng.randrange(1, 40)] *= 3
        assert settle_in(series) is None


def test_short_series_and_a_slow_end_are_not_settling():
    assert settle_in(H200_TEXT_ENCODER[:9]) is None                 # too few runs to tell a start from a rest
    assert settle_in(list(reversed(H200_TEXT_ENCODER))) is None     # slowing down at the end is not a settle-in


def test_warmup_secs_reaches_the_run_and_a_bad_value_is_one_line(tmp_path, real_fixtures):
    model = real_fixtures / "models/poco_x3/mnv3_seg_float.tflite"
    env = {"DEVLAB_HOME": str(tmp_path / "home")}
    bad = run_devlab("run", "--model", str(model), "--warmup-secs", "-1", cwd=tmp_path, env=env, timeout=120)
    assert bad.exit_code == 2 and "--warmup-secs must be a number of seconds >= 0" in one_error_line(bad.stderr)
    ok = run_devlab("run", "--model", str(model), "--variants", "as-is", "--accelerator", "cpu", "--runs", "3",
                    "--min-secs", "0", "--warmup", "0", "--warmup-secs", "0.3", "--json", cwd=tmp_path, env=env,
                    timeout=300)
    assert ok.exit_code == 0, ok.stderr
    assert json.loads(ok.stdout)["settings"]["warmup_min_secs"] == 0.3
