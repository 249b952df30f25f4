"""The structured files the simulated benchmark_model writes when asked: BenchmarkResult and ModelRuntimeDetails.

BenchmarkResult is encoded here by hand from the proto's field numbers (google-ai-edge/LiteRT v2.2.0
`tflite/tools/benchmark/proto/benchmark_result.proto`), independently of devlab's decoder
(devlab/bench/results_proto.py), so a wrong field number on either side fails a test. What each field holds is
what `BenchmarkLoggingListener::OnBenchmarkEnd` in `litert/tools/benchmark_litert_model.h` sets: ms values as
float, memory in KB (int64), percentiles from the tool's own StatWithPercentiles.
ModelRuntimeDetails is built with the ai-edge-litert wheel's `model_runtime_info_pb2`, shaped as
`tflite/profiling/model_runtime_info.cc` fills it: every node of subgraph 0, the delegate node with
`delegate_node_details {delegate_name, tflite_node_ids_replaced}`, replaced nodes with `delegated_to_node_id`,
the execution plan after delegation.
"""

from __future__ import annotations

import struct

from devlab.build.tflite_graph import TfliteGraph


def _key(number: int, wire: int) -> bytes:
    return _varint(number << 3 | wire)


def _varint(value: int) -> bytes:
    value &= (1 << 64) - 1
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _float(number: int, value: float) -> bytes:
    return _key(number, 5) + struct.pack("<f", value)


def _int(number: int, value: int) -> bytes:
    return _key(number, 0) + _varint(value)


def _message(number: int, body: bytes) -> bytes:
    return _key(number, 2) + _varint(len(body)) + body


def percentile(values_us: list[float], p: float) -> float:
    """The tool's StatWithPercentiles::percentile: the value at index count*p/100 of the sorted samples."""
    ordered = sorted(int(round(v)) for v in values_us)
    return float(ordered[min(len(ordered) - 1, int(len(ordered) * p / 100))]) if ordered else 0.0


def benchmark_result(init_us: float, warmup_us: list[float], runs_us: list[float], init_kb: int, overall_kb: int,
                     peak_mb: float | None, model_mb: float, throughput: float) -> bytes:
    n = len(runs_us)
    avg = sum(runs_us) / n if n else 0.0
    std = (sum((r - avg) ** 2 for r in runs_us) / n) ** 0.5 if n else 0.0
    latency = (_float(1, avg / 1000) + _float(2, min(runs_us, default=0) / 1000)
               + _float(3, max(runs_us, default=0) / 1000) + _float(4, std / 1000)
               + _float(5, percentile(runs_us, 50) / 1000) + _float(6, percentile(runs_us, 5) / 1000)
               + _float(7, percentile(runs_us, 95) / 1000) + _float(8, init_us / 1000)
               + _float(9, (warmup_us[0] if warmup_us else 0) / 1000)
               + _float(10, (sum(warmup_us) / len(warmup_us) if warmup_us else 0) / 1000))
    memory = _int(1, init_kb) + _int(2, overall_kb) + (_float(3, peak_mb) if peak_mb else b"")
    misc = _float(1, model_mb) + _int(2, n) + _int(3, len(warmup_us)) + _float(4, throughput)
    return _message(2, latency) + _message(3, memory) + _message(4, misc)


def runtime_info(graph: TfliteGraph, delegated: tuple[int, ...], delegate_name: str, model_name: str) -> bytes:
    from devlab.bench.litert_protos import enum_value, message_class   # private pool: TF may be loaded too
    details = message_class("ModelRuntimeDetails")(model_name=model_name)
    subgraph = details.subgraphs.add(subgraph_id=0, name="main",
                                     subgraph_type=enum_value("RuntimeSubgraph.SubgraphType", "TFLITE_SUBGRAPH"))
    delegate_id = len(graph.ops)
    inside = set(delegated)
    for node in graph.ops:
        proto = subgraph.nodes.add(id=node.index, name=node.op, inputs=[i for i in node.inputs],
                                   outputs=list(node.outputs))
        if node.index in inside:
            proto.delegated_to_node_id = delegate_id
    plan: list[int] = []
    if delegated:
        node = subgraph.nodes.add(id=delegate_id, name=delegate_name, type=delegate_name)
        node.delegate_node_details.delegate_name = delegate_name
        node.delegate_node_details.tflite_node_ids_replaced.extend(delegated)
    placed = False
    for node in graph.ops:
        if node.index in inside:
            if not placed:
                plan.append(delegate_id)
                placed = True
        else:
            plan.append(node.index)
    subgraph.execution_plan.extend(plan)
    return details.SerializeToString()
