"""Customer-question outcome sets: what a customer gets for their first message.

Three sets in the same format: tests/nlu/outcomes.yml is HELD OUT (never trained or tuned on; only the test
and this module read it), tests/nlu/outcomes_dev.yml is for tuning, tests/nlu/outcomes_zh.yml is the Chinese
HELD-OUT set (never trained or tuned on either). Each item is a message a customer might
open a conversation with, and the outcome they should get:

    answer: faq/<topic>          the FAQ answer utter_faq/<topic> (the response selector's pick)
    answer: <utter/action/intent> another answer, e.g. utter_greet or action_ticket_status
    form: <form name>            the assistant starts asking for the order (order_status_form, ...)
    person                       the conversation is handed to a person (action_request_handoff)
    cant_help                    utter_out_of_scope, utter_ask_rephrase or utter_default: never a wrong answer
    (measured only, never expected: no_reply = the assistant said nothing, e.g. action_default_fallback)

`expect` is one outcome or a list of outcomes that are all right (two questions at once). `before` lists
earlier messages of the same conversation (only for handoff reasons that need more than one message),
`reason` the handoff trigger meant (reported, not scored), `kind` how the message is written.

The outcome is judged as the customer experiences it: from the real assistant's tracker events after the
message (python -m bot run: Redis, action server, Rasa, so the action server's handoff scoring takes part).
This module holds the pure parts (loading, validating, classifying events, the report) and the CLI:

    .venv/bin/python -m tests.nlu.outcomes --set dev|heldout|zh [--workers 4] [--show-heldout-failures]
"""
from __future__ import annotations

import argparse
import json
import re
import sys
import time
import uuid
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, FrozenSet, Iterable, List, Optional, Sequence, Set, Tuple

import yaml

ROOT = Path(__file__).resolve().parents[2]
SETS = {"heldout": ROOT / "tests" / "nlu" / "outcomes.yml", "dev": ROOT / "tests" / "nlu" / "outcomes_dev.yml",
        "zh": ROOT / "tests" / "nlu" / "outcomes_zh.yml"}
HELD_OUT_SETS = {"heldout", "zh"}  # their failure texts are not printed unless asked (nobody tunes on them)
HANDOFF_ACTION = "action_request_handoff"
CANT_HELP = ("utter_out_of_scope", "utter_ask_rephrase", "utter_default")  # utter_default: the core fallback
# Rasa's own bookkeeping actions: never what the customer gets.
SILENT_ACTIONS = {"action_listen", "action_session_start", "action_extract_slots", "action_score_conversation"}
KIND_RE = re.compile(r"^[a-z][a-z_]{1,30}$")


@dataclass(frozen=True)
class Vocabulary:
    """The names an outcome may use, from the project's domain and FAQ responses."""

    faq_topics: FrozenSet[str]
    forms: FrozenSet[str]
    answers: FrozenSet[str]  # responses, actions and intents of the domain

    @classmethod
    def from_project(cls, root: Path = ROOT) -> "Vocabulary":
        domain = yaml.safe_load((root / "domain.yml").read_text())
        topics: Set[str] = set()
        for path in sorted((root / "data" / "nlu").glob("*.yml")):
            for name in (yaml.safe_load(path.read_text()) or {}).get("responses") or {}:
                if name.startswith("utter_faq/"):
                    topics.add(name.split("/", 1)[1])
        actions = [a if isinstance(a, str) else next(iter(a)) for a in domain.get("actions") or []]
        answers = set(domain.get("responses") or {}) | set(actions) | set(domain.get("intents") or [])
        return cls(frozenset(topics), frozenset(domain.get("forms") or {}), frozenset(answers))

    def check(self, outcome: str) -> Optional[str]:
        """Why `outcome` is not a valid outcome, or None."""
        if outcome in ("person", "cant_help"):
            return None
        kind, _, name = outcome.partition(": ")
        if kind == "form":
            return None if name in self.forms else f"unknown form {name!r}"
        if kind == "answer":
            if name.startswith("faq/"):
                return None if name[4:] in self.faq_topics else f"unknown FAQ topic {name!r}"
            return None if name in self.answers and not name.startswith("utter_faq") else f"unknown answer {name!r}"
        return f"not an outcome: {outcome!r} (answer: ..., form: ..., person, cant_help)"


