"""LinearIntentClassifier with retrieval topics as classes: the intent's confidence is its topics' sum."""
import numpy as np

from bot.nlu.linear_classifier import intent_probabilities


def test_topic_probabilities_add_up_to_their_intent():
    labels = ["faq/invoice", "faq/returns", "greet", "order_status"]
    probs = np.array([[0.3, 0.3, 0.35, 0.05], [0.1, 0.0, 0.1, 0.8]])
    names, out = intent_probabilities(labels, probs)
    assert names == ["faq", "greet", "order_status"]
    np.testing.assert_allclose(out, [[0.6, 0.35, 0.05], [0.1, 0.1, 0.8]])
    # the FAQ wins the first message only because its two topics are counted together
    assert names[int(np.argmax(out[0]))] == "faq" and labels[int(np.argmax(probs[0]))] == "greet"


def test_without_topics_nothing_changes():
    labels = ["faq", "greet"]
    probs = np.array([[0.4, 0.6]])
    names, out = intent_probabilities(labels, probs)
    assert names == labels and out is probs
