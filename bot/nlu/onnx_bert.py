"""The BERT encoder of bot/nlu/encoder.py as an ONNX graph, run by onnxruntime.

Why: the NumPy forward pass costs ~9 ms per message; onnxruntime runs the same
weights with fused kernels in a fraction of that. The graph is built in memory
from the ``model.safetensors`` already read for the NumPy backend (same model,
same tokenizer, nothing downloaded, no third-party export to trust) and written
with the small protobuf writer in bot/nlu/onnx_proto.py.

Graph: word embeddings (Gather) + position/type embeddings (Slice) -> LayerNorm,
then per layer onnxruntime's fused ``com.microsoft.Attention`` (Q, K, V in one
MatMul; the 0/1 attention mask as mask_index), output projection + residual ->
LayerNorm, and the feed-forward block with the exact (erf) GELU. onnxruntime
fuses bias + GELU itself at optimisation level ALL; residual + LayerNorm is written
as its SkipLayerNormalization (it did not fuse that pattern). Output: the last hidden
state; pooling stays in encoder.py, shared by both backends.
"""

from __future__ import annotations

import math
from typing import Dict, List, Tuple

import numpy as np

from bot.nlu import onnx_proto as P

INPUT_IDS, ATTENTION_MASK, OUTPUT = "input_ids", "attention_mask", "last_hidden_state"


def quantize_columns(weight_t: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Symmetric int8 per output column: (int8 weights, float scales), weight ~ q * scale."""
    scale = np.maximum(np.abs(weight_t).max(axis=0), 1e-8).astype(np.float32) / 127.0
    return np.clip(np.rint(weight_t / scale), -127, 127).astype(np.int8), scale


def build_bert_model(w: Dict[str, np.ndarray], heads: int, layers: int, eps: float,
                     int8: bool = False) -> bytes:
    """A serialised ONNX ModelProto for a BERT encoder with weights ``w`` (keys without ``bert.``).

    ``int8``: the dense layers (not attention's Q/K/V) as onnxruntime's DynamicQuantizeMatMul
    with int8 weights per output column; faster, but see bench/encoder.py for the cost.
    """
    nodes: List[bytes] = []
    inits: List[bytes] = []

    def init(name: str, array: np.ndarray) -> str:
        inits.append(P.tensor(name, np.ascontiguousarray(array)))
        return name

    def op(kind: str, inputs: List[str], out: str, domain: str = "", **attrs) -> str:
        nodes.append(P.node(kind, inputs, [out], name=out, domain=domain, **attrs))
        return out

    def layer_norm(x: str, prefix: str, out: str) -> str:
        return op("LayerNormalization", [x, init(prefix + ".weight", w[prefix + ".weight"]),
                                         init(prefix + ".bias", w[prefix + ".bias"])],
                  out, axis=-1, epsilon=float(eps))

    def linear(x: str, prefix: str, out: str, bias: bool = True) -> str:
        if int8:
            q, scale = quantize_columns(w[prefix + ".weight"].T)
            b = [init(prefix + ".bias", w[prefix + ".bias"])] if bias else []
            return op("DynamicQuantizeMatMul", [
                x, init(prefix + ".weight_q", q), init(prefix + ".scale", scale),
                init(prefix + ".zero", np.zeros_like(q[0]))] + b, out, domain="com.microsoft")
        y = op("MatMul", [x, init(prefix + ".weight_t", w[prefix + ".weight"].T)], out + "_mm")
        return op("Add", [y, init(prefix + ".bias", w[prefix + ".bias"])], out) if bias else y

    def dense_add_norm(x: str, dense: str, residual: str, norm: str, out: str) -> str:
        """LayerNorm(x @ W + b + residual) as one fused SkipLayerNormalization after the MatMul."""
        y = linear(x, dense, out + "_dense", bias=False)
        return op("SkipLayerNormalization", [
            y, residual, init(norm + ".weight", w[norm + ".weight"]), init(norm + ".bias", w[norm + ".bias"]),
            init(dense + ".bias", w[dense + ".bias"])], out, domain="com.microsoft", epsilon=float(eps))

    f32 = np.float32
    sqrt2, one, half = (init(n, np.array(v, f32)) for n, v in
                        (("c_sqrt2", math.sqrt(2.0)), ("c_one", 1.0), ("c_half", 0.5)))
    # Embeddings: word + position[:T] + token type 0 (all texts are single segments).
    pos_type = w["embeddings.position_embeddings.weight"] + w["embeddings.token_type_embeddings.weight"][0]
    words = op("Gather", [init("word_embeddings", w["embeddings.word_embeddings.weight"]), INPUT_IDS], "we")
    shape = op("Shape", [INPUT_IDS], "ids_shape")
    seq = op("Slice", [shape, init("c_1", np.array([1], np.int64)), init("c_2", np.array([2], np.int64))], "seq")
    pos = op("Slice", [init("pos_type", pos_type), init("c_0", np.array([0], np.int64)), seq, "c_0"], "pe")
    x = layer_norm(op("Add", [words, pos], "emb"), "embeddings.LayerNorm", "x0")
    mask = op("Cast", [ATTENTION_MASK], "mask_i32", to=P.INT32)
    for i in range(layers):
        p = f"encoder.layer.{i}."
        qkv = [p + f"attention.self.{n}" for n in ("query", "key", "value")]
        wqkv = init(p + "qkv.weight", np.concatenate([w[n + ".weight"].T for n in qkv], axis=1))
        bqkv = init(p + "qkv.bias", np.concatenate([w[n + ".bias"] for n in qkv]))
        a = op("Attention", [x, wqkv, bqkv, mask], f"att{i}", domain="com.microsoft", num_heads=heads)
        x = dense_add_norm(a, p + "attention.output.dense", x, p + "attention.output.LayerNorm", f"xa{i}")
        h = linear(x, p + "intermediate.dense", f"ff{i}")
        erf = op("Erf", [op("Div", [h, sqrt2], f"ff{i}_div")], f"ff{i}_erf")
        gelu = op("Mul", [op("Mul", [h, op("Add", [erf, one], f"ff{i}_1p")], f"ff{i}_m"), half], f"ff{i}_gelu")
        x = dense_add_norm(gelu, p + "output.dense", x, p + "output.LayerNorm",
                           OUTPUT if i == layers - 1 else f"x{i + 1}")
    dim = w["embeddings.word_embeddings.weight"].shape[1]
    return P.model(
        nodes, "minilm_bert",
        inputs=[P.value_info(INPUT_IDS, P.INT64, ["batch", "seq"]),
                P.value_info(ATTENTION_MASK, P.INT64, ["batch", "seq"])],
        outputs=[P.value_info(OUTPUT, P.FLOAT, ["batch", "seq", dim])],
        initializers=inits, opsets=[("", 17), ("com.microsoft", 1)], producer="bot.nlu.onnx_bert",
    )


def make_session(model: bytes, threads: int):
    """An onnxruntime CPU session with every graph optimisation and ``threads`` intra-op threads.

    One thread for single messages (a Rasa server gives a parse one core; more threads
    only add hand-off cost on a 12-token input); more for batches at training time.
    """
    try:
        import onnxruntime as ort
    except ImportError as e:  # the pinned requirement is missing: say what to install
        raise ImportError(
            "SentenceEmbeddingFeaturizer backend 'onnx' needs onnxruntime (pip install -r requirements.txt "
            "-c constraints.txt), or set `backend: numpy` in config.yml"
        ) from e
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.intra_op_num_threads = max(1, threads)
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.log_severity_level = 3
    if threads > 1:  # idle workers sleep instead of spinning: the cores are shared (Rasa, other jobs)
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"])
