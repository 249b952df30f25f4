"""Rich tables for the terminal. Every number shows its provenance column so nothing passes for what it is not."""

from __future__ import annotations

from typing import Any

from rich.table import Table

from devlab.build.gpu_compat import rewrite_for
from devlab.build.pipeline import Manifest


def variants_table(record: dict[str, Any]) -> Table:
    device = record["device"]
    title = f"{record['model']['name']} on {device.get('alias') or device['serial']} ({device['model']})"
    if device.get("simulated"):
        title += " — SIMULATED phone: numbers come from a cost model, not a phone"
    show_delegation = any(v["accelerator"] == "gpu" for v in record["variants"])
    # a phone's GPU rows: init with the GPU program cache, cold (first launch) and warm (devlab.bench.gpu_cache)
    show_cache = any("init_cold_ms" in (v.get("timing") or {}) for v in record["variants"])
    table = Table(title=title, title_justify="left")
    columns = ["variant", "unit", "mean ms", "median ms", "p90 ms", "min ms", "runs", "init ms",
               *(["cold init ms", "warm init ms"] if show_cache else []), "source"]
    if show_delegation:
        columns.append("GPU ops (predicted)")
    for column in columns:
        table.add_column(column, justify="right" if "ms" in column or column == "runs" else "left")
    for variant in record["variants"]:
        timing = variant.get("timing")
        row = [variant["variant"], variant["accelerator"]]
        if timing:
            latency = timing["latency_ms"]
            row += [_ms(latency["mean_ms"]), _ms(latency["median_ms"]), _ms(latency["p90_ms"]),
                    _ms(latency["min_ms"]), str(latency["count"]), _ms(timing.get("init_ms")),
                    *([_ms(timing.get("init_cold_ms")), _ms(timing.get("init_warm_ms"))] if show_cache else []),
                    timing["source"]]
        else:
            row += [f"{variant['status']}: {variant.get('error') or ''}"[:60], "", "", "", "", "", "",
                    *(["", ""] if show_cache else [])]
        if show_delegation:
            predicted = (variant.get("delegation") or {}).get("predicted")
            row.append(_delegation_text(predicted) if variant["accelerator"] == "gpu" else "")
        table.add_row(*row)
    return table


def kernel_tables(record: dict[str, Any], top: int = 8) -> list[Table]:
    """Per variant with a kernel table: the top rows by time, plus the explicit copies/sync and unattributed rows,
    every number labelled with where it came from (estimated: a profiled share scaled to the clean mean)."""
    tables = []
    for variant in record["variants"]:
        kernels = variant.get("kernels")
        if not kernels or not kernels.get("rows"):
            continue
        rows = kernels["rows"]
        ranked = sorted((r for r in rows if r["kind"] in ("gpu_kernel", "gpu_delegate", "cpu_op")),
                        key=lambda r: -r["ms_per_inference"])
        explicit = [r for r in rows if r["kind"] in ("copy_sync", "unattributed")]
        total = sum(r["ms_per_inference"] for r in rows)
        title = (f"{variant['variant']} on {variant['accelerator']}: top kernels, {kernels['source']} "
                 f"(shares from {kernels['basis']}, scaled to the {kernels['clean_source']} clean mean "
                 f"{kernels['clean_mean_ms']:.3f} ms; rows sum to {total:.3f} ms; built from "
                 f"{', '.join(kernels.get('inputs') or [kernels['basis']])})")
        table = Table(title=title, title_justify="left")
        for column in ("kernel", "unit", "TFLite ops", "calls", "ms/inference", "share", "p50 ms", "p90 ms",
                       "source"):
            table.add_column(column, justify="right" if column in ("calls", "ms/inference", "share", "p50 ms",
                                                                   "p90 ms") else "left")
        for row in ranked[:top]:
            _kernel_row(table, row)
        if len(ranked) > top:
            table.add_row(f"({len(ranked) - top} more rows in run.json)", "", "", "", "", "", "", "", "")
        for row in explicit:
            _kernel_row(table, row)
        caption: list[str] = []
        freq = kernels.get("gpu_frequency")
        if freq:
            caption.append(f"GPU frequency ({freq.get('source') or 'trace'}): "
                           f"{freq['min_khz'] / 1000:.0f}/{freq['mean_khz'] / 1000:.0f}/"
                           f"{freq['max_khz'] / 1000:.0f} MHz min/mean/max over {freq['samples']} samples, "
                           f"throttled: {_yes_no(freq['throttled'])}")
        zones = kernels.get("temperatures") or []
        if zones:
            hottest = zones[0]
            caption.append(f"temperatures ({hottest.get('source')}): hottest zone {hottest['zone']} "
                           f"{hottest['min_c']:.1f}-{hottest['max_c']:.1f} °C over the trace run ({len(zones)} zones "
                           "in run.json)")
        invokes = kernels.get("invoke_latency")
        if invokes:
            caption.append(f"trace run Invokes (profiled, not the clean latency): p50 {invokes['p50_ms']:.3f} / p90 "
                           f"{invokes['p90_ms']:.3f} / max {invokes['max_ms']:.3f} ms over {invokes['count']}")
        table.caption = "\n".join(caption) or None
        tables.append(table)
    return tables


