"""Hostile bytes for every parser besides the benchmark log (tests/test_bench_fuzz.py has that one): op-profile CSV,
Perfetto traces (real fixture traces and a generated one), trace configs, .tflite model files, devlab.toml.

Properties: the parser returns or raises a DevlabError whose message is one line; never another exception type;
never a number that the input did not hold (a truncated trace never has more packets or slices than the whole one;
an op-profile row's numbers appear as printed in the text)."""

from __future__ import annotations

import math
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devlab.bench.op_profile import parse_op_profile_csv
from devlab.build.tflite_graph import read_tflite
from devlab.config import load_config
from devlab.errors import DevlabError
from devlab.trace.config import parse_config
from devlab.trace.analysis import analyze

pytestmark = pytest.mark.timeout(120)

REAL = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "real"
FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
TRACES = [REAL / "traces" / name for name in ("aosp_winscope_input_events_pixeltablet.perfetto-trace",
                                                "aosp_winscope_no_winscope_traces_pixel6.perfetto-trace")]
MODELS = [REAL / "models" / "litert" / name for name in ("add_10x10.tflite", "simple_quantized_ops.tflite",
                                                         "island_partial.tflite")]
CONFIGS = sorted((REAL / "trace_configs").glob("*.textproto")) + sorted((REAL / "trace_configs").glob("*.cfg"))
CSV = "\n".join([
    "Operator-wise Profiling Info for Regular Benchmark Runs:",
    "============================== Run Order ==============================",
    "node type, first, avg_ms, %, cdf%, mem KB, times called, name",
    "CONV_2D, 1.75e+00, 1.75, 35%, 35%, 0, 1, [a, b]:2",
    "TfLiteGpuDelegateV2, 3.5, 3.25, 65%, 100%, 0, 1, [out]:4",
    "convolution_2d 3 -> relu 4, 0.2, 0.19, 4%, 4%, 0, 1, GPU kernel",
    "============================== Summary by node type ==============================",
    "node type, count, avg_ms, avg %, cdf %, mem KB, times called",
    "CONV_2D, 1, 1.75, 35%, 35%, 0, 1",
    "Timings (microseconds): count=10 first=5100 curr=5000 min=4900 max=5200 avg=5000 std=90",
    "",
])
_NOISE = st.one_of(st.binary(max_size=64), st.text(max_size=32).map(lambda s: s.encode("utf-8")),
                   st.sampled_from([b"\x00" * 16, b"\xff" * 16, b"\x0a\xff\xff\xff\xff\x0f", b"9" * 40]))


def _assert_devlab_error(exc: DevlabError) -> None:
    assert "\n" not in str(exc) and str(exc).strip(), repr(str(exc))


def _mutate(data: bytes, at: float, noise: bytes, keep: float) -> bytes:
    """Overwrite bytes at a relative position with noise, then keep a leading fraction."""
    spot = int(at * len(data))
    mutated = data[:spot] + noise + data[spot + len(noise):]
    return mutated[:max(0, int(keep * len(mutated)))]


def _analyze_bytes(data: bytes):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "fuzz.perfetto-trace"
        path.write_bytes(data)
        try:
            return analyze(path, trace_processor="")
        except DevlabError as exc:
            _assert_devlab_error(exc)
            return None


@pytest.fixture(scope="module")
def generated_trace(tmp_path_factory) -> Path:
    from devlab.trace.host_trace import HostTrack, write_host_trace
    spans = tuple((1_000_000_000 + i * 2_000_000, 1_500_000) for i in range(50))
    return write_host_trace(tmp_path_factory.mktemp("gen") / "gen.perfetto-trace",
                            [HostTrack("as-is on cpu", spans), HostTrack("fp16 on gpu", spans)])


def _slice_counts(summary) -> dict[str, int]:
    return {s.name: s.count for s in summary.slices}


@pytest.mark.parametrize("index", range(len(TRACES) + 1))
def test_truncated_traces_never_count_more_than_the_whole(index, generated_trace):
    path = TRACES[index] if index < len(TRACES) else generated_trace
    data = path.read_bytes()
    whole = analyze(path, trace_processor="")
    assert whole.packets > 0

    @FUZZ
    @given(cut=st.integers(min_value=0, max_value=len(data)))
    def check(cut: int) -> None:
        part = _analyze_bytes(data[:cut])
        if part is None:
            return
        assert part.packets <= whole.packets
        counts, full = _slice_counts(part), _slice_counts(whole)
        assert all(counts[name] <= full.get(name, 0) for name in counts), "a truncated trace invented slices"

    check()


