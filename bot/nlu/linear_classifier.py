"""Rasa component: a fast linear intent classifier (linear SVM, calibrated softmax).

Each sentence-level feature block is weighted on its own: sparse counts (from
CountVectorsFeaturizer, RegexFeaturizer, ...) become sublinear TF-IDF rows with
unit length; dense vectors are scaled to length ``dense_weight``. A LinearSVC is
trained on the concatenation; its scores become confidences through a softmax
whose temperature is fitted on held-out scores (bot/nlu/calibration.py: intents
with one example stay in training, a prior temperature when nothing can be held
out), so one FallbackClassifier threshold means the same on any training data,
and multiplied by a factor for the distance to the nearest training example
(bot/nlu/oos.py), so messages unlike anything trained on fall back. The model is
stored as plain arrays (npz + json), not pickled.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any, Dict, List, Optional, Text, Tuple

import numpy as np
import scipy.sparse as sp

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.classifiers.classifier import IntentClassifier
from rasa.shared.nlu.constants import FEATURE_TYPE_SENTENCE, INTENT, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from common.language import has_han
from bot.nlu.calibration import (PRIOR_TEMPERATURE, fit_temperature, heldout_scores, softmax,
                                  subset_temperature)
from bot.nlu.oos import (explicit_oos_probabilities, in_scope_factor, nearest_similarity,
                         reference_similarity, unit_rows)

logger = logging.getLogger(__name__)


def _decision(clf: Any, x: sp.csr_matrix) -> np.ndarray:
    """Scores with one column per class; sklearn's single binary column becomes (-s/2, s/2)."""
    s = clf.decision_function(x)
    return s if s.ndim == 2 else np.stack([-s / 2, s / 2], axis=1)


def intent_probabilities(labels: List[str], probs: np.ndarray) -> Tuple[List[str], np.ndarray]:
    """Per-class probabilities summed per intent ("faq/returns" and "faq/invoice" make "faq")."""
    names = sorted({label.split("/")[0] for label in labels})
    if len(names) == len(labels):
        return labels, probs
    out = np.zeros((probs.shape[0], len(names)))
    for i, label in enumerate(labels):
        out[:, names.index(label.split("/")[0])] += probs[:, i]
    return names, out


