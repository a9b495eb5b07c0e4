"""Log lines cannot be forged or recoloured by customer text (common/logs.py, installed via common.pii)."""
import io
import logging
import warnings

from common.pii import CardMaskingFilter, install_card_masking

FORGED = "hi\r\n2026-01-01 00:00:00 ERROR    rasa.core  - FAKE LINE \x1b[31mred\x1b[0m\u2028x"


def logger_to(stream: io.StringIO, name: str) -> logging.Logger:
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    handler.addFilter(CardMaskingFilter())
    logger = logging.getLogger(name)
    logger.handlers, logger.propagate = [handler], False
    logger.setLevel(logging.INFO)
    return logger


def test_control_characters_in_a_message_are_escaped_to_one_line():
    stream = io.StringIO()
    logger_to(stream, "test_logs.message").info("Received user message '%s'", FORGED + "\tcard 4111 11 11 1111 1111")
    assert stream.getvalue() == ("INFO Received user message 'hi\\r\\n2026-01-01 00:00:00 ERROR    rasa.core  - FAKE LINE "
                                 "\\x1b[31mred\\x1b[0m\\u2028x\tcard 4111 11 ** **** 1111'\n")


def test_a_traceback_stays_multi_line_but_its_message_is_one_escaped_line():
    stream = io.StringIO()
    try:
        try:
            raise KeyError("inner\nFAKE")
        except KeyError as inner:
            raise ValueError(FORGED) from inner
    except ValueError:
        logger_to(stream, "test_logs.trace").exception("failed")
    out = stream.getvalue()
    assert out.startswith("ERROR failed\nTraceback (most recent call last):\n")
    assert "\x1b" not in out and "\r" not in out and "\u2028" not in out
    assert "ValueError: hi\\r\\n2026-01-01 00:00:00 ERROR    rasa.core  - FAKE LINE \\x1b[31m" in out
    assert "KeyError: 'inner\\nFAKE'" in out
    assert not any(line.startswith(("2026-01-01", "FAKE")) for line in out.splitlines())


def test_python_warnings_go_through_the_escaping_log():
    previous_factory = logging.getLogRecordFactory()
    captured = logging.getLogger("py.warnings")
    captured.disabled = False
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    captured.addHandler(handler)
    try:
        logging.captureWarnings(False)  # undo an earlier test's, so that ours replaces pytest's recorder
        install_card_masking()
        with warnings.catch_warnings():
            warnings.simplefilter("always")
            warnings.warn(f"Parsing of message '{FORGED}' failed")
        assert "FAKE LINE \\x1b[31m" in stream.getvalue() and "\x1b" not in stream.getvalue()
        assert "\\r\\n2026-01-01" in stream.getvalue()
    finally:
        captured.removeHandler(handler)
        logging.captureWarnings(False)
        logging.setLogRecordFactory(previous_factory)
