"""The LiteRT build of the simulated benchmark_model: what `litert/tools/benchmark_litert_model.{h,cc}` (v2.2.0)
does differently from the classic tool, as a mixin of the simulated run (devlab/sim/commands/benchmark_model.py).

LITERT_LOG call sites are cited by the line of the macro name at v2.2.0 (clang's __LINE__ for a macro call);
every line and its source are listed in docs/sim-fidelity.md ("benchmark_model: the two tool builds").
"""

from __future__ import annotations

from devlab.build.gpu_compat import plan_gpu_delegation
from devlab.sim import bench_outputs
from devlab.sim.bench_tables import LiteRtNode, litert_summary
from devlab.sim.costmodel import CostPlan, tensor_bytes

H = "benchmark_litert_model.h"
CC = "benchmark_litert_model.cc"
FAILED = "Benchmarking failed."


class LiteRtTool:
    """Needs from the run: ctx, log, flags, graph, model_mb, _items(costs)."""

    def _litert_profile(self, costs: CostPlan, runs: list[tuple[float, float]]) -> None:
        """OnBenchmarkEnd's summary_provider: `LITERT_LOG(INFO, "\\n%s", summary)` (h:192), the summarizer having
        seen every run. Rows: interpreter nodes `[Builtin]:<node>` (the delegate node is `LITERT_CL`), the GPU
        accelerator's dispatches `Delegate/<label>` `[Delegate]:<i>` (ml_drift_delegate/delegate/tflite_profile.cc).
        Simplification: CPU nodes show as their own ops, not under XNNPACK's delegate node."""
        nodes: list[LiteRtNode] = []
        f0 = runs[0][1]
        start = 0.0
        for kind, node, us in self._items(costs):
            total = sum(us * f for _, f in runs)
            if kind == "cpu":
                nodes.append(LiteRtNode(self.graph.ops[node].op, f"[Builtin]:{node}", start, us * f0 / 1000, total,
                                        len(runs), False))
            else:
                nodes.append(LiteRtNode("LITERT_CL", f"[Builtin]:{node}", start, us * f0 / 1000, total, len(runs),
                                        False))
                offset = start
                for i, kernel in enumerate(costs.kernels):
                    nodes.append(LiteRtNode(f"Delegate/{kernel.label}", f"[Delegate]:{i}", offset,
                                            kernel.us * f0 / 1000, sum(kernel.us * f for _, f in runs), len(runs),
                                            True))
                    offset += kernel.us * f0 / 1000
            start += us * f0 / 1000
        self.log.litert(H, 192, "")
        self.ctx.stderr.write("\n".join(litert_summary(nodes)) + "\n")

    # -- LiteRT (CompiledModel) specifics: litert/tools/benchmark_litert_model.{h,cc} at v2.2.0 --------------------
    def _litert_options(self) -> int | None:
        """CreateCompiledModelOptions: both checks LITERT_LOG an error and std::abort() (exit 134 via the shell)."""
        if self.flags.flag("use_cpu") and self.flags.flag("require_full_delegation"):
            self.log.litert(CC, 98, "Requesting full delegation and CPU acceleration are incompatible.", "ERROR")
            return 134
        precision = self.flags.text("gpu-precision")
        if self.flags.flag("use_gpu") and precision not in ("fp32", "fp16", "auto"):
            self.log.litert(CC, 164, f"Invalid gpu-precision: {precision}", "ERROR")
            return 134
        return None

    def _delegate_litert(self):
        """The GPU accelerator's delegate kernel is named LITERT_CL (ml_drift_delegate/delegate/delegate_opencl.cc
        custom_name); the interpreter logs the replacement (tflite/core/subgraph.cc, VERBOSE, stderr on Android)."""
        plan = plan_gpu_delegation(self.graph)
        if plan.delegated:
            self._replacing("LITERT_CL", plan.delegated, len(self.graph.ops))
        if plan.applied != "full" and self.flags.flag("require_full_delegation"):
            # use_cpu=false: no CPU accelerator for the rest, CompiledModel creation fails
            self.log.error(FAILED)
            return None
        return plan

    def _xnnpack(self, plan) -> None:
        """The CPU accelerator (XNNPACK) takes the nodes the GPU left, as a second delegate on the same subgraph."""
        if not self.flags.flag("use_cpu"):
            return
        inside = set(plan.delegated) if plan else set()
        left = tuple(n.index for n in self.graph.ops if n.index not in inside and not n.op.startswith("CUSTOM:"))
        if not left:
            return
        plan_size = len(self.graph.ops) - len(inside) + (1 if inside else 0)
        self.log.runtime("INFO", "Created TensorFlow Lite XNNPACK delegate for CPU.")
        self._replacing("TfLiteXNNPackDelegate", left, plan_size)

    def _replacing(self, delegate: str, nodes: tuple[int, ...], plan_size: int) -> None:
        inside = set(nodes)
        flips = sum(1 for a, b in zip(self.graph.ops, self.graph.ops[1:]) if (a.index in inside) != (b.index in inside))
        self.log.runtime("VERBOSE", f"Replacing {len(nodes)} out of {plan_size} node(s) with delegate ({delegate}) "
                                    f"node, yielding {flips + 1} partitions for subgraph 0 (main).")

    def _runtime_info(self, plan) -> None:
        target = self.flags.text("model_runtime_info_output_file")
        delegated = plan.delegated if plan else ()
        data = bench_outputs.runtime_info(self.graph, delegated, "LITERT_CL", "")
        if self._write(target, data):
            self.log.litert(H, 217, f"Generated model runtime info: {target}")

    def _litert_results(self, init_ms: float, warmup, runs, init_mb: float, overall_mb: float,
                        peak_mb: float | None) -> None:
        """BenchmarkLoggingListener::OnBenchmarkEnd: LITERT_LOG lines; a leading or trailing "\\n" in the format
        splits the line (`INFO: [file:89] ` then the title on its own)."""
        w = [us for us, _ in warmup]
        r = [us for us, _ in runs]
        avg = sum(r) / len(r)
        std = (sum((x - avg) ** 2 for x in r) / len(r)) ** 0.5
        lines = [(89, "\n========== BENCHMARK RESULTS =========="),
                 (94, f"Model initialization: {init_ms:.2f} ms"),
                 (95, f"Warmup (first):       {w[0] / 1000:.2f} ms"),
                 (97, f"Warmup (avg):         {sum(w) / len(w) / 1000:.2f} ms ({len(w)} runs)"),
                 (99, f"Inference (avg):      {avg / 1000:.2f} ms ({len(r)} runs)"),
                 (103, f"Inference (min):      {min(r) / 1000:.2f} ms"),
                 (105, f"Inference (max):      {max(r) / 1000:.2f} ms"),
                 (107, f"Inference (std):      {std / 1000:.2f}"),
                 (115, f"Throughput:           {self._throughput(r):.2f} MB/s"),
                 (124, "\nMemory Usage:"),
                 (125, f"Init footprint:       {init_mb:.2f} MB"),
                 (127, f"Overall footprint:    {overall_mb:.2f} MB"),
                 (132, f"Peak memory:          {peak_mb:.2f} MB") if peak_mb else
                 (134, "Peak memory usage not available. (peak_mem_mb <= 0)"),
                 (138, "======================================\n")]
        for line, text in lines:
            self.log.litert(H, line, text)

    def _throughput(self, runs_us: list[float]) -> float:
        """BenchmarkResults::throughput_MB_per_second: input bytes per run over the mean run time, in MiB/s."""
        input_bytes = sum(tensor_bytes(self.graph, t) for t in self.graph.inputs)
        return input_bytes * len(runs_us) * 1e6 / sum(runs_us) / (1024.0 * 1024.0)

    def _result_file(self, init_ms: float, warmup, runs, init_mb: float, overall_mb: float,
                     peak_mb: float | None) -> None:
        target = self.flags.text("result_file_path")
        r = [us for us, _ in runs]
        data = bench_outputs.benchmark_result(init_ms * 1000, [us for us, _ in warmup], r, int(init_mb * 1024),
                                              int(overall_mb * 1024), peak_mb, self.model_mb, self._throughput(r))
        if self.litert:
            self.log.litert(H, 177, f"Saving benchmark result to: {target}")
        if self._write(target, data):
            if self.litert:
                self.log.litert(H, 181, f"Saved benchmark result to: {target}")
        elif self.litert:
            self.log.litert(H, 184, f"Failed to save benchmark result to: {target}", "ERROR")

    def _write(self, target: str, data: bytes) -> bool:
        host = self.ctx.fs.resolve(target, self.ctx.cwd)
        try:
            host.write_bytes(data)
        except OSError:
            return False
        return True

