"""A per-node latency overlay for Google's Model Explorer (ai-edge-model-explorer), in its node-data JSON format.

Format (model_explorer/node_data_builder.py, `ModelNodeData.to_json_string`): a map from graph id to
`{"results": {<node id>: {"value": <number>}}, "gradient": [{"stop": 0..1, "bgColor": ...}, ...]}`. For a .tflite
file the built-in flatbuffer adapter names subgraph 0 "main" (when the subgraph has no name) and gives operator i
the node id "i", so kernel rows map to nodes through their TFLite node indices.

A GPU kernel that fuses several TFLite nodes has one time; it is split evenly over its nodes (an estimate, like the
kernel rows themselves). Rows that belong to no node (copies+sync, unattributed) are not on the graph.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devlab.errors import UsageError
from devlab.fsutil import atomic_write_json

DEFAULT_GRAPH_ID = "main"
# Light to dark: cheap nodes stay pale, the expensive ones stand out.
GRADIENT = ({"stop": 0, "bgColor": "#fff5eb"}, {"stop": 0.5, "bgColor": "#fd8d3c"}, {"stop": 1, "bgColor": "#7f2704"})


@dataclass(frozen=True)
class NodeOverlay:
    path: Path
    graph_id: str
    variant: str
    nodes: int
    unplaced_ms: float     # time of rows that map to no node (copies+sync, unattributed)


def node_latency(kernels: dict[str, Any]) -> tuple[dict[int, float], float]:
    """Milliseconds per inference per TFLite node, and the time of rows that name no node."""
    per_node: dict[int, float] = defaultdict(float)
    unplaced = 0.0
    for row in kernels.get("rows", []):
        ms = row.get("ms_per_inference") or 0.0
        nodes = sorted({int(node) for node, _ in row.get("ops") or []})
        if not nodes:
            unplaced += ms
            continue
        for node in nodes:
            per_node[node] += ms / len(nodes)
    return dict(per_node), unplaced


def node_data(kernels: dict[str, Any], graph_id: str = DEFAULT_GRAPH_ID) -> dict[str, Any]:
    per_node, _ = node_latency(kernels)
    results = {str(node): {"value": round(ms, 6)} for node, ms in sorted(per_node.items())}
    return {graph_id: {"results": results, "gradient": [dict(stop) for stop in GRADIENT]}}


def pick_variant(record: dict[str, Any], variant: str | None) -> dict[str, Any]:
    with_kernels = [v for v in record["variants"] if v.get("kernels")]
    if variant is not None:
        chosen = [v for v in with_kernels if variant in (v["variant"], f"{v['variant']}/{v['accelerator']}")]
        if not chosen:
            names = ", ".join(f"{v['variant']}/{v['accelerator']}" for v in with_kernels) or "none"
            raise UsageError(f"variant {variant!r} has no kernel table in run {record['run_id']}",
                             f"pick one of: {names}")
        return chosen[0]
    if not with_kernels:
        raise UsageError(f"run {record['run_id']} has no kernel table: nothing to overlay",
                         "run on a phone (devlab run --device PHONE), which takes an op-profile run")
    return with_kernels[0]


def write_node_data(record: dict[str, Any], path: Path, *, variant: str | None = None,
                    graph_id: str = DEFAULT_GRAPH_ID) -> NodeOverlay:
    chosen = pick_variant(record, variant)
    data = node_data(chosen["kernels"], graph_id)
    _, unplaced = node_latency(chosen["kernels"])
    atomic_write_json(path, data)
    return NodeOverlay(path, graph_id, f"{chosen['variant']}/{chosen['accelerator']}",
                       len(data[graph_id]["results"]), unplaced)
