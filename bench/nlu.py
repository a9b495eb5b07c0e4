"""NLU benchmark: train the NLU part of a Rasa config on a CSV, evaluate on another.

    python -m bench.nlu --train ../shared/data/banking77/train.csv \\
        --test ../shared/data/banking77/test.csv [--config config.yml] \\
        [--oos-label oos] [--shots N --seed S] [--threshold T] [--out results/bench]

CSV files have a header; the first column is the text, the label column is
``label``, ``category`` or ``intent`` (else the second column). Several --test
files are concatenated (e.g. in-scope test + out-of-scope test sets). Labels of
the form ``faq/ask_x`` are retrieval intents: the bench adds a response for each,
so a config with ResponseSelector trains, and scores the full selected label.

Prints n, accuracy, macro-F1, training seconds and parse latency; with
--oos-label also in-scope accuracy, OOS recall and MCC (in-scope vs OOS) at
confidence thresholds 0.1 ... 0.9, where a prediction below the threshold (or
the label itself, or nlu_fallback) counts as OOS. --shots N trains on N examples
per intent drawn with --seed (few-shot runs; the test set is unchanged). The last
line is one summary of the run (``SUMMARY config=... data=... n=...``) with the
OOS figures at the shipped threshold: --threshold, else the FallbackClassifier
threshold of --config, else of the project's config.yml. --train-oos keeps the
--oos-label rows of the training CSVs as an intent (a second setting: OOS examples
in training), under the intent name out_of_scope (the project's; LinearIntentClassifier's
``oos_intents`` default), and a predicted out_of_scope counts as OOS. Writes the results as JSON.
This is a benchmark, not a test: timings depend on what else runs on the machine.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import os
import re
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any, Dict, List, Sequence, Tuple

# Each run trains from scratch: no reuse of Rasa's training cache.
os.environ.setdefault("RASA_MAX_CACHE_SIZE", "0")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
warnings.filterwarnings("ignore", category=DeprecationWarning)

FALLBACK = "nlu_fallback"
# the project's out-of-scope intent: --train-oos trains the --oos-label rows under this name
OOS_INTENT = "out_of_scope"
THRESHOLDS = [round(0.1 * i, 1) for i in range(1, 10)]
Row = Tuple[str, str]


def say(msg: str) -> None:
    """A stage line on stderr, with wall-clock time."""
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def read_csv(path: Path) -> List[Row]:
    """(text, label) rows; whitespace (including newlines) collapsed."""
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        header = [h.strip().lower() for h in next(reader)]
        col = next((header.index(h) for h in ("label", "category", "intent") if h in header), 1)
        rows = [(" ".join(r[0].split()), r[col].strip()) for r in reader if len(r) > col]
    return [(t, y) for t, y in rows if t and y]


def sample_shots(rows: Sequence[Row], shots: int, seed: int) -> List[Row]:
    """``shots`` examples per label (all of a smaller label), drawn with a fixed seed; the
    same (file, shots, seed) gives the same sample on every machine and Python version."""
    import random

    by_label: Dict[str, List[Row]] = {}
    for r in rows:
        by_label.setdefault(r[1], []).append(r)
    out: List[Row] = []
    for label in sorted(by_label):
        group = by_label[label]
        picked = sorted(random.Random(f"{seed}:{label}").sample(range(len(group)), min(shots, len(group))))
        out += [group[i] for i in picked]
    return out


def shipped_threshold(config: Path, fallback: Path = Path("config.yml")) -> float | None:
    """The FallbackClassifier threshold of config, else of the project's config.yml."""
    import yaml

    for path in (config, fallback):
        if not path.exists():
            continue
        pipeline = (yaml.safe_load(path.read_text()) or {}).get("pipeline") or []
        for c in pipeline:
            if c.get("name") == "FallbackClassifier":
                return float(c.get("threshold", 0.3))
    return None


def _plain(text: str) -> str:
    """Brackets and braces would be read as entity annotations: replace them by spaces."""
    return re.sub(r"[\[\]{}]", " ", text)


def write_nlu_yaml(rows: Sequence[Row], path: Path) -> None:
    """Rasa NLU training data; texts go in block style, so no entity markup is parsed."""
    by_intent: Dict[str, List[str]] = {}
    for text, label in rows:
        by_intent.setdefault(label, []).append(text)
    lines = ['version: "3.1"', "nlu:"]
    for intent, texts in by_intent.items():
        lines += [f"- intent: {intent}", "  examples: |"]
        lines += [f"    - {_plain(t)}" for t in texts]
    # Retrieval intents (label "faq/ask_x") need a response each for ResponseSelector.
    retrieval = [i for i in by_intent if "/" in i]
    if retrieval:
        lines.append("responses:")
        lines += [f"  utter_{i}:\n  - text: {i}" for i in retrieval]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def macro_f1(gold: Sequence[str], pred: Sequence[str]) -> float:
    """Macro-F1 over the gold labels."""
    scores = []
    for label in sorted(set(gold)):
        tp = sum(g == label and p == label for g, p in zip(gold, pred))
        fp = sum(g != label and p == label for g, p in zip(gold, pred))
        fn = sum(g == label and p != label for g, p in zip(gold, pred))
        scores.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
    return sum(scores) / len(scores) if scores else 0.0


