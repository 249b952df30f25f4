"""Which delegate took which part of the graph, from the lines the runtime and delegates print."""

from __future__ import annotations

import re

from devlab.bench.log_lines import LogLine
from devlab.bench.log_result import Applied, DelegateKind, Delegation, UnsupportedOp
from devlab.bench.op_profile import OpProfile

_KIND_WORDS: dict[str, DelegateKind] = {"gpu": "gpu", "nnapi": "nnapi", "xnnpack": "xnnpack", "hexagon": "hexagon"}
_NODE_KINDS: dict[str, DelegateKind] = {
    "tflitegpudelegatev2": "gpu", "tflitegpudelegate": "gpu", "tflitennapidelegate": "nnapi",
    "tflitexnnpackdelegate": "xnnpack", "tflitehexagondelegate": "hexagon",
}

_REPLACING = re.compile(r"Replacing (\d+) out of (\d+) node\(s\) with delegate \((\w+)\) node, yielding (\d+) partition")
_EXPLICIT = re.compile(r"^(?:Explicitly )?[Aa]pplied (\w+) delegate,? and the model graph will (?:be )?"
                       r"(completely|partially|not) (?:be )?executed")
_PARTIAL_KERNELS = re.compile(r"partially executed (?:by|w/) the delegate w/ (\d+) delegate kernels")
_FAILED_APPLY = re.compile(r"^Failed to apply (\w+) delegate")
_CREATED = re.compile(r"Created TensorFlow Lite (?:(XNNPACK) delegate|delegate for (\w+))")
_UNSUPPORTED_HEADER = re.compile(r"^Following operations are not supported by (\w+) delegate:?\s*$")
_NODE_FAILED = re.compile(r"^Node number \d+ \((\w+)\) failed")
_SPLIT = re.compile(r"^(\d+) operations will run on the (\w+), and the remaining (\d+) operations? will run on the CPU")
_UNSUPPORTED_OP = re.compile(r"^(?P<op>[A-Z][A-Z0-9_]*(?: [A-Za-z0-9_]+)?): (?P<reason>.+)$")
_ECHO_FLAG = re.compile(r"^use[ _](gpu|nnapi|xnnpack|hexagon)$", re.IGNORECASE)
_APPLIED_WORDS: dict[str, Applied] = {"completely": "full", "partially": "partial", "not": "none"}


def _kind(word: str) -> DelegateKind | None:
    return _KIND_WORDS.get(word.lower())


def parse_delegation(lines: list[LogLine], parameters: tuple[tuple[str, str], ...],
                     op_profile: OpProfile | None) -> Delegation:
    explicit: DelegateKind | None = None
    created: list[DelegateKind] = []
    applied: Applied | None = None
    on_delegate: int | None = None
    on_cpu: int | None = None
    partitions: int | None = None
    unsupported: list[UnsupportedOp] = []
    in_unsupported = False
    for line in lines:
        text = line.text.strip()
        if in_unsupported:
            op = _UNSUPPORTED_OP.match(text)
            if op and not _SPLIT.match(text):
                unsupported.append(UnsupportedOp(op=op.group("op"), reason=op.group("reason").strip()))
                continue
            in_unsupported = False
        if _UNSUPPORTED_HEADER.match(text):
            in_unsupported = True
            explicit = explicit or _kind(_UNSUPPORTED_HEADER.match(text).group(1))  # type: ignore[union-attr]
            continue
        if match := _REPLACING.search(text):
            replaced, total = int(match.group(1)), int(match.group(2))
            node_kind = _NODE_KINDS.get(match.group(3).lower())
            # XNNPACK is applied by default next to an explicit delegate: its line must not override the GPU's.
            if node_kind is not None and node_kind != "xnnpack" or explicit is None:
                explicit = node_kind or explicit
                on_delegate, on_cpu, partitions = replaced, total - replaced, int(match.group(4))
        elif match := _EXPLICIT.match(text):
            explicit = _kind(match.group(1)) or explicit
            applied = _APPLIED_WORDS[match.group(2)]
            if kernels := _PARTIAL_KERNELS.search(text):
                partitions = int(kernels.group(1))
        elif match := _FAILED_APPLY.match(text):
            explicit = _kind(match.group(1)) or explicit
            applied = "none"
        elif match := _SPLIT.match(text):
            on_delegate, on_cpu = int(match.group(1)), int(match.group(3))
            explicit = explicit or _kind(match.group(2))
        elif match := _NODE_FAILED.match(text):
            explicit = explicit or _NODE_KINDS.get(match.group(1).lower())
        elif match := _CREATED.search(text):
            kind = _kind(match.group(1) or match.group(2) or "")
            if kind:
                created.append(kind)

    delegate = explicit or _first_non_default(created) or _echoed(parameters) or _from_profile(op_profile)
    if applied is None and on_delegate is not None and on_cpu is not None:
        applied = "full" if on_cpu == 0 and on_delegate > 0 else "partial" if on_delegate > 0 else "none"
    if op_profile is not None and (applied is None or partitions is None):
        applied, partitions, on_cpu = _from_profile_rows(op_profile, applied, partitions, on_cpu)
    return Delegation(delegate=delegate, applied=applied, ops_on_delegate=on_delegate, ops_on_cpu=on_cpu,
                      partitions=partitions, unsupported_ops=tuple(unsupported))


def _first_non_default(created: list[DelegateKind]) -> DelegateKind | None:
    for kind in created:
        if kind != "xnnpack":
            return kind
    return created[0] if created else None


def _echoed(parameters: tuple[tuple[str, str], ...]) -> DelegateKind | None:
    """`Use gpu : [1]`: asked for, which is all the log says when it ends before delegation lines."""
    for name, value in parameters:
        match = _ECHO_FLAG.match(name.strip())
        if match and value.strip().lower() in ("1", "true") and match.group(1).lower() != "xnnpack":
            return _kind(match.group(1))
    return None


def _from_profile(op_profile: OpProfile | None) -> DelegateKind | None:
    if op_profile is None:
        return None
    for row in op_profile.delegate_rows():
        kind = _NODE_KINDS.get(row.node_type.lower())
        if kind:
            return kind
    return None


def _from_profile_rows(op_profile: OpProfile, applied: Applied | None, partitions: int | None,
                       on_cpu: int | None) -> tuple[Applied | None, int | None, int | None]:
    """Partition facts the Run Order table shows: one row per delegate node, one per CPU node."""
    run = [row for row in op_profile.run_rows() if row.subgraph in (None, 0) and row.kernel_label is None]
    delegate_nodes = [row for row in run if row.is_delegate_node]
    if not run or not delegate_nodes:
        return applied, partitions, on_cpu
    cpu_nodes = len(run) - len(delegate_nodes)
    if partitions is None:
        partitions = len(delegate_nodes)
    if on_cpu is None:
        on_cpu = cpu_nodes
    if applied is None:
        applied = "full" if cpu_nodes == 0 else "partial"
    return applied, partitions, on_cpu
