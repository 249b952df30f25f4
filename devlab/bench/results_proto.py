"""benchmark_model's structured outputs, decoded: BenchmarkResult (`--result_file_path`) and ModelRuntimeDetails
(`--model_runtime_info_output_file`).

BenchmarkResult (proto2, `tflite/tools/benchmark/proto/benchmark_result.proto` in google-ai-edge/LiteRT) is small,
so it is decoded here from its field numbers: 1 name; 2 latency_metrics {1 avg_ms .. 10 average_warm_up_ms, all
float}; 3 memory_metrics {1 init_footprint_kb int64, 2 overall_footprint_kb int64, 3 peak_mem_mb float};
4 misc_metrics {1 model_size_mb float, 2 num_runs int32, 3 num_warmup_runs int32, 4 throughput float}.
ModelRuntimeDetails is read with the `model_runtime_info_pb2` module the installed ai-edge-litert wheel ships.
Anything that does not decode is a ParseError naming the file; a field the tool did not set stays None.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

from devlab.errors import ParseError

_LATENCY = {1: "avg_ms", 2: "min_ms", 3: "max_ms", 4: "stddev_ms", 5: "median_ms", 6: "p5_ms", 7: "p95_ms",
            8: "init_ms", 9: "first_inference_ms", 10: "average_warm_up_ms"}
_MEMORY = {1: "init_footprint_kb", 2: "overall_footprint_kb", 3: "peak_mem_mb"}
_MISC = {1: "model_size_mb", 2: "num_runs", 3: "num_warmup_runs", 4: "model_throughput_in_mb_per_sec"}


@dataclass(frozen=True)
class BenchmarkResult:
    name: str | None
    latency_ms: dict[str, float]     # keys of _LATENCY that the file holds
    memory: dict[str, float]
    misc: dict[str, float]

    def latency(self, key: str) -> float | None:
        return self.latency_ms.get(key)


@dataclass(frozen=True)
class SubgraphDelegation:
    """One subgraph of ModelRuntimeDetails: which delegate nodes replaced which TFLite nodes."""

    subgraph_id: int
    name: str
    subgraph_type: str              # TFLITE_SUBGRAPH | DELEGATE_SUBGRAPH | UNKNOWN_SUBGRAPH
    nodes: int                      # nodes the subgraph holds (delegate nodes included)
    delegates: tuple[tuple[str, int, tuple[int, ...]], ...]   # (delegate name, its node id, TFLite nodes replaced)
    execution_plan: tuple[int, ...]

    def to_json(self) -> dict[str, Any]:
        return {"subgraph_id": self.subgraph_id, "name": self.name, "type": self.subgraph_type, "nodes": self.nodes,
                "execution_plan_length": len(self.execution_plan),
                "delegates": [{"delegate": d, "node_id": n, "tflite_nodes_replaced": list(r)}
                              for d, n, r in self.delegates]}


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        if pos >= len(data) or shift > 63:
            raise ValueError("truncated varint")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7


def _fields(data: bytes) -> list[tuple[int, int, Any]]:
    """(field number, wire type, value) of one message level; bytes for length-delimited fields."""
    out: list[tuple[int, int, Any]] = []
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(data, pos)
        elif wire == 1:
            value, pos = data[pos:pos + 8], pos + 8
        elif wire == 2:
            length, pos = _varint(data, pos)
            value, pos = data[pos:pos + length], pos + length
        elif wire == 5:
            value, pos = data[pos:pos + 4], pos + 4
        else:
            raise ValueError(f"wire type {wire} of field {number}")
        if pos > len(data):
            raise ValueError(f"field {number} runs past the end")
        out.append((number, wire, value))
    return out


def _numbers(data: bytes, names: dict[int, str]) -> dict[str, float]:
    values: dict[str, float] = {}
    for number, wire, value in _fields(data):
        if number not in names:
            continue
        if wire == 5:
            values[names[number]] = struct.unpack("<f", value)[0]
        elif wire == 0:
            values[names[number]] = value - (1 << 64) if value >= 1 << 63 else value
        else:
            raise ValueError(f"field {names[number]} has wire type {wire}")
    return values


def decode_benchmark_result(data: bytes, what: str = "results.pb") -> BenchmarkResult:
    try:
        name: str | None = None
        parts: dict[int, bytes] = {}
        for number, wire, value in _fields(data):
            if number == 1 and wire == 2:
                name = value.decode("utf-8", errors="replace")
            elif number in (2, 3, 4) and wire == 2:
                parts[number] = parts.get(number, b"") + value   # repeated sub-messages merge, as proto2 does
        return BenchmarkResult(name=name, latency_ms=_numbers(parts.get(2, b""), _LATENCY),
                               memory=_numbers(parts.get(3, b""), _MEMORY), misc=_numbers(parts.get(4, b""), _MISC))
    except (ValueError, struct.error) as exc:
        raise ParseError(f"{what} is not a BenchmarkResult proto ({exc})",
                         "keep the file and the log; the tool may have been killed while writing it",
                         stage="results") from None


def decode_runtime_info(data: bytes, what: str = "runtime_info.pb") -> tuple[SubgraphDelegation, ...]:
    from google.protobuf.message import DecodeError

    from devlab.bench.litert_protos import enum_value_name, message_class
    details = message_class("ModelRuntimeDetails")()
    try:
        details.ParseFromString(data)
    except DecodeError as exc:
        raise ParseError(f"{what} is not a ModelRuntimeDetails proto ({exc})",
                         "keep the file and the log", stage="results") from None
    out = []
    for subgraph in details.subgraphs:
        delegates = tuple((node.delegate_node_details.delegate_name, node.id,
                           tuple(node.delegate_node_details.tflite_node_ids_replaced))
                          for node in subgraph.nodes if node.HasField("delegate_node_details"))
        out.append(SubgraphDelegation(subgraph_id=subgraph.subgraph_id, name=subgraph.name,
                                      subgraph_type=enum_value_name("RuntimeSubgraph.SubgraphType", subgraph.subgraph_type), nodes=len(subgraph.nodes),
                                      delegates=delegates, execution_plan=tuple(subgraph.execution_plan)))
    return tuple(out)