@dataclass(frozen=True)
class Item:
    text: str
    expect: Tuple[str, ...]
    kinds: Tuple[str, ...]
    before: Tuple[str, ...] = ()
    reason: Optional[str] = None


def parse_items(doc: Any, vocab: Vocabulary) -> List[Item]:
    """The items of a loaded outcome file; raises ValueError naming every problem (a typo in an expected
    outcome must not quietly count as a failure or a success)."""
    problems: List[str] = []
    raw = doc.get("items") if isinstance(doc, dict) else None
    if not isinstance(raw, list) or not raw:
        raise ValueError("the file needs a non-empty `items:` list")
    items: List[Item] = []
    seen: Set[str] = set()
    for n, entry in enumerate(raw, 1):
        where = f"item {n}"
        if not isinstance(entry, dict) or not isinstance(entry.get("text"), str) or not entry["text"].strip():
            problems.append(f"{where}: needs a non-empty `text`")
            continue
        unknown = set(entry) - {"text", "expect", "kind", "before", "reason"}
        if unknown:
            problems.append(f"{where}: unknown keys {sorted(unknown)}")
        expect = entry.get("expect")
        expects = tuple(expect) if isinstance(expect, list) else (expect,)
        if not expects or not all(isinstance(e, str) for e in expects):
            problems.append(f"{where}: `expect` must be an outcome or a list of outcomes")
            continue
        problems += [f"{where}: {p}" for p in map(vocab.check, expects) if p]
        kinds = entry.get("kind")
        if not isinstance(kinds, list) or not kinds or not all(isinstance(k, str) and KIND_RE.match(k) for k in kinds):
            problems.append(f"{where}: `kind` must be a non-empty list of short tags")
            kinds = []
        before = entry.get("before") or []
        if not isinstance(before, list) or not all(isinstance(b, str) and b.strip() for b in before):
            problems.append(f"{where}: `before` must be a list of messages")
            before = []
        key = normalise(entry["text"])
        if key in seen:
            problems.append(f"{where}: the same text twice")
        seen.add(key)
        items.append(Item(entry["text"], expects, tuple(kinds), tuple(before), entry.get("reason")))
    if problems:
        raise ValueError("\n".join(problems))
    return items


def load_items(path: Path, vocab: Optional[Vocabulary] = None) -> List[Item]:
    return parse_items(yaml.safe_load(path.read_text()), vocab or Vocabulary.from_project())


def normalise(text: str) -> str:
    """Case, spacing and end punctuation do not make a text new."""
    return " ".join(text.lower().split()).strip(" ?!.")


def verbatim_overlap(items: Iterable[Item], texts: Iterable[str]) -> List[str]:
    """The item texts (and earlier messages) that appear, normalised, among `texts` (e.g. the training data)."""
    known = {normalise(t) for t in texts}
    return [t for item in items for t in (*item.before, item.text) if normalise(t) in known]


def training_texts(root: Path = ROOT) -> List[str]:
    """Every NLU training example of the project, loaded the way Rasa loads it (for the overlap check)."""
    from rasa.shared.nlu.training_data.loading import load_data

    return [m.get("text") for m in load_data(str(root / "data" / "nlu")).training_examples if m.get("text")]


@dataclass(frozen=True)
class Got:
    """What the customer got: the outcome, and every name it showed (for `answer: <name>`)."""

    outcome: str
    names: FrozenSet[str] = frozenset()
    triggers: Tuple[str, ...] = ()