def _kernel_row(table: Table, row: dict[str, Any]) -> None:
    table.add_row(row["kernel"], row["unit"], _ops_text(row["ops"]),
                  "-" if row["calls_per_inference"] is None else f"{row['calls_per_inference']:g}",
                  _ms(row["ms_per_inference"]), f"{100 * row['share']:.1f} %", _ms(row["p50_ms"]),
                  _ms(row["p90_ms"]), f"{row['source']} from {row['basis']}")


def _ops_text(ops: list[list[Any]], limit: int = 4) -> str:
    text = ", ".join(f"{op}@{node}" for node, op in ops[:limit])
    return text + (f" +{len(ops) - limit}" if len(ops) > limit else "")


def _yes_no(value: bool | None) -> str:
    return "unknown" if value is None else ("yes" if value else "no")


def manifest_table(manifest: Manifest) -> Table:
    table = Table(title=f"{manifest.model.name}: variants in {manifest.directory}", title_justify="left")
    for column in ("variant", "KiB", "ops", "GPU (predicted)", "max abs err", "max rel err", "recipe", "cached"):
        table.add_column(column)
    for v in manifest.variants:
        eq = v.equivalence or {}
        recipe = "+".join([r["name"] for r in v.recipe.get("rewrites", [])] + [str(v.recipe.get("quantization"))])
        table.add_row(v.name, f"{v.bytes / 1024:.1f}", str(sum(v.op_histogram.values())),
                      _delegation_text(v.delegation), _num(eq.get("max_abs_error")), _num(eq.get("max_rel_error")),
                      recipe, "yes" if v.cached else "no")
    return table


OUTSIDE_PARTITION = "supported, but outside the delegated partition"


def explain_table(name: str, delegation: dict[str, Any]) -> Table:
    """Ops the delegate rejects, one row each with the reason; supported ops stranded outside the delegated
    partition are summed up in one row, since their reason is the rejected ops around them."""
    cpu_ops = delegation.get("cpu_ops", [])
    rejected = [op for op in cpu_ops if not (op["reason"] or "").startswith(OUTSIDE_PARTITION)]
    stranded = [op for op in cpu_ops if (op["reason"] or "").startswith(OUTSIDE_PARTITION)]
    table = Table(title=f"{name}: {delegation['ops_on_cpu']} ops predicted on the CPU, "
                        f"{delegation['ops_on_gpu']} on the GPU, {delegation['partitions']} partitions",
                  title_justify="left")
    table.add_column("node", justify="right")
    table.add_column("op")
    table.add_column("why not on the GPU")
    table.add_column("fix")
    for op in rejected:
        table.add_row(str(op["node"]), op["op"], op["reason"] or "", rewrite_for(op["reason"]) or "-")
    if stranded:
        nodes = ", ".join(str(op["node"]) for op in stranded[:12]) + (" ..." if len(stranded) > 12 else "")
        table.add_row(nodes, f"{len(stranded)} supported ops",
                      "outside the one delegated partition: the delegate takes only the largest partition, "
                      "and the rejected ops above split the graph", "-")
    return table


def _delegation_text(delegation: dict[str, Any] | None) -> str:
    if not delegation:
        return "-"
    return f"{delegation['applied']} {delegation['ops_on_gpu']}/{delegation['ops_on_gpu'] + delegation['ops_on_cpu']}"


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.2e}"
