"""Scoring of a held-out NLU set (English tests/nlu/holdout.yml, Chinese tests/nlu/holdout_zh.yml).

One module so that both languages are scored exactly the same way: the label of a message is its intent, or
for an FAQ the topic the response selector chose (faq/<topic>), and the figure is sklearn's macro-F1 over the
labels of the set (zero_division=0), printed with the accuracy.
"""
from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

from sklearn.metrics import classification_report, f1_score

Example = Tuple[str, str]  # (text, expected label)


def load_holdout(path: Path) -> List[Example]:
    """The (text, label) pairs of a held-out file, read the way Rasa reads training data."""
    from rasa.shared.nlu.training_data.loading import load_data

    data = load_data(str(path))
    return [(ex.get("text"), ex.get_full_intent()) for ex in data.intent_examples]


def training_examples(nlu_dir: Path) -> List[Example]:
    """Every training example under data/nlu (both languages: load_data reads the folder recursively)."""
    from rasa.shared.nlu.training_data.loading import load_data

    return [(ex.get("text"), ex.get_full_intent()) for ex in load_data(str(nlu_dir)).intent_examples]


def predicted_label(parse: Dict) -> str:
    """The intent, or for an FAQ the topic the response selector chose (faq/<topic>)."""
    intent = parse["intent"]["name"]
    if intent == "faq":
        key = parse.get("response_selector", {}).get("faq", {}).get("response", {}).get("intent_response_key")
        return key or intent
    return intent


@dataclass(frozen=True)
class HoldoutScore:
    n: int
    macro_f1: float
    accuracy: float
    report: str  # sklearn's per-label classification report
    errors: Tuple[str, ...]  # "'text': expected x, got y" for every miss

    def summary(self, name: str) -> str:
        return f"{name}: n={self.n} macro-F1={self.macro_f1:.3f} accuracy={self.accuracy:.3f}"

    def details(self) -> str:
        return self.report + "\n" + "\n".join(self.errors)


def score(truth: Sequence[str], predicted: Sequence[str], texts: Sequence[str]) -> HoldoutScore:
    """Macro-F1, accuracy, report and misses of `predicted` against `truth` (pure: no model)."""
    truth, predicted = list(truth), list(predicted)
    errors = tuple(f"{t!r}: expected {e}, got {p}" for t, e, p in zip(texts, truth, predicted) if e != p)
    return HoldoutScore(
        n=len(truth),
        macro_f1=float(f1_score(truth, predicted, average="macro", zero_division=0)),
        accuracy=sum(t == p for t, p in zip(truth, predicted)) / len(truth),
        report=classification_report(truth, predicted, zero_division=0),
        errors=errors,
    )


def score_model(model: Path, examples: Sequence[Example]) -> HoldoutScore:
    """Parse every example with the trained model at `model` and score the labels."""
    from rasa.core.agent import Agent

    agent = Agent.load(str(model))

    async def parse_all() -> List[str]:
        return [predicted_label(await agent.parse_message(text)) for text, _ in examples]

    predicted = asyncio.run(parse_all())
    return score([label for _, label in examples], predicted, [text for text, _ in examples])
