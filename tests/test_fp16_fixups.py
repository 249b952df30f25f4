"""gather-table-fp32 on models built by the real TF converter and run on the real LiteRT interpreter."""

from __future__ import annotations

import numpy as np
import pytest

from devlab.build.fp16_fixups import GATHER_TABLE_FP32, apply_fp16_fixups
from devlab.build.gpu_compat import plan_gpu_delegation
from devlab.build.tflite_graph import TfliteGraph, read_tflite

pytestmark = pytest.mark.slow
VOCAB, WIDTH, TOKENS = 128, 16, 8  # VOCAB >= 100: the equivalence check feeds ids in [0, 100)


def _embedding_dense_model(one_d: bool = True, tied: bool = False):
    """ids (1, T) -> Embedding -> Dense. `one_d`: the gpu recipe's Embedding1D (1-D GATHER indices, so dtype is the
    GATHER's only GPU problem), else keras Embedding. `tied`: the table is also the output projection."""
    import keras

    from devlab.zoo.layers import Embedding1D

    ids = keras.Input((TOKENS,), batch_size=1, dtype="int32")
    embed = Embedding1D(VOCAB, WIDTH) if one_d else keras.layers.Embedding(VOCAB, WIDTH)
    hidden = keras.layers.Dense(WIDTH, activation="relu")(embed(ids))
    if tied:
        out = keras.layers.Lambda(lambda h: keras.ops.matmul(h, keras.ops.transpose(embed.embeddings)))(hidden)
    else:
        out = keras.layers.Dense(4)(hidden)
    keras.utils.set_random_seed(0)
    return keras.Model(ids, out)


def _raw_fp16(model) -> bytes:
    """The TF converter's own fp16 output, before devlab's fixups (same settings as devlab.build.convert)."""
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.target_spec.supported_types = [tf.float16]
    return bytes(converter.convert())


def _gather_table_producer(graph: TfliteGraph) -> tuple[int, str | None]:
    """The GATHER's table tensor and the op that writes it (None: nobody, i.e. a constant)."""
    gather = next(node for node in graph.ops if node.op == "GATHER")
    table = gather.inputs[0]
    producer = next((node.op for node in graph.ops if table in node.outputs), None)
    return table, producer


def _outputs(data: bytes, inputs: list[np.ndarray]) -> list[np.ndarray]:
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_content=data)
    interpreter.allocate_tensors()
    index_in = interpreter.get_input_details()[0]["index"]
    index_out = interpreter.get_output_details()[0]["index"]
    results = []
    for ids in inputs:
        interpreter.set_tensor(index_in, ids)
        interpreter.invoke()
        results.append(interpreter.get_tensor(index_out).copy())
    return results


def test_gather_reads_dequantize_before_and_an_fp32_constant_after():
    raw = _raw_fp16(_embedding_dense_model())
    before = read_tflite(raw)
    table, producer = _gather_table_producer(before)
    assert producer == "DEQUANTIZE" and before.tensor(table).dtype == "float32"
    dequantize = next(node for node in before.ops if table in node.outputs)
    assert before.tensor(dequantize.inputs[0]).dtype == "float16"
    assert before.tensor(dequantize.inputs[0]).is_constant

    fixed = apply_fp16_fixups(raw)
    after = read_tflite(fixed.data)
    table, producer = _gather_table_producer(after)
    assert producer is None
    assert after.tensor(table).dtype == "float32" and after.tensor(table).is_constant
    assert after.tensor(table).buffer_bytes == VOCAB * WIDTH * 4
    assert after.tensor(table).shape == (1, VOCAB, WIDTH)  # Embedding1D's (1, V, D) view, folded by the converter
    assert fixed.applied == (GATHER_TABLE_FP32,) and fixed.tables == 1 and fixed.removed_dequantize == 1
    assert after.op_histogram().get("DEQUANTIZE", 0) == before.op_histogram()["DEQUANTIZE"] - 1
    # the fp16 copy is released: the file grows by the fp32 table less the fp16 one (plus flatbuffer slack)
    assert len(fixed.data) - len(raw) < VOCAB * WIDTH * 2 + 1024
    # gpu_compat's dtype rule fires before and not after
    reasons = {v.op: v.reason for v in plan_gpu_delegation(before).verdicts if v.op == "GATHER"}
    assert reasons["GATHER"] == "Input / output dtype mismatch."
    assert not any(v.op == "GATHER" and v.reason == "Input / output dtype mismatch."
                   for v in plan_gpu_delegation(after).verdicts)


