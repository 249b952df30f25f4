"""Which delegate took which part of the graph, from the lines the runtime and delegates print.

Both tools print TFLite's own `Replacing N out of M node(s) with delegate (NAME) node, yielding K partitions ...`
line once per delegate per subgraph. LiteRT's CompiledModel applies its accelerator's delegate (LITERT_CL on an
Android GPU, DispatchDelegate for an NPU) first and XNNPACK after it on what is left, so a LITERT_CL line followed
by an XNNPACK line is a partial GPU delegation with the rest on the CPU, never "xnnpack, full": every line is kept
per subgraph, and the top-level figures are the accelerator's.
"""

from __future__ import annotations

import re

from devlab.bench.log_lines import LogLine
from devlab.bench.log_result import Applied, DelegateKind, Delegation, SubgraphDelegation, UnsupportedOp
from devlab.bench.op_profile import OpProfile

_KIND_WORDS: dict[str, DelegateKind] = {"gpu": "gpu", "nnapi": "nnapi", "xnnpack": "xnnpack", "hexagon": "hexagon"}
# Delegate kernel names (the registration's custom_name): TFLite's delegates, and LiteRT's GPU delegates
# (ml_drift_delegate/delegate/delegate_{opencl,opengl,vulkan,webgpu}.cc, delegate_metal.mm) and NPU DispatchDelegate
# (litert/runtime/dispatch/dispatch_delegate.cc, kDelegateName).
_NODE_KINDS: dict[str, DelegateKind] = {
    "tflitegpudelegatev2": "gpu", "tflitegpudelegate": "gpu", "tflitennapidelegate": "nnapi",
    "tflitexnnpackdelegate": "xnnpack", "tflitehexagondelegate": "hexagon",
    "litert_cl": "gpu", "litert_opengl": "gpu", "litert_vulkan": "gpu", "litert_webgpu": "gpu",
    "litert_metal": "gpu", "dispatchdelegate": "npu",
}

# Older builds omit "out of M" and end "partitions." or "for the whole graph."; LiteRT's name the subgraph:
# "for subgraph 0 (main).". The closing period is required: a line cut before it (a truncated capture) could
# name no subgraph and be counted as another one.
_REPLACING = re.compile(r"Replacing (\d+)(?: out of (\d+))? node\(s\) with delegate \((.+?)\) node, yielding (\d+) "
                        r"partitions?(?: for the whole graph| for subgraph (\d+)(?: \((.*)\))?)?\.\s*$")
_GPU_API = re.compile(r"^Initiali(?:zed|zing) (OpenCL|OpenGL|WebGPU|Vulkan|Metal)-based API(?: from (serialized data|graph))?")
_DISPATCH_LIBRARY = re.compile(r"^Loading shared library: (\S*[Dd]ispatch\S*)")
_DISPATCH = re.compile(r"^DispatchDelegate::|^Failed to initialize Dispatch API|^No dispatch library found")
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


def _node_kind(name: str) -> DelegateKind | None:
    lowered = name.lower()
    return _NODE_KINDS.get(lowered) or ("npu" if "dispatch" in lowered else None)


def _subgraph_line(match: re.Match[str]) -> SubgraphDelegation:
    return SubgraphDelegation(
        subgraph=int(match.group(5)) if match.group(5) else None, subgraph_name=match.group(6),
        delegate_name=match.group(3), delegate=_node_kind(match.group(3)), nodes_replaced=int(match.group(1)),
        nodes_in_plan=int(match.group(2)) if match.group(2) else None, partitions=int(match.group(4)))


def _accelerator(lines: list[SubgraphDelegation]) -> tuple[DelegateKind | None, list[SubgraphDelegation]]:
    """The delegate the figures are about: the first one that is not XNNPACK (XNNPACK is applied next to it by
    default, on what it left), else XNNPACK itself; and that delegate's lines."""
    chosen = next((line for line in lines if line.delegate != "xnnpack"), lines[0])
    return chosen.delegate, [line for line in lines if line.delegate_name == chosen.delegate_name]