def classify(events: Sequence[Dict[str, Any]]) -> Got:
    """The outcome of the latest customer message, from a tracker's events (person > form > cant_help > answer)."""
    last = max((i for i, e in enumerate(events) if e.get("event") == "user"), default=None)
    if last is None:
        return Got("nothing")
    intent = ((events[last].get("parse_data") or {}).get("intent") or {}).get("name")
    after = events[last + 1:]
    actions = [e.get("name") for e in after if e.get("event") == "action" and e.get("name") not in SILENT_ACTIONS]
    utters = [str((e.get("metadata") or {}).get("utter_action") or "") for e in after if e.get("event") == "bot"]
    names = frozenset(n for n in [*actions, *utters, intent] if n)
    if HANDOFF_ACTION in actions:
        return Got("person", names, handoff_triggers(after))
    forms = [e.get("name") for e in after if e.get("event") == "active_loop" and e.get("name")]
    if forms:
        return Got(f"form: {forms[0]}", names)
    if any(n in CANT_HELP for n in [*actions, *utters]):
        return Got("cant_help", names)
    faq = [u for u in utters if u.startswith("utter_faq/")]
    if faq:
        return Got(f"answer: faq/{faq[0].split('/', 1)[1]}", names)
    said = [u for u in utters if u]
    if not said:  # e.g. action_default_fallback without utter_default: the customer is told nothing at all
        return Got("no_reply", names)
    return Got(f"answer: {said[0]}", names)


def handoff_triggers(events: Sequence[Dict[str, Any]]) -> Tuple[str, ...]:
    """The handoff triggers of the request recorded in `events` (slot handoff_request), if any."""
    for e in events:
        if e.get("event") == "slot" and e.get("name") == "handoff_request" and isinstance(e.get("value"), dict):
            return tuple(t.get("name", "") for t in (e["value"].get("decision") or {}).get("triggers") or [])
    return ()


def is_right(item: Item, got: Got) -> bool:
    """Whether `got` is one of the item's expected outcomes. `answer: <name>` is met by any answer (not an FAQ,
    form, person or can't-help) whose response, action or intent is that name."""
    for expect in item.expect:
        if expect == got.outcome:
            return True
        name = expect[len("answer: "):] if expect.startswith("answer: ") else None
        if (name and not name.startswith("faq/") and got.outcome.startswith("answer: ")
                and not got.outcome.startswith("answer: faq/") and name in got.names):
            return True
    return False


@dataclass
class Report:
    results: List[Tuple[Item, Got]]
    right: List[bool] = field(init=False)

    def __post_init__(self) -> None:
        self.right = [is_right(item, got) for item, got in self.results]

    @property
    def accuracy(self) -> float:
        return sum(self.right) / len(self.right) if self.right else 0.0

    def failures(self) -> List[Tuple[Item, Got]]:
        return [r for r, ok in zip(self.results, self.right) if not ok]

    def by(self, key: Callable[[Item], Iterable[str]]) -> Dict[str, Tuple[int, int]]:
        """(right, total) per group; an item counts in every group `key` gives it."""
        table: Dict[str, List[int]] = defaultdict(lambda: [0, 0])
        for (item, _), ok in zip(self.results, self.right):
            for group in set(key(item)):
                table[group][0] += ok
                table[group][1] += 1
        return {k: (v[0], v[1]) for k, v in sorted(table.items())}

    def per_outcome(self) -> Dict[str, Tuple[int, int]]:
        return self.by(lambda item: [item.expect[0] if len(item.expect) == 1 else "(any of several)"])

    def per_kind(self) -> Dict[str, Tuple[int, int]]:
        return self.by(lambda item: item.kinds)

    def per_family(self) -> Dict[str, Tuple[int, int]]:
        """faq / other answer / form / person / cant_help: the coarse view of per_outcome."""
        def family(e: str) -> str:
            return "faq" if e.startswith("answer: faq/") else e.split(":")[0] if ":" in e else e
        return self.by(lambda item: [family(item.expect[0])])

    def summary(self) -> str:
        return f"{sum(self.right)}/{len(self.right)} right ({100 * self.accuracy:.1f} %)"

    def lines(self, show_failures: bool = True) -> List[str]:
        out = []
        for title, table in (("per kind", self.per_kind()), ("per expected outcome family", self.per_family()),
                             ("per expected outcome", self.per_outcome())):
            out.append(f"-- {title}")
            out += [f"  {k:45s} {r:4d}/{n:<4d} {100 * r / n:5.1f} %" for k, (r, n) in table.items()]
        fails = self.failures()
        out.append(f"-- failures: {len(fails)}")
        if show_failures:
            for item, got in fails:
                extra = f" triggers={list(got.triggers)}" if got.triggers else ""
                extra += f" {sorted(n for n in got.names if n.startswith('action_'))}" if got.outcome == "no_reply" else ""
                out.append(f"  {item.text!r}\n      expected {' | '.join(item.expect)}; got {got.outcome}{extra}")
        out.append(f"overall: {self.summary()}")
        return out


