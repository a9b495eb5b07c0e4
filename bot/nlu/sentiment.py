"""Rasa component: sentiment and complaint score of each user turn.

Place it right after ``SentenceEmbeddingFeaturizer``; it reads that featurizer's dense
sentence vector from the message (and encodes the text itself only if the vector is missing),
then runs ``bot.nlu.sentiment_model.SentimentModel`` (two small linear heads on the MiniLM
vector + VADER scores). Each message gets, in the parse result and in
``tracker.latest_message.parse_data``::

    "sentiment": {
        "label": "negative" | "neutral" | "positive",
        "score": p_pos - p_neg,                # in [-1, 1]
        "probabilities": {"negative": .., "neutral": .., "positive": ..},
        "complaint": probability,              # 0..1; the trained threshold is in the model meta
        "model": "minilm-vader-lr/1",
    }

``label`` uses the decision rule chosen by CV at training time (class offsets), so it can differ
from the largest probability when two classes are close.

At train time the model is fitted on ``train_csv`` (default: the shipped
``bot/nlu/sentiment/train.csv``), not on the NLU training data. ``fingerprint_addon`` hashes
that file (and the Bitext file, if enabled), so editing the CSV retrains the component.
The weights are stored as plain arrays (npz), not pickled.

Chinese: MiniLM and VADER are English-only and carry next to no signal on Chinese text, so a message
that ``bot.nlu.sentiment_zh.is_chinese`` is scored by a second model, character n-grams + LR
(``bot/nlu/sentiment_zh.py``, trained on ``train_csv_zh``, default ``bot/nlu/sentiment/train_zh.csv``;
``"model": "zh-char-lr/1"``). English messages go through the English model exactly as before.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Text

import numpy as np

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import FEATURE_TYPE_SENTENCE, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.nlu.sentiment_data import BITEXT_CSV, DEFAULT_TRAIN_CSV, file_digest
from bot.nlu.sentiment_model import SentimentModel, train_from_csv
from bot.nlu.sentiment_zh import DEFAULT_TRAIN_CSV_ZH, ZhSentimentModel, is_chinese
from bot.nlu.sentiment_zh import train_from_csv as train_zh_from_csv

logger = logging.getLogger(__name__)

SENTIMENT = "sentiment"  # the message / parse-data key
_MODEL_FILE = "sentiment.npz"
_ZH_MODEL_FILE = "sentiment_zh.npz"


def _train_csv(config: Dict[Text, Any]) -> Path:
    return Path(config.get("train_csv") or DEFAULT_TRAIN_CSV)


def _train_csv_zh(config: Dict[Text, Any]) -> Path:
    return Path(config.get("train_csv_zh") or DEFAULT_TRAIN_CSV_ZH)


def _bitext_file(config: Dict[Text, Any]) -> Optional[Path]:
    root = config.get("bitext_data")
    return Path(root) / BITEXT_CSV if root else None


@DefaultV1Recipe.register(
    [DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER], is_trainable=True
)
class SentimentScorer(GraphComponent):
    """Sets ``message["sentiment"]`` (label, score, probabilities, complaint, model).

    Config:
      train_csv: ``text,sentiment,complaint`` CSV to train on; default the shipped file.
      C, class_weight, text_feature_weight: LogisticRegression settings (chosen by CV on
        the shipped CSV, see bench/SENTIMENT.md).
      tune_decision: pick the class offsets and complaint threshold by 5-fold CV on the CSV.
      bitext_data: a data root holding ``bitext_customer_support/`` (CDLA-Sharing-1.0) to add
        ``bitext_limit`` of its requests as neutral examples; default null (off: it did not help).
      train_csv_zh, C_zh: the Chinese model's CSV and LogisticRegression C (chosen by CV on that CSV,
        ``./run bench-sentiment --lang zh``).
      featurizer: substring of the dense featurizer's name whose sentence vector is used.
      backend, model_dir, batch_size: the sentence encoder used for the CSV at train time
        and as a fallback when a message has no vector; keep them equal to the featurizer's.
    """

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        """The component's default config."""
        return {
            "train_csv": None,
            "C": 0.01,
            "class_weight": None,
            "text_feature_weight": 1.0,
            "tune_decision": True,
            "bitext_data": None,
            "bitext_limit": 500,
            "train_csv_zh": None,
            "C_zh": 30.0,
            "featurizer": "SentenceEmbeddingFeaturizer",
            "backend": "onnx",  # the featurizer's default (bot/nlu/encoder.py)
            "model_dir": None,
            "batch_size": 64,
        }

    @staticmethod
    def required_packages() -> List[Text]:
        """Python packages this component needs."""
        return ["sklearn", "vaderSentiment"]

    @classmethod
    def fingerprint_addon(cls, config: Dict[str, Any]) -> Optional[str]:
        """Hashes the training CSV (and the Bitext file if used), so a changed file retrains."""
        config = {**cls.get_default_config(), **config}
        return file_digest(_train_csv(config), _bitext_file(config), _train_csv_zh(config))

    def __init__(
        self,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        model: Optional[SentimentModel] = None,
        zh_model: Optional[ZhSentimentModel] = None,
    ) -> None:
        """Creates the component from its config and (when loaded) a trained model."""
        self._config = {**self.get_default_config(), **config}
        self._model_storage = model_storage
        self._resource = resource
        self.model = model
        self.zh_model = zh_model

    @classmethod
    def create(
        cls,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> "SentimentScorer":
        """Creates a new untrained component (see parent class for full docstring)."""
        return cls(config, model_storage, resource)

    @classmethod
    def validate_config(cls, config: Dict[Text, Any]) -> None:
        """Checks the option values that would only fail late."""
        from bot.nlu.encoder import BACKENDS

        if config.get("backend", "onnx") not in BACKENDS:
            raise ValueError(f"SentimentScorer: backend must be one of {', '.join(BACKENDS)}")
        if float(config.get("text_feature_weight", 1.0)) <= 0:
            raise ValueError("SentimentScorer: text_feature_weight must be > 0")

    # ---------------------------------------------------------------- helpers
    def _encode(self, texts: List[Text]) -> np.ndarray:
        from bot.nlu.encoder import SentenceEncoder

        encoder = SentenceEncoder.get(self._config["model_dir"], self._config["backend"])
        return encoder.encode(texts, batch_size=self._config["batch_size"])

    def _vector(self, message: Message) -> Optional[np.ndarray]:
        """The featurizer's sentence vector on the message, if there is one of the right size."""
        want = self.model.vector_dim if self.model else None
        name = self._config["featurizer"] or ""
        for f in message.features:
            if f.attribute != TEXT or f.type != FEATURE_TYPE_SENTENCE or f.is_sparse():
                continue
            origin = f.origin if isinstance(f.origin, str) else "+".join(f.origin)
            if name in origin and (want is None or f.features.shape[-1] == want):
                return np.asarray(f.features).reshape(-1)
        return None

    # ---------------------------------------------------------------- training
    def train(self, training_data: TrainingData) -> Resource:
        """Fits the model on the CSV (the NLU training data is not used)."""
        start = time.perf_counter()
        cfg = self._config
        bitext_root = cfg["bitext_data"]
        if bitext_root and not (Path(bitext_root) / BITEXT_CSV).exists():
            logger.warning(f"SentimentScorer: no Bitext data under {bitext_root}; training without it.")
            bitext_root = None
        self.model = train_from_csv(
            _train_csv(cfg), encode=self._encode, bitext_root=bitext_root,
            bitext_limit=cfg["bitext_limit"], C=cfg["C"], class_weight=cfg["class_weight"],
            text_feature_weight=cfg["text_feature_weight"], tune=cfg["tune_decision"],
        )
        logger.info(f"SentimentScorer: trained {self.model.name} on {self.model.meta['n']} examples "
                    f"in {time.perf_counter() - start:.1f} s; CV {self.model.meta.get('cv')}")
        start = time.perf_counter()
        self.zh_model = train_zh_from_csv(_train_csv_zh(cfg), C=cfg["C_zh"], tune=cfg["tune_decision"])
        logger.info(f"SentimentScorer: trained {self.zh_model.name} on {self.zh_model.meta['n']} examples "
                    f"in {time.perf_counter() - start:.1f} s; CV {self.zh_model.meta.get('cv')}")
        self.persist()
        return self._resource

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        """Nothing to add to training examples."""
        return training_data

    # ---------------------------------------------------------------- inference
    def process(self, messages: List[Message]) -> List[Message]:
        """Sets ``sentiment`` on every message that has text."""
        if self.model is None:
            return messages
        todo = []
        for m in messages:
            if not m.get(TEXT):
                continue
            if self.zh_model is not None and is_chinese(m.get(TEXT)):
                m.set(SENTIMENT, self.zh_model.predict_one(m.get(TEXT)), add_to_output=True)
            else:
                todo.append(m)
        vectors = [self._vector(m) for m in todo]
        missing = [i for i, v in enumerate(vectors) if v is None]
        if missing:
            encoded = self._encode([todo[i].get(TEXT) for i in missing])
            for i, v in zip(missing, encoded):
                vectors[i] = v
        for message, vector in zip(todo, vectors):
            message.set(SENTIMENT, self.model.predict_one(vector, message.get(TEXT)), add_to_output=True)
        return messages

    # ---------------------------------------------------------------- storage
    def persist(self) -> None:
        """Writes the model as one npz file."""
        if self.model is None:
            return
        with self._model_storage.write_to(self._resource) as d:
            self.model.save(Path(d) / _MODEL_FILE)
            if self.zh_model is not None:
                self.zh_model.save(Path(d) / _ZH_MODEL_FILE)

    @classmethod
    def load(
        cls,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> "SentimentScorer":
        """Loads the trained model, or returns an untrained component if there is none."""
        try:
            with model_storage.read_from(resource) as d:
                model = SentimentModel.load(Path(d) / _MODEL_FILE)
                zh_path = Path(d) / _ZH_MODEL_FILE
                zh_model = ZhSentimentModel.load(zh_path) if zh_path.exists() else None
        except (ValueError, FileNotFoundError):
            logger.warning("SentimentScorer: no trained model found; messages get no sentiment.")
            return cls(config, model_storage, resource)
        return cls(config, model_storage, resource, model, zh_model)