@FUZZ
@given(which=st.integers(0, len(TRACES) - 1), at=st.floats(0, 1), noise=_NOISE, keep=st.floats(0, 1))
def test_mutated_real_traces_give_a_summary_or_one_devlab_error(which, at, noise, keep):
    summary = _analyze_bytes(_mutate(TRACES[which].read_bytes(), at, noise, keep))
    if summary is not None:
        for counter in summary.counters:
            assert all(v is None or math.isfinite(v) for v in (counter.min, counter.mean, counter.max))


@FUZZ
@given(data=st.binary(max_size=2048))
def test_garbage_traces_give_a_summary_or_one_devlab_error(data):
    _analyze_bytes(data)


@FUZZ
@given(which=st.integers(0, len(MODELS) - 1), at=st.floats(0, 1), noise=_NOISE, keep=st.floats(0, 1))
def test_mutated_and_truncated_models_give_a_graph_or_one_devlab_error(which, at, noise, keep):
    data = _mutate(MODELS[which].read_bytes(), at, noise, keep)
    try:
        graph = read_tflite(data)
    except DevlabError as exc:
        _assert_devlab_error(exc)
        return
    assert all(op.index >= 0 for op in graph.ops)


@FUZZ
@given(which=st.integers(0, max(0, len(CONFIGS) - 1)), cut=st.floats(0, 1), junk=st.text(max_size=40))
def test_truncated_and_garbled_trace_configs_give_one_config_error(which, cut, junk):
    text = CONFIGS[which].read_text(encoding="utf-8", errors="replace")
    for candidate in (text[:int(cut * len(text))], text[:int(cut * len(text))] + junk, junk):
        try:
            parse_config(candidate)
        except DevlabError as exc:
            _assert_devlab_error(exc)


@FUZZ
@given(cut=st.integers(0, len(CSV)), junk=st.sampled_from(["", "1e308", "9" * 400, "nan", "inf", "ü€𝄞", "\x00",
                                                           ",,,,", "-1"]), where=st.integers(0, len(CSV)))
def test_op_profile_csv_truncated_or_garbled_reports_only_printed_numbers(cut, junk, where):
    text = (CSV[:where] + junk + CSV[where:])[:cut + len(junk)]
    try:
        profile = parse_op_profile_csv(text)
    except DevlabError as exc:
        _assert_devlab_error(exc)
        return
    for row in profile.rows:
        for value in (row.first_ms, row.avg_ms):
            assert value is None or (math.isfinite(value) and _printed(value, text)), (value, text)


def _printed(value: float, text: str) -> bool:
    import re
    return any(math.isclose(float(t), value, rel_tol=1e-9) for t in re.findall(r"[-+]?\d+(?:\.\d*)?(?:[eE][-+]?\d+)?",
                                                                                text) if math.isfinite(float(t)))


_TOML_PIECES = st.sampled_from([
    '[devices.s23]\nmodel = "SM-S918*"\n', '[devices."a b; $(touch x)"]\nserial = "1"\n', "[devices.x]\n",
    '[benchmark_model]\narm64-v8a = 12\n', '[adb]\nservers = ["127.0.0.1:5037", 7]\n', "[adb]\nservers = 1e999\n",
    'model = "x"\n', "[devices.s23]\nmodel = 99999999999999999999999999999\n", "=\n", '"\n', "[[devices]]\n",
    '[devices.\u00fc\u20ac]\nmodel = "\U0001d11e"\n', "\x00", "[unknown]\n"])


@FUZZ
@given(pieces=st.lists(_TOML_PIECES, max_size=4), cut=st.floats(0, 1), raw=st.binary(max_size=32))
def test_devlab_toml_gives_a_config_or_one_config_error(pieces, cut, raw):
    text = "".join(pieces)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "devlab.toml"
        for content in (text[:int(cut * len(text))].encode("utf-8"), text.encode("utf-8") + raw):
            path.write_bytes(content)
            try:
                config = load_config(path)
            except DevlabError as exc:
                _assert_devlab_error(exc)
                continue
            assert all(alias.model is None or isinstance(alias.model, str) for alias in config.devices)
