"""ModelRuntimeDetails (the LiteRT tool's runtime-info file) can be written and read in a process where TensorFlow's
own copy of the tflite.profiling protos is already registered: a Keras build followed by a phone run does exactly
that (and the simulated phone lives in the test process next to TF). Importing ai-edge-litert's generated module
there fails with "duplicate symbol 'tflite.profiling.BenchmarkProfilingData'"."""

from __future__ import annotations

import subprocess
import sys

SCRIPT = """
import tensorflow.lite.profiling.proto.model_runtime_info_pb2   # TF's copy registers tflite.profiling.* first
from devlab.build.tflite_graph import read_tflite
from devlab.bench.results_proto import decode_runtime_info
from devlab.sim.bench_outputs import runtime_info
graph = read_tflite(sys.argv[1])
data = runtime_info(graph, (0, 1), "LITERT_CL", "m")
(subgraph,) = decode_runtime_info(data)
print(subgraph.subgraph_type, subgraph.delegates[0][0], list(subgraph.delegates[0][2]), subgraph.nodes)
"""


def test_runtime_info_round_trips_with_tensorflows_protos_loaded(real_fixtures):
    model = real_fixtures / "models" / "litert" / "add_10x10.tflite"
    done = subprocess.run([sys.executable, "-c", "import sys\n" + SCRIPT, str(model)], capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-1500:]
    assert done.stdout.split("\n")[-2].startswith("TFLITE_SUBGRAPH LITERT_CL [0, 1]")
