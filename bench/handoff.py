"""Handoff benchmark: does the assistant hand off the right conversations, to the right group?

    ./run bench-handoff [--model models/shop-....tar.gz] [--conversations tests/data/conversations.yml]

Replays each labelled conversation's customer turns through the trained NLU model (intent, FAQ topic,
entities and the sentiment component: what Rasa computes per message), with the conversation's
customer tags as verified channel metadata, and after every turn evaluates the handoff policy exactly as
action_score_conversation does (actions/scoring.py over policy/*.yml). The conversation counts as
handed off at the first turn whose decision fires; its skill group is the one action_request_handoff
would request at that turn. Bot-side signals that need the dialogue (invalid form answers) are not
replayed. Prints precision/recall of "needs a human", skill-group accuracy, per-trigger recall and the
per-turn cost of scoring; writes results/bench/handoff.json.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any, Dict, List, Optional

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from actions.handoff import build_request  # noqa: E402
from bench.latency import percentile  # noqa: E402
from actions.scoring import score  # noqa: E402
from common.tables import load_tables  # noqa: E402


def prf(tp: int, fp: int, fn: int) -> Dict[str, float]:
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    return {"precision": round(p, 3), "recall": round(r, 3), "f1": round(2 * p * r / (p + r), 3) if p + r else 0.0}


async def replay(agent: Any, conversations: List[Dict[str, Any]],
                 tables: Any) -> "tuple[List[Dict[str, Any]], List[float]]":
    """Each conversation's outcome, and the scoring time of every replayed message (ms)."""
    results = []
    score_ms: List[float] = []
    for n, conv in enumerate(conversations, 1):
        events: List[Dict[str, Any]] = []
        outcome: Dict[str, Any] = {"id": conv["id"], "handoff": False, "group": None, "turn": None, "triggers": []}
        tags = {k: v for k, v in (conv.get("customer") or {}).items()}
        for i, turn in enumerate(conv["turns"]):
            parse = await agent.parse_message(turn["user"])
            events.append({"event": "user", "timestamp": time.time(), "text": turn["user"], "parse_data": parse,
                           "input_channel": "bench", "metadata": {"customer": tags}})
            t0 = time.perf_counter()
            _, _, decision = score(events, tables)
            score_ms.append((time.perf_counter() - t0) * 1000)
            if decision.handoff:
                request = build_request(f"bench-{conv['id']}", events, {}, tables)
                outcome.update(handoff=True, group=request["routing"]["skill_group"], turn=i + 1,
                               triggers=[t["name"] for t in request["decision"]["triggers"]])
                break
        results.append({**outcome, "needs_human": bool(conv["needs_human"]), "label_group": conv.get("skill_group"),
                        "label_triggers": conv.get("triggers") or []})
        if n % 25 == 0:
            print(f"[bench-handoff] {n}/{len(conversations)} conversations", file=sys.stderr, flush=True)
    return results, score_ms


def report(results: List[Dict[str, Any]], score_ms: List[float], title: str) -> Dict[str, Any]:
    tp = sum(r["handoff"] and r["needs_human"] for r in results)
    fp = sum(r["handoff"] and not r["needs_human"] for r in results)
    fn = sum(not r["handoff"] and r["needs_human"] for r in results)
    tn = sum(not r["handoff"] and not r["needs_human"] for r in results)
    both = [r for r in results if r["handoff"] and r["needs_human"]]
    group_ok = sum(r["group"] == r["label_group"] for r in both)
    labelled = [r for r in results if r["needs_human"]]
    by_trigger: Dict[str, List[bool]] = defaultdict(list)
    for r in labelled:
        for t in r["label_triggers"]:
            by_trigger[t].append(r["handoff"])
    confusion = Counter((r["label_group"], r["group"]) for r in both if r["group"] != r["label_group"])
    out = {
        "title": title, "conversations": len(results), "tp": tp, "fp": fp, "fn": fn, "tn": tn,
        "needs_human": prf(tp, fp, fn),
        "skill_group_accuracy": round(group_ok / len(both), 3) if both else None,
        "skill_group_accuracy_all_needing": round(group_ok / len(labelled), 3) if labelled else None,
        "trigger_recall": {k: f"{sum(v)}/{len(v)}" for k, v in sorted(by_trigger.items())},
        "group_confusions": {f"{a} -> {b}": c for (a, b), c in confusion.most_common()},
        "false_positives": [r["id"] + ":" + ",".join(r["triggers"]) for r in results if r["handoff"] and not r["needs_human"]],
        "false_negatives": [r["id"] for r in results if not r["handoff"] and r["needs_human"]],
    }
    if score_ms:
        out["score_ms_p50"] = round(percentile(score_ms, 50), 3)
        out["score_ms_p95"] = round(percentile(score_ms, 95), 3)
    return out


def show(r: Dict[str, Any]) -> None:
    n = r["needs_human"]
    print(f"\n== {r['title']}: {r['conversations']} conversations ==")
    print(f"needs a human: precision {n['precision']:.3f}  recall {n['recall']:.3f}  F1 {n['f1']:.3f}"
          f"   (tp {r['tp']}, fp {r['fp']}, fn {r['fn']}, tn {r['tn']})")
    print(f"skill group accuracy: {r['skill_group_accuracy']} of correctly handed-off conversations, "
          f"{r['skill_group_accuracy_all_needing']} of all that need a human")
    print("trigger recall: " + ", ".join(f"{k} {v}" for k, v in r["trigger_recall"].items()))
    if r["group_confusions"]:
        print("group confusions (label -> chosen): " + ", ".join(f"{k} x{v}" for k, v in r["group_confusions"].items()))
    print("false positives: " + (", ".join(r["false_positives"]) or "none"))
    print("false negatives: " + (", ".join(r["false_negatives"]) or "none"))
    if "score_ms_p95" in r:
        print(f"scoring per customer message (signals + complexity + policy): p50 {r['score_ms_p50']} ms, "
              f"p95 {r['score_ms_p95']} ms")


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", help="trained model (default: train or reuse models/ like ./run)")
    parser.add_argument("--conversations", default=str(ROOT / "tests/data/conversations.yml"))
    parser.add_argument("--out", default=str(ROOT / "results/bench/handoff.json"))
    args = parser.parse_args(argv)

    os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")
    import logging
    import structlog
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))  # Rasa's per-parse debug lines
    from rasa.core.agent import Agent
    from bot.training import ensure_model

    model = Path(args.model) if args.model else ensure_model(ROOT / "models")
    print(f"[bench-handoff] loading {model.name}", file=sys.stderr, flush=True)
    agent = Agent.load(str(model))
    tables = load_tables()
    conversations = yaml.safe_load(Path(args.conversations).read_text())["conversations"]
    results, score_ms = asyncio.run(replay(agent, conversations, tables))
    reports = [report(results, score_ms, "all"),
               report([r for r in results if int(r["id"][1:]) % 2 == 1], [], "odd ids (half A)"),
               report([r for r in results if int(r["id"][1:]) % 2 == 0], [], "even ids (half B)")]
    for r in reports:
        show(r)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"model": model.name, "reports": reports, "results": results}, indent=1))
    print(f"\nwritten {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