def mcc(tp: int, tn: int, fp: int, fn: int) -> float:
    """Matthews correlation coefficient of a binary decision."""
    den = ((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn)) ** 0.5
    return (tp * tn - fp * fn) / den if den else 0.0


def oos_table(gold: Sequence[str], pred: Sequence[str], conf: Sequence[float], oos: str,
              thresholds: Sequence[float] = THRESHOLDS) -> List[Dict[str, float]]:
    """In-scope accuracy, OOS recall and MCC (positive = OOS) per threshold."""
    table = []
    for thr in thresholds:
        final = [oos if c < thr or p in (oos, FALLBACK) else p for p, c in zip(pred, conf)]
        ins = [(g, f) for g, f in zip(gold, final) if g != oos]
        out = [f for g, f in zip(gold, final) if g == oos]
        tp = sum(f == oos for f in out)
        fn = len(out) - tp
        fp = sum(f == oos for _, f in ins)
        tn = len(ins) - fp
        table.append({
            "threshold": thr,
            "in_scope_accuracy": sum(g == f for g, f in ins) / max(len(ins), 1),
            "oos_recall": tp / max(len(out), 1),
            "oos_precision": tp / max(tp + fp, 1),
            "mcc": mcc(tp, tn, fp, fn),
        })
    return table


def train(config: Path, rows: Sequence[Row], workdir: Path) -> Tuple[Path, float]:
    """Trains the NLU part of the config with Rasa's own API; returns (model, seconds)."""
    from rasa.model_training import train_nlu

    data = workdir / "nlu.yml"
    write_nlu_yaml(rows, data)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("[rasa %(asctime)s] %(message)s", "%H:%M:%S"))
    loggers = [logging.getLogger(n) for n in ("rasa.engine.training.hooks", "bot.nlu")]
    for lg in loggers:
        lg.setLevel(logging.INFO)
        lg.addHandler(handler)
    say(f"training {config} on {len(rows)} examples, {len(set(y for _, y in rows))} intents")
    start = time.perf_counter()
    model = train_nlu(str(config), str(data), str(workdir / "models"), fixed_model_name="bench")
    seconds = time.perf_counter() - start
    for lg in loggers:
        lg.removeHandler(handler)
    if not model:
        raise SystemExit("training failed")
    say(f"trained in {seconds:.1f} s")
    return Path(model), seconds


def predict(model: Path, texts: Sequence[str], batch: int = 128) -> Tuple[List[str], List[float], float]:
    """Parses texts in batches through the loaded graph; returns labels, confidences, ms/message
    (the latter measured one message at a time, as a server sees them)."""
    from rasa.core.agent import Agent
    from rasa.core.channels.channel import UserMessage
    from rasa.engine.constants import PLACEHOLDER_MESSAGE

    say(f"loading {model}")
    agent = Agent.load(str(model))
    runner, target = agent.processor.graph_runner, agent.processor.model_metadata.nlu_target

    def run(chunk: Sequence[str]) -> List[Any]:
        out = runner.run(inputs={PLACEHOLDER_MESSAGE: [UserMessage(t) for t in chunk]}, targets=[target])
        return out[target]

    labels: List[str] = []
    confs: List[float] = []
    for i in range(0, len(texts), batch):
        for m in run(texts[i : i + batch]):
            ranking = [r for r in (m.get("intent_ranking") or [m.get("intent") or {}]) if r.get("name") != FALLBACK]
            top = ranking[0] if ranking else {"name": FALLBACK, "confidence": 0.0}
            name = top.get("name") or FALLBACK
            selected = (m.get("response_selector") or {}).get(name)
            if selected:  # a retrieval intent: the full label is "faq/ask_x"
                name = selected["response"].get("intent_response_key") or name
            labels.append(name)
            confs.append(float(top.get("confidence") or 0.0))
        say(f"parsed {min(i + batch, len(texts))}/{len(texts)}")
    sample = list(texts[:100])
    start = time.perf_counter()
    for t in sample:
        run([t])
    ms = (time.perf_counter() - start) * 1000 / max(len(sample), 1)
    return labels, confs, ms


