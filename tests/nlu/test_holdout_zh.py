"""Chinese NLU quality on held-out sentences: tests/nlu/holdout_zh.yml, written apart from
the training data, scored exactly like the English held-out set (tests/nlu/heldout_score.py, shared with
tests/test_content.py): macro-F1 over intents and FAQ topics must be at least 0.90. Also checks the Chinese
outcome set tests/nlu/outcomes_zh.yml (measured by `python -m tests.nlu.outcomes --set zh`) is well formed."""
from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import List

from tests.conftest import ROOT
from tests.nlu.heldout_score import Example, load_holdout, score_model, training_examples
from tests.nlu.outcomes import SETS, Vocabulary, load_items, training_texts, verbatim_overlap

HOLDOUT_ZH = ROOT / "tests" / "nlu" / "holdout_zh.yml"
HOLDOUT_EN = ROOT / "tests" / "nlu" / "holdout.yml"
HAN = re.compile(r"[\u4e00-\u9fff]")
# Labels whose messages may be written without Han characters (an order number, a foreign street name).
MAY_BE_DIGITS_ONLY = {"inform"}
# The forms a first message can start (the survey form only follows a handoff).
TASK_FORMS = ("order_status_form", "address_change_form", "return_form")


def _holdout() -> List[Example]:
    return load_holdout(HOLDOUT_ZH)


def _key(text: str) -> str:
    """Spacing, case and end punctuation (half- or full-width) do not make a sentence new."""
    return "".join(text.lower().split()).strip("?？!！.。~～")


def test_the_chinese_holdout_is_large_enough_and_chinese():
    examples = _holdout()
    assert len(examples) >= 320
    not_chinese = [t for t, label in examples if not HAN.search(t) and label not in MAY_BE_DIGITS_ONLY]
    assert not_chinese == []


def test_the_chinese_holdout_covers_every_intent_of_the_english_one_and_every_faq_topic():
    counts = Counter(label for _, label in _holdout())
    english = {label for _, label in load_holdout(HOLDOUT_EN)}
    trained_topics = {label for _, label in training_examples(ROOT / "data" / "nlu") if label.startswith("faq/")}
    assert sorted(english - set(counts)) == []
    assert sorted(trained_topics - set(counts)) == []
    assert {label: n for label, n in counts.items() if n < 6} == {}


def test_the_chinese_holdout_was_never_used_for_training():
    training = {_key(text) for text, _ in training_examples(ROOT / "data" / "nlu")}
    english = {_key(text) for text, _ in load_holdout(HOLDOUT_EN)}
    assert [text for text, _ in _holdout() if _key(text) in training] == []
    # Nor copied from the English held-out set (its few Chinese lines are scored there).
    assert [text for text, _ in _holdout() if _key(text) in english] == []


def test_intent_macro_f1_on_the_chinese_holdout_is_at_least_090(trained_model: Path, tmp_path: Path):
    result = score_model(trained_model, _holdout())
    (tmp_path / "holdout_zh_report.txt").write_text(result.details())
    print("\n" + result.summary("held-out NLU zh"))
    assert result.macro_f1 >= 0.90, result.details()


def test_the_chinese_outcome_set_is_valid_covers_every_faq_topic_form_handoff_and_cant_help():
    vocab = Vocabulary.from_project()
    items = load_items(SETS["zh"], vocab)  # raises on an unknown outcome, key or a repeated text
    assert len(items) >= 60
    expected = {e for item in items for e in item.expect}
    assert sorted(t for t in vocab.faq_topics if f"answer: faq/{t}" not in expected) == []
    assert sorted(f for f in TASK_FORMS if f"form: {f}" not in expected) == []
    assert {"person", "cant_help"} <= expected
    assert [i.text for i in items if not HAN.search(i.text)] == []


def test_the_chinese_outcome_set_was_never_used_for_training():
    assert verbatim_overlap(load_items(SETS["zh"]), training_texts()) == []


def test_the_shared_scoring_counts_every_label_equally_and_names_the_misses():
    from tests.nlu.heldout_score import score

    result = score(["faq/invoice", "faq/invoice", "faq/invoice", "greet"],
                   ["faq/invoice", "faq/invoice", "faq/invoice", "faq/invoice"],
                   ["发票", "开发票", "发票呢", "你好"])
    # invoice: precision 3/4, recall 1 -> F1 6/7; greet never predicted -> F1 0; macro = mean of the two.
    assert round(result.macro_f1, 4) == round((6 / 7 + 0) / 2, 4)
    assert result.accuracy == 0.75
    assert result.errors == ("'你好': expected greet, got faq/invoice",)
    assert result.summary("held-out NLU zh") == "held-out NLU zh: n=4 macro-F1=0.429 accuracy=0.750"
