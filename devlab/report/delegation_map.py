"""The delegation map section of report.html: which ops ran where, and why not on the GPU.

Two views side by side per variant: the prediction devlab made when it built the variant (the build manifest entry,
`estimated`) and what the runtime reported on the device (benchmark_model's delegate lines), when a GPU run exists.
"""

from __future__ import annotations

import re
from collections import defaultdict
from html import escape
from typing import Any

from devlab.build.gpu_compat import rewrite_for
from devlab.report.html_parts import num, src, table

MAX_NODES_IN_MAP = 2000   # beyond this the map is a blur; the reasons table still lists everything
# Reasons end with a per-op detail in parentheses (the tensor it tripped on); grouping ignores it.
_DETAIL = re.compile(r"\s*\([^()]*\)$")


def delegation_section(record: dict[str, Any]) -> list[str]:
    out = ['<h2 id="delegation">Delegation map: which ops ran where</h2>',
           '<p class="legend"><span><i class="node gpu"></i>GPU delegate</span>'
           '<span><i class="node cpu"></i>CPU (TFLite kernels)</span></p>']
    shown = False
    for name, built in record.get("build", {}).items():
        runs = [v for v in record["variants"] if v["variant"] == name]
        predicted = built.get("delegation") or next(
            (v["delegation"]["predicted"] for v in runs if (v.get("delegation") or {}).get("predicted")), None)
        reported = [(v, v["delegation"]["reported"]) for v in runs if (v.get("delegation") or {}).get("reported")]
        if not predicted and not reported:
            continue
        shown = True
        out.append(f'<h3 id="delegation-{escape(name)}">{escape(name)}</h3>')
        if predicted:
            out += _predicted(predicted)
        for variant, rep in reported:
            out += _reported(variant, rep)
        if not reported:
            out.append('<p class="sub">No delegation reported by a runtime for this variant (no GPU run on a device '
                       "in this run).</p>")
    if not shown:
        out.append('<p class="sub">No delegation data in this run.</p>')
    return out


def _predicted(pred: dict[str, Any]) -> list[str]:
    on_gpu, on_cpu = pred.get("ops_on_gpu"), pred.get("ops_on_cpu")
    delegated = set(pred.get("delegated_nodes") or [])
    reasons = {op["node"]: op for op in pred.get("cpu_ops") or []}
    total = (on_gpu or 0) + (on_cpu or 0)
    out = [f'<p>Predicted by devlab {src(pred.get("source"))}: <b>{escape(str(pred.get("applied")))}</b> — '
           f'{on_gpu} of {total} ops on the GPU in {pred.get("delegated_partitions")} delegated partition(s) of '
           f'{pred.get("partitions")}.</p>']
    if 0 < total <= MAX_NODES_IN_MAP:
        cells = []
        for node in range(total):
            if node in delegated:
                cells.append(f'<span class="node gpu" title="node {node}: GPU"></span>')
            else:
                op = reasons.get(node, {})
                tip = f"node {node} {op.get('op', '')}: CPU — {op.get('reason') or 'not in the delegated partition'}"
                cells.append(f'<span class="node cpu" title="{escape(tip)}"></span>')
        out.append(f'<div class="map" aria-label="ops in execution order">{"".join(cells)}</div>')
    grouped: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for op in pred.get("cpu_ops") or []:
        grouped[_DETAIL.sub("", op.get("reason") or "no reason given")].append(op)
    rows = []
    for reason, ops in sorted(grouped.items(), key=lambda item: -len(item[1])):
        types = sorted({op["op"] for op in ops})
        nodes = ", ".join(str(op["node"]) for op in ops[:16]) + (" …" if len(ops) > 16 else "")
        example = ops[0].get("reason") or ""
        rows.append(f'<tr>{num(len(ops))}<td>{escape(", ".join(types))}</td><td>{escape(nodes)}</td>'
                    f'<td>{escape(reason)}<br><span class="sub">e.g. node {ops[0]["node"]}: {escape(example)}</span>'
                    f'</td><td class="fix">{escape(rewrite_for(example) or "-")}</td></tr>')
    if rows:
        out += ["<p>Why not on the GPU (predicted), and the rewrite that fixes it:</p>",
                table(["ops", "op types", "nodes", "reason", "fix"], rows)]
    return out


def _reported(variant: dict[str, Any], rep: dict[str, Any]) -> list[str]:
    on_delegate, on_cpu = rep.get("ops_on_delegate"), rep.get("ops_on_cpu")
    out = [f'<p>Reported by the runtime, {escape(variant["accelerator"])} run {src(rep.get("source"))}: delegate '
           f'<b>{escape(str(rep.get("delegate")))}</b>, applied <b>{escape(str(rep.get("applied")))}</b>, '
           f'{"?" if on_delegate is None else on_delegate} ops on the delegate, '
           f'{"?" if on_cpu is None else on_cpu} on the CPU, {rep.get("partitions", "?")} partition(s).</p>']
    subgraphs = [f'<tr><td>{escape(str(sg.get("subgraph", "?")))}'
                 f'{escape(" (" + sg["subgraph_name"] + ")" if sg.get("subgraph_name") else "")}</td>'
                 f'<td>{escape(str(sg.get("delegate_name")))}</td>{num(sg.get("nodes_replaced"))}'
                 f'{num(sg.get("nodes_in_plan"))}{num(sg.get("partitions"))}</tr>'
                 for sg in rep.get("subgraphs") or []]
    if subgraphs:   # one row per `Replacing N out of M node(s) ...` line of the log: never collapsed into one
        out += ["<p>Per subgraph, as the runtime logged each delegate:</p>",
                table(["subgraph", "delegate", "nodes replaced", "nodes in plan", "partitions"], subgraphs,
                      sortable=False, cls="subgraphs")]
    rows = [f'<tr><td>{escape(op.get("op", ""))}</td><td>{escape(op.get("reason", ""))}</td></tr>'
            for op in rep.get("unsupported_ops") or []]
    if rows:
        out += ["<p>Ops the delegate rejected (its own words):</p>", table(["op", "reason"], rows)]
    return out
