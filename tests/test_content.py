"""The assistant's content: valid data, end-to-end test stories, and NLU quality on held-out examples."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import List, Tuple

import pytest
import yaml

from tests.conftest import ROOT
from tests.nlu.heldout_score import load_holdout, score_model

HOLDOUT = ROOT / "tests" / "nlu" / "holdout.yml"


def rasa(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "rasa", *args], cwd=ROOT, capture_output=True, text=True)


def said_by_custom_actions() -> set:
    """Responses that custom actions, Rasa's default actions or the handoff bridge say (named in actions/*.py,
    bot/bridge/*.py or common/customer_tickets.py, or by the follow-up and form
    conventions)."""
    domain = yaml.safe_load((ROOT / "domain.yml").read_text())
    sources = [*(ROOT / "actions").glob("*.py"), *(ROOT / "bot" / "bridge").glob("*.py"),
               ROOT / "common" / "customer_tickets.py"]
    code = "\n".join(p.read_text() for p in sources)
    slots = {s for form in domain["forms"].values() for s in form["required_slots"]}
    return {name for name in domain["responses"]
            if f'"{name}"' in code or f'"{name}_' in code
            or name.startswith("utter_followup_")
            or name == "utter_default"  # said by Rasa's own action_default_fallback (the core fallback)
            or name in {f"utter_{kind}_{s}" for s in slots for kind in ("ask", "invalid")}}


def test_training_data_validates_with_no_warning_but_rasas_known_false_positives():
    """`rasa data validate --fail-on-warnings` passes; the only warnings allowed are two Rasa 3.6 false positives.

    - "The utterance X is not used in any story or rule" for a response that a custom action says
      (Rasa's validator only looks at stories and rules, never at actions);
    - "duplicated intents ... faq": Rasa's ResponsesSyncImporter adds the retrieval intent found in
      the NLU data to the domain that already declares it (every retrieval-intent project gets it).
    - "The intent 'EXTERNAL_...' is ... not found in the NLU training data": intents named EXTERNAL_ are
      triggered by code (the handoff bridge), never typed, so they have no examples on purpose.
    """
    result = rasa("data", "validate", "--fail-on-warnings")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    allowed = said_by_custom_actions()
    unexpected = []
    for line in output.splitlines():
        if "UserWarning" not in line:
            continue
        message = line.split("UserWarning: ", 1)[1]
        unused = re.match(r"The utterance '([^']+)' is not used in any story or rule", message)
        if unused and unused.group(1) in allowed:
            continue
        if message.strip() == "The following duplicated intents have been found across multiple domain files: faq":
            continue
        if re.match(r"The intent 'EXTERNAL_\w+' is listed in the domain file, but is not found in the NLU", message):
            continue
        unexpected.append(message)
    assert unexpected == [], output


HAN = re.compile(r"[\u4e00-\u9fff]")


def _switches_language(story: Dict) -> bool:
    """A story whose customer writes both Chinese and English (Latin letters and no Chinese) messages."""
    said = [step["user"] for step in story["steps"] if "user" in step and not step["user"].startswith("/")]
    return any(HAN.search(s) for s in said) and any(re.search("[A-Za-z]", s) and not HAN.search(s) for s in said)


@pytest.mark.parametrize("stories_file, at_least, switching", [
    ("tests/test_stories.yml", 40, 0),
    # Chinese conversations, and ones that switch between English and Chinese mid-conversation
    ("tests/test_stories_zh.yml", 40, 10),
])
def test_end_to_end_stories_have_no_prediction_errors(trained_model: Path, tmp_path: Path, stories_file: str,
                                                      at_least: int, switching: int):
    result = rasa("test", "core", "--model", str(trained_model), "--stories", stories_file,
                  "--fail-on-prediction-errors", "--out", str(tmp_path))
    failed = tmp_path / "failed_test_stories.yml"
    details = failed.read_text() if failed.exists() else result.stdout[-3000:] + result.stderr[-3000:]
    assert result.returncode == 0, details
    stories = yaml.safe_load((ROOT / stories_file).read_text(encoding="utf-8"))["stories"]
    assert len(stories) >= at_least
    assert sum(_switches_language(s) for s in stories) >= switching


def _holdout() -> List[Tuple[str, str]]:
    return load_holdout(HOLDOUT)


def _training_faq_topics() -> set:
    from rasa.shared.nlu.training_data.loading import load_data

    data = load_data(str(ROOT / "data" / "nlu"))
    return {ex.get_full_intent() for ex in data.intent_examples if ex.get_full_intent().startswith("faq/")}


def test_holdout_covers_every_faq_topic():
    holdout_topics = {label for _, label in _holdout() if label.startswith("faq/")}
    assert _training_faq_topics() - holdout_topics == set()
    assert len(_training_faq_topics()) >= 30


def test_holdout_was_never_used_for_training():
    from rasa.shared.nlu.training_data.loading import load_data

    training = {ex.get("text").lower() for ex in load_data(str(ROOT / "data" / "nlu")).intent_examples}
    assert [text for text, _ in _holdout() if text.lower() in training] == []


def test_intent_macro_f1_on_the_holdout_is_at_least_090(trained_model: Path, tmp_path: Path):
    result = score_model(trained_model, _holdout())
    (tmp_path / "holdout_report.txt").write_text(result.details())
    print("\n" + result.summary("held-out NLU"))
    assert result.macro_f1 >= 0.90, result.details()