def main(argv: Sequence[str] | None = None) -> Dict[str, Any]:
    """Command line entry point."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--train", required=True, type=Path, nargs="+",
                   help="training CSV(s), concatenated")
    p.add_argument("--test", required=True, type=Path, nargs="+")
    p.add_argument("--config", default=Path("config.yml"), type=Path)
    p.add_argument("--oos-label", default=None)
    p.add_argument("--train-oos", action="store_true",
                   help="keep --oos-label rows in training: OOS becomes an intent (e.g. BANKING77-OOS id-oos_train)")
    p.add_argument("--shots", type=int, default=0, help="N training examples per intent (0: all)")
    p.add_argument("--seed", type=int, default=0, help="seed of the --shots sample")
    p.add_argument("--threshold", type=float, default=None,
                   help="the threshold of the summary line (default: the config's FallbackClassifier)")
    p.add_argument("--out", default=Path("results/bench"), type=Path)
    a = p.parse_args(argv)

    train_rows = [r for f in a.train for r in read_csv(f)]
    if a.oos_label and not a.train_oos:
        train_rows = [r for r in train_rows if r[1] != a.oos_label]
    elif a.oos_label:
        train_rows = [(t, OOS_INTENT if y == a.oos_label else y) for t, y in train_rows]
    if a.shots:
        train_rows = sample_shots(train_rows, a.shots, a.seed)
    per_file = [(f, read_csv(f)) for f in a.test]
    test_rows = [r for _, rows in per_file for r in rows]
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="bench-nlu-") as tmp:
        model, train_s = train(a.config, train_rows, Path(tmp))
        pred, conf, ms = predict(model, [t for t, _ in test_rows])
        if a.oos_label:
            pred = [a.oos_label if q == OOS_INTENT else q for q in pred]
        size_mb = model.stat().st_size / 1e6
    gold = [y for _, y in test_rows]
    res: Dict[str, Any] = {
        "config": str(a.config), "train": [str(t) for t in a.train], "train_oos": a.train_oos,
        "test": [str(t) for t in a.test],
        "n_train": len(train_rows), "n": len(gold), "shots": a.shots or None,
        "seed": a.seed if a.shots else None,
        "accuracy": sum(g == q for g, q in zip(gold, pred)) / len(gold),
        "macro_f1": macro_f1(gold, pred),
        "train_seconds": round(train_s, 1), "parse_ms_per_message": round(ms, 2),
        "model_mb": round(size_mb, 1), "cpus": os.cpu_count(),
        "load_average_before_after": [round(load_before, 2), round(os.getloadavg()[0], 2)],
    }
    print(f"config      {a.config}\nn           {res['n']} (train {res['n_train']})")
    print(f"accuracy    {res['accuracy']:.4f}\nmacro-F1    {res['macro_f1']:.4f}")
    print(f"train s     {res['train_seconds']}\nparse ms    {res['parse_ms_per_message']} per message")
    if a.oos_label:
        res["oos"] = oos_table(gold, pred, conf, a.oos_label)
        res["n_oos"] = sum(g == a.oos_label for g in gold)
        # OOS recall per test file made of OOS examples only (e.g. ID-OOS vs OOD-OOS)
        res["oos_recall_by_file"], start = {}, 0
        for f, rows in per_file:
            end = start + len(rows)
            if rows and all(y == a.oos_label for _, y in rows):
                part = oos_table(gold[start:end], pred[start:end], conf[start:end], a.oos_label)
                res["oos_recall_by_file"][f.name] = [round(r["oos_recall"], 4) for r in part]
            start = end
        print(f"OOS ({res['n_oos']} of {res['n']}):  threshold  in-scope-acc  oos-recall  MCC")
        for r in res["oos"]:
            print(f"                {r['threshold']:.1f}      {r['in_scope_accuracy']:.4f}      "
                  f"{r['oos_recall']:.4f}    {r['mcc']:.4f}")
        for name, recalls in res["oos_recall_by_file"].items():
            print(f"OOS recall at 0.1..0.9 in {name}: {' '.join(f'{x:.2f}' for x in recalls)}")
    thr = a.threshold if a.threshold is not None else shipped_threshold(a.config)
    data = f"{a.train[0].parent.name}/" + "+".join(t.stem for t in a.train)
    data += (f"@{a.shots}shot/seed{a.seed}" if a.shots else "") + ("(oos trained)" if a.train_oos else "")
    summary = (f"SUMMARY config={a.config} data={data} n_train={res['n_train']} n={res['n']} "
               f"accuracy={res['accuracy']:.4f} macro_f1={res['macro_f1']:.4f}")
    if a.oos_label and thr is not None:
        at = oos_table(gold, pred, conf, a.oos_label, [thr])[0]
        res["at_shipped_threshold"] = at
        summary += (f" threshold={thr:g} in_scope_acc={at['in_scope_accuracy']:.4f} "
                    f"oos_recall={at['oos_recall']:.4f} mcc={at['mcc']:.4f}")
    summary += f" train_s={res['train_seconds']} parse_ms={res['parse_ms_per_message']}"
    res["summary"] = summary
    a.out.mkdir(parents=True, exist_ok=True)
    suffix = f"__{a.shots}shot_seed{a.seed}" if a.shots else ""
    suffix += "__oos_trained" if a.train_oos else ""
    name = f"{a.config.stem}__{a.train[0].parent.name}{suffix}.json"
    (a.out / name).write_text(json.dumps(res, indent=2))
    say(f"wrote {a.out / name}")
    print(summary, flush=True)
    return res


if __name__ == "__main__":
    main()
