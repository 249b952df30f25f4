"""report.html: written by every run, rebuilt by `devlab report`, rendered by a real headless Chromium."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from report_helpers import devlab, host_run, load_in_chromium


@pytest.fixture(scope="module")
def host_run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return host_run(tmp_path_factory.mktemp("runs"))


def test_the_browser_check_catches_console_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.html"
    bad.write_text("<html><body><script>console.error('boom'); missingFunction();</script></body></html>")
    page = load_in_chromium(bad, tmp_path)
    assert any("boom" in line for line in page.console)
    assert any("missingFunction" in line for line in page.console)


def test_host_run_report_renders_without_console_errors(host_run_dir: Path, tmp_path: Path) -> None:
    record = json.loads((host_run_dir / "run.json").read_text())
    page = load_in_chromium(host_run_dir / "report.html", tmp_path)
    assert page.console == []
    assert 'data-report-ready="1"' in page.dom           # the page's script ran to its end
    for variant in record["variants"]:
        latency = variant["timing"]["latency_ms"]
        row = page.dom.split(f'id="latency-{variant["variant"]}-cpu"')[1].split("</tr>")[0]
        assert f'{latency["median_ms"]:.3f}' in row and f'{latency["mean_ms"]:.3f}' in row
        assert "measured" in row
        assert f'run {latency["count"]}: ' in page.dom   # one dot per timed run in the distribution
    assert record["tools"]["ai-edge-litert"] in page.dom
    assert 'href="logs/fp32-cpu.log"' in page.dom
    assert "SIMULATED" not in page.dom
    assert "Delegation map" in page.dom and "Tensor dimensions must be less than 5" in page.dom
    reasons = page.dom.split("and the rewrite that fixes it")[1].split("</table>")[0]
    five_d = reasons.split("Tensor dimensions must be less than 5", 1)[1].split("</tr>")[0]
    assert 'class="fix">groupnorm-4d' in five_d          # the rejected-op group names the rewrite that fixes it
    assert "http://" not in page.dom.replace("http://www.w3.org/2000/svg", "")   # nothing to fetch
    assert "https://" not in page.dom


def test_report_command_rebuilds_the_same_page(host_run_dir: Path) -> None:
    path = host_run_dir / "report.html"
    written_by_run = path.read_text()
    path.unlink()
    result = devlab("report", str(host_run_dir))
    assert result.returncode == 0, result.stderr
    assert path.read_text() == written_by_run


def test_report_of_a_missing_run_is_a_usage_error(tmp_path: Path) -> None:
    result = devlab("report", str(tmp_path / "nothing"))
    assert result.returncode == 2 and "no run record" in result.stderr


def test_the_headline_answers_first_with_numbers_recomputed_from_the_samples(host_run_dir: Path,
                                                                            tmp_path: Path) -> None:
    import numpy as np
    record = json.loads((host_run_dir / "run.json").read_text())
    page = load_in_chromium(host_run_dir / "report.html", tmp_path)
    assert page.console == []
    assert page.dom.index('id="headline"') < page.dom.index('id="latency"')   # before the reader scrolls
    medians = {v["variant"]: float(np.median(v["timing"]["latency_ms"]["samples_ms"])) for v in record["variants"]}
    fastest = min(medians, key=medians.get)
    card = page.dom.split('id="headline-cpu"')[1].split("</div></div>")[0]
    assert f'data-fastest="{fastest}"' in page.dom and f"{medians[fastest]:.3f}" in card and "measured" in card
    if fastest != "fp32":
        speedup = medians["fp32"] / medians[fastest]
        assert f"{speedup:.2f}× vs fp32" in card
        low, high = (float(x) for x in re.search(r"95 %: ([\d.]+)× – ([\d.]+)×", card).groups())
        assert low <= speedup <= high
        assert "bootstrap of the medians" in card
    else:
        assert "the reference variant itself" in card
    assert "energy: not recorded" in card and "numerics: not checked" in card
