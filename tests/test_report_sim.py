"""Reports of simulated phone runs (made by the farm over the simulated phone): the SIMULATED label, the kernel
table with bars, the delegation map from prediction and report, rendered in headless Chromium; and the Model
Explorer overlay, checked against the graph Model Explorer's own TFLite adapter builds."""

from __future__ import annotations

import html
import shutil
import json
from pathlib import Path

import pytest

from devlab.report.model_explorer import node_latency, write_node_data
from report_helpers import devlab, load_in_chromium, sim_farm
from sim_fixtures import start_phone, stop_phone


@pytest.fixture(scope="module")
def sim_run_dir(adb_server, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("simrun")
    phone = start_phone(adb_server, root / "phone", "s23")
    try:
        farm = sim_farm(adb_server, root, [phone], victim_index=None)
    finally:
        stop_phone(phone)
    (device,) = farm.outcome.devices
    assert device.error is None, device.error
    return device.run_dir


def test_simulated_report_renders_labelled_with_kernels(sim_run_dir: Path, tmp_path: Path) -> None:
    record = json.loads((sim_run_dir / "run.json").read_text())
    page = load_in_chromium(sim_run_dir / "report.html", tmp_path)
    assert page.console == []
    assert 'id="simulated-banner"' in page.dom and "SIMULATED phone" in page.dom
    gpu = next(v for v in record["variants"] if v["accelerator"] == "gpu" and v["variant"] == "fp32")
    kernels = gpu["kernels"]
    section = page.dom.split('id="kernels-fp32-gpu"')[1].split("<h3")[0]
    top = max(kernels["rows"], key=lambda r: r["ms_per_inference"])
    assert html.escape(top["kernel"], quote=False) in section and f'{top["ms_per_inference"]:.3f}' in section
    assert 'class="bar GPU"' in section and "estimated" in section
    assert f'{kernels["clean_mean_ms"]:.3f}' in section
    latency_row = page.dom.split('id="latency-fp32-gpu"')[1].split("</tr>")[0]
    assert f'{gpu["timing"]["latency_ms"]["mean_ms"]:.3f}' in latency_row and "simulated" in latency_row
    assert "Reported by the runtime" in page.dom and 'class="node gpu"' in page.dom
    assert 'href="logs/fp32-gpu-op-profile.csv"' in page.dom


def test_model_explorer_overlay_matches_the_adapters_graph(sim_run_dir: Path, tmp_path: Path) -> None:
    adapter = pytest.importorskip("ai_edge_model_explorer_adapter")
    record = json.loads((sim_run_dir / "run.json").read_text())
    out = tmp_path / "overlay.json"
    result = devlab("report", str(sim_run_dir), "--model-explorer", str(out), "--variant", "fp32/gpu")
    assert result.returncode == 0, result.stderr
    data = json.loads(out.read_text())
    assert list(data) == ["main"]
    graph_data = data["main"]
    assert [g["stop"] for g in graph_data["gradient"]] == [0, 0.5, 1]
    graph = json.loads(adapter.ConvertFlatbufferDirectlyToJson(
        adapter.VisualizeConfig(), str(Path(record["build"]["fp32"]["path"]).resolve()
                                      if Path(record["build"]["fp32"]["path"]).is_absolute()
                                      else Path(__file__).resolve().parents[1] / record["build"]["fp32"]["path"])))
    (subgraph,) = [s for s in graph[0]["subgraphs"] if s["id"] == "main"]
    labels = {node["id"]: node["label"] for node in subgraph["nodes"]}
    kernels = next(v for v in record["variants"] if v["variant"] == "fp32" and v["accelerator"] == "gpu")["kernels"]
    op_of = {node: op for row in kernels["rows"] for node, op in row["ops"]}
    assert graph_data["results"]
    for node_id, result_value in graph_data["results"].items():
        assert labels[node_id] == op_of[int(node_id)].lower()   # the same op, by Model Explorer's own reading
        assert result_value["value"] > 0
    per_node, unplaced = node_latency(kernels)
    assert sum(per_node.values()) + unplaced == pytest.approx(kernels["clean_mean_ms"], rel=0.02)


def test_model_explorer_needs_a_kernel_table(tmp_path: Path) -> None:
    record = {"run_id": "r", "variants": [{"variant": "fp32", "accelerator": "cpu", "kernels": None}]}
    from devlab.errors import UsageError
    with pytest.raises(UsageError, match="no kernel table"):
        write_node_data(record, tmp_path / "x.json")


def test_simulated_report_headline_and_stacked_bars(sim_run_dir: Path, tmp_path: Path) -> None:
    record = json.loads((sim_run_dir / "run.json").read_text())
    page = load_in_chromium(sim_run_dir / "report.html", tmp_path)
    assert page.console == []
    gpu_rows = [v for v in record["variants"] if v["accelerator"] == "gpu" and v["status"] == "ok"]
    fastest = min(gpu_rows, key=lambda v: v["timing"]["latency_ms"]["mean_ms"])
    card = page.dom.split('id="headline-gpu"')[1].split("</div></div>")[0]
    assert f'{fastest["timing"]["latency_ms"]["mean_ms"]:.3f}' in card and "simulated" in card   # never "measured"
    assert "measured" not in card
    if fastest["variant"] != "fp32":
        assert "normal approximation on the means" in card    # phone rows carry no per-run samples
    # one stacked bar per variant with kernels, its segments summing to the clean mean the rows were scaled to
    for v in record["variants"]:
        if not (v.get("kernels") or {}).get("rows"):
            continue
        label = f'{v["variant"]} on {v["accelerator"]}'
        bar = page.dom.split(f'<span class="stack-label">{label}</span>')[1].split('<div class="stack-row">')[0]
        parts = {chunk.split('"')[0]: float(chunk.split('data-ms="')[1].split('"')[0])
                 for chunk in bar.split('data-part="')[1:]}
        assert parts and sum(parts.values()) == pytest.approx(v["kernels"]["clean_mean_ms"], rel=0.011)
        gpu_ms = sum(r["ms_per_inference"] for r in v["kernels"]["rows"] if r["kind"] in ("gpu_kernel", "gpu_delegate"))
        if gpu_ms > 0:
            assert parts["GPU kernels"] == pytest.approx(gpu_ms, rel=1e-4)


def test_report_lists_the_runtimes_delegation_per_subgraph(sim_run_dir: Path, tmp_path: Path) -> None:
    record = json.loads((sim_run_dir / "run.json").read_text())
    page = load_in_chromium(sim_run_dir / "report.html", tmp_path)
    gpu = next(v for v in record["variants"] if v["accelerator"] == "gpu" and v["variant"] == "fp32")
    subgraphs = gpu["delegation"]["reported"]["subgraphs"]
    assert subgraphs, "the simulated benchmark_model logs a Replacing line per delegate"
    table = page.dom.split('<table class="subgraphs">')[1].split("</table>")[0]
    assert table.count("<tr>") == len(subgraphs) + 1      # header + one row per logged line, none collapsed
    for sg in subgraphs:
        assert f'<td>{sg["delegate_name"]}</td>' in table and f'data-v="{sg["nodes_replaced"]}"' in table


def test_simulated_report_shows_each_invoke_of_the_trace_run(sim_run_dir: Path, tmp_path: Path) -> None:
    record = json.loads((sim_run_dir / "run.json").read_text())
    page = load_in_chromium(sim_run_dir / "report.html", tmp_path)
    assert page.console == []
    section = page.dom.split('<section id="invokes">')[1].split("</section>")[0]
    assert "Per-inference latency on the phone" in section and "profiled" in section
    traced = [v for v in record["variants"] if (v.get("kernels") or {}).get("invoke_latency")]
    assert traced, "the simulated farm run traced no variant"
    for v in traced:
        latency = v["kernels"]["invoke_latency"]
        key = f'{v["variant"]}-{v["accelerator"]}'
        row = section.split(f'data-variant="{key}" data-count="{latency["count"]}"')[1].split("</tr>")[0]
        assert f'{latency["p50_ms"]:.3f}' in row and f'{latency["max_ms"]:.3f}' in row and "simulated" in row
        assert f'{v["kernels"]["clean_mean_ms"]:.3f}' in row         # the clean mean beside the profiled one
        order = section.split(f'class="invoke-order" data-variant="{key}"')[1]
        assert f'data-points="{len(latency["samples_ms"])}"' in order and "<svg" in order
    assert section.count('class="dot"') == sum(len(v["kernels"]["invoke_latency"]["samples_ms"]) for v in traced)
    # the trace's GPU clock over the run is drawn too, from the stored series (not only min/mean/max)
    series = traced[0]["kernels"]["gpu_frequency"]["series"]
    assert len(series) >= 2 and "<title>GPU frequency, MHz</title>" in page.dom


def test_simulated_report_draws_each_thermal_zone_over_the_trace_run(sim_run_dir: Path, tmp_path: Path) -> None:
    record = json.loads((sim_run_dir / "run.json").read_text())
    page = load_in_chromium(sim_run_dir / "report.html", tmp_path)
    assert page.console == []
    gpu = next(v for v in record["variants"] if v["accelerator"] == "gpu" and v["variant"] == "fp32")
    zones = gpu["kernels"]["temperatures"]
    assert zones, "the simulated s23's trace run recorded no thermal zone"
    section = page.dom.split('id="kernels-fp32-gpu"')[1].split('<div class="temperatures">')[1].split("</div>")[0]
    for z in zones:
        row = section.split(f'data-zone="{z["zone"]}"')[1].split("</tr>")[0]
        assert f'{z["min_c"]:.1f}' in row and f'{z["max_c"]:.1f}' in row and "simulated" in row
    drawn = [z["zone"] for z in zones[:6]]
    assert [line.split('"')[0] for line in section.split('data-line="')[1:]] == drawn


def test_compare_html_shows_both_runs_per_inference_distributions(sim_run_dir: Path, tmp_path: Path) -> None:
    """A candidate whose every traced Invoke is 20 % slower: the page puts both distributions side by side."""
    candidate = tmp_path / "candidate"
    shutil.copytree(sim_run_dir, candidate)
    record = json.loads((candidate / "run.json").read_text())
    record["run_id"] += "-candidate"
    traced = [v for v in record["variants"] if (v.get("kernels") or {}).get("invoke_latency")]
    for v in traced:
        latency = v["kernels"]["invoke_latency"]
        latency["samples_ms"] = [round(x * 1.2, 4) for x in latency["samples_ms"]]
        for key in ("mean_ms", "min_ms", "max_ms", "p50_ms", "p90_ms", "p99_ms"):
            latency[key] *= 1.2
    (candidate / "run.json").write_text(json.dumps(record))
    page_path = tmp_path / "compare.html"
    result = devlab("compare", str(sim_run_dir), str(candidate), "--html", str(page_path))
    assert result.returncode == 0, result.stderr
    page = load_in_chromium(page_path, tmp_path)
    assert page.console == []
    section = page.dom.split('id="invokes"')[1]
    base = {f'{v["variant"]}-{v["accelerator"]}': v["kernels"]["invoke_latency"]
            for v in json.loads((sim_run_dir / "run.json").read_text())["variants"]
            if (v.get("kernels") or {}).get("invoke_latency")}
    assert base
    for key, latency in base.items():
        row = section.split(f'class="invoke-delta" data-variant="{key}"')[1].split("</tr>")[0]
        assert f'{latency["p50_ms"]:.3f}' in row and f'{latency["p50_ms"] * 1.2:.3f}' in row
        assert f'{latency["p50_ms"] * 0.2:.3f}' in row                       # the p50 delta
    assert section.count('class="dot"') == 2 * sum(len(v["samples_ms"]) for v in base.values())