# ---- driving the real assistant (the CLI and tests/integration/test_outcomes.py) ----

def ask(stack: Any, redis_client: Any, item: Item) -> Got:
    """Sends the item as a fresh conversation to the running assistant and classifies its tracker."""
    import requests

    from tests.integration.running import handle

    sender = f"oc-{uuid.uuid4().hex[:12]}"
    for text in (*item.before, item.text):
        reply = requests.post(f"{stack.url}/webhooks/rest/webhook",
                              json={"sender": handle(sender), "message": text}, timeout=120)
        reply.raise_for_status()
    raw = redis_client.get(f"shop:tracker:{sender}")
    return classify(json.loads(raw)["events"] if raw else [])


def measure(stack: Any, redis_client: Any, items: Sequence[Item], workers: int = 4) -> Report:
    with ThreadPoolExecutor(max_workers=workers) as pool:
        got = list(pool.map(lambda item: ask(stack, redis_client, item), items))
    return Report(list(zip(items, got)))


def start_stack(run_dir: Path) -> Tuple[Any, Any]:
    """A `python -m bot run` of its own (own Redis port and run folder), and a client for its Redis."""
    import redis

    from bot.processes import free_port
    from tests.integration.running import RunCommand

    run = RunCommand(None, run_dir, {"REDIS_PORT": str(free_port()), "BOT_DATA_DIR": str(run_dir / "data")})
    run.start()
    return run, redis.Redis.from_url(run.redis_url)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.nlu.outcomes", description=__doc__.split("\n")[0])
    parser.add_argument("--set", choices=sorted(SETS), default="dev", help="which set to measure (default dev)")
    parser.add_argument("--workers", type=int, default=4, help="messages in flight at once (default 4)")
    parser.add_argument("--show-heldout-failures", action="store_true",
                        help="print the held-out failures' texts too (whoever reads them must not tune on them)")
    args = parser.parse_args(argv)
    import tempfile

    from bot.settings import Settings
    from bot.training import ensure_model

    items = load_items(SETS[args.set])
    print(f"{args.set}: {len(items)} items; model {ensure_model(Settings.from_env().models_dir)}", flush=True)
    with tempfile.TemporaryDirectory(prefix="outcomes-") as tmp:
        stack, client = start_stack(Path(tmp))
        try:
            t0 = time.monotonic()
            report = measure(stack, client, items, args.workers)
            seconds = time.monotonic() - t0
        finally:
            stack.stop()
    show = args.set not in HELD_OUT_SETS or args.show_heldout_failures
    print("\n".join(report.lines(show_failures=show)))
    messages = sum(1 + len(i.before) for i in items)
    print(f"{messages} messages in {seconds:.0f} s ({messages / seconds:.1f}/s, {args.workers} in flight)")
    if not show:
        print("(held-out failure texts not shown: --show-heldout-failures; never tune on them)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