def _split_figures(lines: list[SubgraphDelegation]) -> tuple[DelegateKind | None, int, int | None, int]:
    """(delegate, nodes it took, nodes left to the CPU, its partitions) summed over subgraphs. A subgraph's size
    is the plan the first delegate applied to it saw: nothing had been replaced there yet."""
    kind, chosen = _accelerator(lines)
    sizes: dict[int | None, int | None] = {}
    for line in lines:
        sizes.setdefault(line.subgraph, line.nodes_in_plan)
    taken = sum(line.nodes_replaced for line in chosen)
    on_cpu = None if any(size is None for size in sizes.values()) else \
        sum(size or 0 for size in sizes.values()) - taken
    return kind, taken, on_cpu, sum(_delegate_partitions(line, lines) for line in chosen)


def _delegate_partitions(line: SubgraphDelegation, lines: list[SubgraphDelegation]) -> int:
    """How many delegate nodes `line`'s delegate left in its subgraph. The printed K counts every node subset,
    the CPU ones too; when a later delegate's line shows the plan it found (one node per delegate partition plus
    the untouched nodes), the delegate's own count follows from it. Without one, K is what the log says."""
    if line.nodes_in_plan is not None and line.nodes_replaced == line.nodes_in_plan:
        return line.partitions
    later = lines[lines.index(line) + 1:]
    after = next((other for other in later if other.subgraph == line.subgraph), None)
    if after is None or after.nodes_in_plan is None or line.nodes_in_plan is None:
        return line.partitions
    return after.nodes_in_plan - (line.nodes_in_plan - line.nodes_replaced)


def parse_delegation(lines: list[LogLine], parameters: tuple[tuple[str, str], ...],
                     op_profile: OpProfile | None) -> Delegation:
    explicit: DelegateKind | None = None
    created: list[DelegateKind] = []
    applied: Applied | None = None
    on_delegate: int | None = None
    on_cpu: int | None = None
    partitions: int | None = None
    unsupported: list[UnsupportedOp] = []
    subgraphs: list[SubgraphDelegation] = []
    gpu_api: str | None = None
    gpu_api_from_cache: bool | None = None
    dispatch_library: str | None = None
    dispatch = False
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
            subgraphs.append(_subgraph_line(match))
        elif match := _GPU_API.match(text):
            gpu_api = match.group(1)
            gpu_api_from_cache = match.group(2) == "serialized data"
        elif match := _DISPATCH_LIBRARY.match(text):
            dispatch_library = match.group(1)
        elif _DISPATCH.match(text):
            dispatch = True
        elif match := _EXPLICIT.match(text):
            explicit = _kind(match.group(1)) or explicit
            applied = _APPLIED_WORDS[match.group(2)]
            if kernels := _PARTIAL_KERNELS.search(text):
                partitions = int(kernels.group(1))
        elif match := _FAILED_APPLY.match(text):
            explicit = _kind(match.group(1)) or explicit
            applied = "none"
        elif match := _SPLIT.match(text):
            if not subgraphs:  # the delegate's own Replacing line, printed after this one, is exact
                on_delegate, on_cpu = int(match.group(1)), int(match.group(3))
            explicit = explicit or _kind(match.group(2))
        elif match := _NODE_FAILED.match(text):
            explicit = explicit or _node_kind(match.group(1))
        elif match := _CREATED.search(text):
            kind = _kind(match.group(1) or match.group(2) or "")
            if kind:
                created.append(kind)

    if subgraphs:
        kind, on_delegate, on_cpu, replaced_partitions = _split_figures(subgraphs)
        explicit = explicit or kind
        if partitions is None:  # "w/ N delegate kernels" counts only the delegate's own partitions: it wins
            partitions = replaced_partitions
    hinted: DelegateKind | None = "gpu" if gpu_api else "npu" if dispatch or dispatch_library else None
    delegate = explicit or hinted or _first_non_default(created) or _echoed(parameters) or _from_profile(op_profile)
    if applied is None and on_delegate is not None and on_cpu is not None:
        applied = "full" if on_cpu == 0 and on_delegate > 0 else "partial" if on_delegate > 0 else "none"
    if op_profile is not None and (applied is None or partitions is None):
        applied, partitions, on_cpu = _from_profile_rows(op_profile, applied, partitions, on_cpu)
    return Delegation(delegate=delegate, applied=applied, ops_on_delegate=on_delegate, ops_on_cpu=on_cpu,
                      partitions=partitions, unsupported_ops=tuple(unsupported), subgraphs=tuple(subgraphs),
                      gpu_api=gpu_api, gpu_api_from_cache=gpu_api_from_cache, npu_dispatch_library=dispatch_library)


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
        kind = _node_kind(row.node_type)
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