@DefaultV1Recipe.register(
    DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=True
)
class LinearIntentClassifier(IntentClassifier, GraphComponent):
    """Linear SVM over per-block normalised sentence features, with a calibrated ranking."""

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        """The component's default config."""
        return {
            "C": 0.5,  # SVM regularisation (smaller = stronger)
            # None: every example weighs 1; "balanced": each intent weighs the same in total, so an
            # intent with many examples (faq in two languages) does not crowd out a one-example intent
            "class_weight": None,
            # true: each retrieval-intent topic (faq/<topic>) is its own class and the intent's
            # confidence is the sum over its topics. One "faq" class made of 31 topics in two
            # languages is no linear region: it took a one-example intent's paraphrase (0.63).
            "retrieval_topics_as_classes": False,
            "dense_weight": 2.0,  # length of each dense block relative to a sparse block
            "sublinear_tf": True,
            # softmax temperature from held-out scores (bot/nlu/calibration.py); 0 or 1: the prior
            "calibration_folds": 3,
            # stop holding out folds once this many examples were scored (fewer fits on big data)
            "calibration_max_heldout": 3000,
            # out of scope (bot/nlu/oos.py): confidences are multiplied by a factor that falls
            # below 1 as the message's sentence vector gets further from every training example
            # than the oos_quantile of training examples are from each other (leave-one-out).
            # Chosen on BANKING77-OOS validation data (bench/README.md); oos_slope 0: off.
            "oos_quantile": 0.1,
            "oos_slope": 5.0,
            # intents that mean "out of scope" (the project's out_of_scope). When trained, they win
            # only if they still top the softmax with oos_intent_offset subtracted from their
            # logits; the other intents get their own temperature, and only their training
            # examples count for the distance factor (bot/nlu/oos.py). No such intent: no effect.
            "oos_intents": ["out_of_scope"],
            "oos_intent_offset": 2.0,
            "ranking_length": 10,
            "random_state": 42,
        }

    @staticmethod
    def required_packages() -> List[Text]:
        """Python packages this component needs."""
        return ["sklearn"]

    def __init__(
        self,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        state: Optional[Dict[str, Any]] = None,
    ) -> None:
        """Creates the classifier from its config and (when loaded) its trained state."""
        self.config = {**self.get_default_config(), **config}
        self._model_storage = model_storage
        self._resource = resource
        self.state: Dict[str, Any] = state or {}

    @classmethod
    def create(
        cls,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> "LinearIntentClassifier":
        """Creates a new untrained component (see parent class for full docstring)."""
        return cls(config, model_storage, resource)

    # ---------------------------------------------------------------- features
    @staticmethod
    def _blocks(message: Message) -> Dict[str, Any]:
        return {
            f.origin if isinstance(f.origin, str) else "+".join(f.origin): f.features
            for f in message.features
            if f.attribute == TEXT and f.type == FEATURE_TYPE_SENTENCE
        }

    def _matrix(self, messages: List[Message]) -> sp.csr_matrix:
        """Rows of weighted, normalised features in the block layout seen in training."""
        s = self.state
        per_block: List[sp.csr_matrix] = []
        rows = [self._blocks(m) for m in messages]
        for name, dim, sparse in zip(s["origins"], s["dims"], s["is_sparse"]):
            parts = [r.get(name) for r in rows]
            if sparse:
                x = sp.vstack([sp.csr_matrix(p) if p is not None else sp.csr_matrix((1, dim))
                               for p in parts]).tocsr().astype(np.float64)
                if self.config["sublinear_tf"]:
                    x.data = np.log1p(np.abs(x.data))
                x.data *= s["idf"][name][x.indices]
            else:
                x = sp.csr_matrix(np.vstack([np.asarray(p).reshape(1, -1) if p is not None
                                             else np.zeros((1, dim)) for p in parts]))
            norms = np.sqrt(np.asarray(x.multiply(x).sum(axis=1))).ravel()
            scale = (1.0 if sparse else self.config["dense_weight"]) / np.maximum(norms, 1e-12)
            per_block.append(x.multiply(scale[:, None]).tocsr())
        return sp.hstack(per_block).tocsr()

    def _dense(self, messages: List[Message]) -> Optional[np.ndarray]:
        """Unit-length concatenation of the dense blocks (the sentence vector), or None."""
        s = self.state
        names = [(n, d) for n, d, sparse in zip(s["origins"], s["dims"], s["is_sparse"]) if not sparse]
        if not names:
            return None
        rows = [self._blocks(m) for m in messages]
        x = np.hstack([np.vstack([np.asarray(r[n]).reshape(1, -1) if r.get(n) is not None
                                  else np.zeros((1, d)) for r in rows]) for n, d in names])
        return unit_rows(x)

    def _layout(self, messages: List[Message]) -> None:
        """Records the feature blocks and the sparse blocks' IDF from training data."""
        names: Dict[str, Tuple[int, bool]] = {}
        for m in messages:
            for name, f in self._blocks(m).items():
                names.setdefault(name, (f.shape[-1], sp.issparse(f)))
        self.state = {"origins": list(names), "dims": [d for d, _ in names.values()],
                      "is_sparse": [s for _, s in names.values()], "idf": {}}
        n = len(messages)
        for name, (dim, sparse) in names.items():
            if not sparse:
                continue
            df = np.zeros(dim)
            for m in messages:
                f = self._blocks(m).get(name)
                if f is not None:
                    df[sp.coo_matrix(f).col] += 1
            self.state["idf"][name] = np.log((1.0 + n) / (1.0 + df)) + 1.0

    # ---------------------------------------------------------------- training
    def train(self, training_data: TrainingData) -> Resource:
        """Fits the SVM, the softmax temperature and the out-of-scope reference."""
        from sklearn.svm import LinearSVC

        examples = [e for e in training_data.intent_examples if e.get(INTENT) and e.get(TEXT)]
        labels = sorted({self._label(e) for e in examples})
        if not examples:
            logger.debug("LinearIntentClassifier: no intent examples, nothing to train.")
            return self._resource
        self._layout(examples)
        self.state["labels"] = labels
        if len(labels) < 2:
            self.state.update(coef=np.zeros((1, 1)), intercept=np.zeros(1), temperature=1.0)
            logger.info("LinearIntentClassifier: a single intent, every message gets confidence 1")
            self.persist()
            return self._resource
        logger.info(f"LinearIntentClassifier: building features of {len(examples)} examples")
        x = self._matrix(examples)
        y = np.array([labels.index(self._label(e)) for e in examples])

        def svm() -> LinearSVC:
            return LinearSVC(C=self.config["C"], class_weight=self.config["class_weight"],
                             random_state=self.config["random_state"])

        def fold_scores(tr: np.ndarray, te: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
            part = svm().fit(x[tr], y[tr])
            return _decision(part, x[te]), part.classes_

        start = time.perf_counter()
        held, held_y = heldout_scores(
            y, len(labels), fold_scores, folds=self.config["calibration_folds"],
            seed=self.config["random_state"], max_heldout=self.config["calibration_max_heldout"],
            log=lambda msg: logger.info(f"LinearIntentClassifier: {msg} ({time.perf_counter() - start:.1f} s)"))
        temperature = fit_temperature(held, held_y) if len(held_y) else PRIOR_TEMPERATURE
        oos_cols = self._oos_cols(labels)
        if len(oos_cols):
            in_cols = np.setdiff1d(np.arange(len(labels)), oos_cols)
            self.state["in_scope_temperature"] = (
                subset_temperature(held, held_y, in_cols) if len(held_y) else PRIOR_TEMPERATURE)
            logger.info(f"LinearIntentClassifier: out-of-scope intents {[labels[i] for i in oos_cols]}, "
                        f"in-scope softmax temperature {self.state['in_scope_temperature']:.2f}")
        logger.info(f"LinearIntentClassifier: final fit on {len(y)} examples, {len(labels)} intents")
        clf = svm().fit(x, y)
        coef, intercept = clf.coef_, clf.intercept_
        if len(labels) == 2:  # sklearn keeps one row for two classes: the same halving as _decision
            coef, intercept = np.vstack([-coef, coef]) / 2, np.hstack([-intercept, intercept]) / 2
        self.state.update(coef=coef, intercept=intercept, temperature=temperature)
        in_scope = [e for e in examples if e.get(INTENT) not in self.config["oos_intents"]]
        memory = self._dense(in_scope) if self.config["oos_slope"] > 0 and in_scope else None
        if memory is not None:
            self.state["memory"] = memory
            # One reference per script: Chinese and English sentence vectors are spread differently
            # (USE reads Chinese only), so a shared quantile would move English confidences whenever
            # Chinese examples are added, and the other way round.
            han = np.array([has_han(e.get(TEXT)) for e in in_scope])
            q = self.config["oos_quantile"]
            self.state["oos_reference"] = reference_similarity(
                memory[~han] if (~han).sum() >= 2 else memory, q, 0.0)
            self.state["oos_reference_han"] = (
                reference_similarity(memory[han], q, 0.0) if han.sum() >= 2 else None)
            logger.info(f"LinearIntentClassifier: out-of-scope reference similarity "
                        f"{self.state['oos_reference']:.3f}, Chinese {self.state['oos_reference_han']} "
                        f"({len(memory)} sentence vectors kept)")
        logger.info(f"LinearIntentClassifier: {len(labels)} intents, {x.shape[1]} features, "
                    f"softmax temperature {temperature:.2f}")
        self.persist()
        return self._resource

    # ---------------------------------------------------------------- inference
    def process(self, messages: List[Message]) -> List[Message]:
        """Sets intent and intent_ranking on each message."""
        labels = self.state.get("labels")
        if not labels:
            return messages
        todo = [m for m in messages if m.get(TEXT)]
        if not todo:
            return messages
        if len(labels) == 1:
            probs = np.ones((len(todo), 1))
        else:
            scores = np.asarray(self._matrix(todo) @ self.state["coef"].T + self.state["intercept"])
            oos_cols = self._oos_cols(labels)
            if len(oos_cols) and self.state.get("in_scope_temperature") is not None:
                probs = explicit_oos_probabilities(
                    scores, oos_cols, self.state["temperature"], self.state["in_scope_temperature"],
                    self.config["oos_intent_offset"], self._in_scope(todo))
            else:
                probs = softmax(self.state["temperature"] * scores)
                probs *= self._in_scope(todo)[:, None]
        names, probs = intent_probabilities(labels, probs)
        for message, p in zip(todo, probs):
            order = np.argsort(-p)
            ranking = [{"name": names[i], "confidence": float(p[i])} for i in order]
            if self.config["ranking_length"] > 0:
                ranking = ranking[: self.config["ranking_length"]]
            message.set(INTENT, ranking[0], add_to_output=True)
            message.set("intent_ranking", ranking, add_to_output=True)
        return messages

    def _label(self, example: Message) -> str:
        """The class an example trains: its intent, or its faq/<topic> when topics are classes."""
        if self.config["retrieval_topics_as_classes"]:
            return example.get_full_intent()
        return example.get(INTENT)

    def _oos_cols(self, labels: List[str]) -> np.ndarray:
        """Columns of the out-of-scope intents; empty unless at least two other intents exist."""
        cols = np.array([i for i, n in enumerate(labels) if n in self.config["oos_intents"]], dtype=int)
        return cols if len(labels) - len(cols) >= 2 else np.zeros(0, dtype=int)

    def _in_scope(self, messages: List[Message]) -> np.ndarray:
        """Per message, the factor for its distance to the training examples (1 when off)."""
        memory = self.state.get("memory")
        if memory is None or self.config["oos_slope"] <= 0:
            return np.ones(len(messages))
        query = self._dense(messages)
        sim = nearest_similarity(query, memory)
        han_reference = self.state.get("oos_reference_han")
        reference = np.array([han_reference if han_reference is not None and has_han(m.get(TEXT))
                              else self.state["oos_reference"] for m in messages])
        return in_scope_factor(sim, reference, self.config["oos_slope"])

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        """Nothing to add to training data."""
        return training_data

    # ---------------------------------------------------------------- storage
    def persist(self) -> None:
        """Writes the state as arrays (npz) and a small json file."""
        s = self.state
        meta = {k: s[k] for k in ("origins", "dims", "is_sparse", "labels", "temperature")}
        meta["oos_reference"] = s.get("oos_reference")
        meta["oos_reference_han"] = s.get("oos_reference_han")
        meta["in_scope_temperature"] = s.get("in_scope_temperature")
        with self._model_storage.write_to(self._resource) as d:
            (d / "meta.json").write_text(json.dumps(meta))
            arrays = {"coef": s["coef"], "intercept": s["intercept"]}
            if s.get("memory") is not None:
                arrays["memory"] = s["memory"].astype(np.float16)  # half the size; cosines to ~1e-3
            arrays.update({f"idf_{i}": s["idf"][n] for i, n in enumerate(s["origins"]) if n in s["idf"]})
            np.savez_compressed(d / "model.npz", **arrays)

    @classmethod
    def load(
        cls,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> "LinearIntentClassifier":
        """Loads the trained state, or returns an untrained component if there is none."""
        try:
            with model_storage.read_from(resource) as d:
                state: Dict[str, Any] = json.loads((d / "meta.json").read_text())
                with np.load(d / "model.npz", allow_pickle=False) as z:
                    state["coef"], state["intercept"] = z["coef"], z["intercept"]
                    if "memory" in z.files:
                        state["memory"] = z["memory"].astype(np.float32)
                    state["idf"] = {n: z[f"idf_{i}"] for i, n in enumerate(state["origins"])
                                    if f"idf_{i}" in z.files}
        except (ValueError, FileNotFoundError):
            return cls(config, model_storage, resource)
        return cls(config, model_storage, resource, state)