@pytest.mark.parametrize("one_d", [True, False], ids=["embedding-1d", "keras-embedding"])
def test_fixed_model_outputs_equal_the_unfixed_model_exactly(one_d: bool):
    raw = _raw_fp16(_embedding_dense_model(one_d))
    fixed = apply_fp16_fixups(raw)
    assert fixed.applied
    rng = np.random.default_rng(0)
    inputs = [rng.integers(0, VOCAB, size=(1, TOKENS), dtype=np.int32) for _ in range(5)]
    inputs.append(np.arange(TOKENS, dtype=np.int32).reshape(1, TOKENS) * 7 % VOCAB)
    for want, got in zip(_outputs(raw, inputs), _outputs(fixed.data, inputs)):
        assert want.dtype == got.dtype == np.float32
        assert np.array_equal(want, got)
    # and the numbers are not trivially equal: different ids give different outputs
    first, second = _outputs(fixed.data, inputs[:2])
    assert not np.array_equal(first, second)


def test_convert_keras_fp16_applies_and_records_the_fixup_fp32_does_not():
    from devlab.build.convert import convert_keras

    model = _embedding_dense_model()
    converted = convert_keras(model, "fp16")
    assert [entry["name"] for entry in converted.fixups] == [GATHER_TABLE_FP32]
    assert converted.fixups[0]["why"] and converted.fixups[0]["tables"] == 1
    assert _gather_table_producer(read_tflite(converted.data))[1] is None
    plain = convert_keras(model, "none")
    assert plain.fixups == ()
    unchanged = apply_fp16_fixups(plain.data)
    assert unchanged.data == plain.data and unchanged.applied == ()


def test_table_with_a_second_reader_keeps_its_dequantize():
    # keras Embedding with a tied output projection: the converter feeds one DEQUANTIZE to GATHER and FULLY_CONNECTED
    raw = _raw_fp16(_embedding_dense_model(one_d=False, tied=True))
    before = read_tflite(raw)
    table_before, producer = _gather_table_producer(before)
    assert producer == "DEQUANTIZE"
    assert any(node.op == "FULLY_CONNECTED" and table_before in node.inputs for node in before.ops)
    fixed = apply_fp16_fixups(raw)
    after = read_tflite(fixed.data)
    table, producer = _gather_table_producer(after)
    assert producer is None and after.tensor(table).dtype == "float32" and after.tensor(table).is_constant
    assert fixed.tables == 1 and fixed.removed_dequantize == 0
    assert after.op_histogram()["DEQUANTIZE"] == before.op_histogram()["DEQUANTIZE"]
    assert any(node.op == "FULLY_CONNECTED" and table_before in node.inputs for node in after.ops)
    ids = [np.arange(TOKENS, dtype=np.int32).reshape(1, TOKENS), np.full((1, TOKENS), VOCAB - 1, np.int32)]
    for want, got in zip(_outputs(raw, ids), _outputs(fixed.data, ids)):
        assert np.array_equal(want, got)


def test_clip_text_gpu_variant_is_predicted_fully_on_the_gpu():
    from devlab.build.convert import convert_keras
    from devlab.build.rewrites import GPU_RECIPE, graph_options_for
    from devlab.zoo import get_zoo_model

    model = get_zoo_model("clip-text").build(graph_options_for(GPU_RECIPE), 0)
    converted = convert_keras(model, "fp16")
    assert [entry["name"] for entry in converted.fixups] == [GATHER_TABLE_FP32]
    graph = read_tflite(converted.data)
    plan = plan_gpu_delegation(graph)
    assert plan.applied == "full" and plan.ops_on_cpu == 0
    gather = next(node for node in graph.ops if node.op == "GATHER")
    assert gather.index in plan.delegated and graph.tensor(gather.inputs[0]).dtype == "float32"


def test_build_records_the_fixup_in_the_manifest_recipe(tmp_path):
    import json

    from devlab.build.pipeline import MANIFEST_NAME, build_variants
    from devlab.build.sources import resolve_model
    from devlab.build.variants import parse_variants

    path = tmp_path / "embed.keras"
    _embedding_dense_model(one_d=False).save(path)
    build_variants(resolve_model(str(path)), parse_variants("fp32,fp16", "keras"), tmp_path / "out")
    entries = {entry["name"]: entry for entry in json.loads((tmp_path / "out" / MANIFEST_NAME).read_text())["variants"]}
    assert [fixup["name"] for fixup in entries["fp16"]["recipe"]["fixups"]] == [GATHER_TABLE_FP32]
    assert "fixups" not in entries["fp32"]["recipe"]
    assert entries["fp16"]["equivalence"]["passed"]
