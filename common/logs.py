"""Safe log lines: card numbers masked, control characters escaped, in every process.

Customer text reaches the logs (Rasa's own warnings quote it, exceptions carry it). A carriage return or a
line feed in it would start a forged log line, and an ANSI escape could recolour or erase a terminal; a card
number would sit in the log file in clear. :func:`install_card_masking` makes every log record of the process
safe when it is created:

- its message (formatted with its args) has card numbers and security codes masked (common/cards.py) and
  every control character escaped: ``\\r`` ``\\n`` ``\\x1b`` ... become the four characters ``\\r``,
  ``\\n``, ``\\x1b``; so one record is one line. Tabs stay.
- its traceback and stack (``exc_info``, ``stack_info``) stay multi-line, as Python prints them, but each
  exception's message (the part that can quote customer text) is escaped to one line, and every other
  control character but the line breaks between frames is escaped.
- Python warnings (``warnings.warn``, which Rasa uses to say it cannot use a message) go through logging
  (``logging.captureWarnings``), so they are escaped and masked too, instead of being written raw to stderr.

What writes to stdout/stderr without ``logging`` or ``warnings`` (a ``print``, a C library) is not covered.
"""
from __future__ import annotations

import logging
import re
import threading
import traceback
from typing import Any, Callable, Optional

from common.cards import mask_cards

_MASKED = "_card_masked"
_guard = threading.local()
_CONTROL = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029]")
_CONTROL_BUT_NEWLINE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]")
_NAMES = {"\n": "\\n", "\r": "\\r"}


def _escape(match: "re.Match[str]") -> str:
    char = match.group()
    return _NAMES.get(char) or (f"\\x{ord(char):02x}" if ord(char) < 0x100 else f"\\u{ord(char):04x}")


def escape_controls(text: str, keep_newlines: bool = False) -> str:
    """``text`` with control characters (C0 but tab, DEL, C1, U+2028/9) written as escapes; with
    ``keep_newlines``, line feeds stay."""
    return (_CONTROL_BUT_NEWLINE if keep_newlines else _CONTROL).sub(_escape, text)


def safe_text(text: str) -> str:
    """One log line's worth of ``text``: cards masked, control characters escaped."""
    return escape_controls(mask_cards(text))


def format_exception(exc_info: Any) -> str:
    """A traceback as logging prints it, each exception's message on one escaped line, cards masked."""
    top = traceback.TracebackException(*exc_info, compact=True)
    todo, seen = [top], set()
    while todo:
        te = todo.pop()
        if te is None or id(te) in seen:
            continue
        seen.add(id(te))
        lines = list(te.format_exception_only())
        te.format_exception_only = (  # type: ignore[method-assign]
            lambda lines=lines: iter([escape_controls("".join(lines).rstrip("\n")) + "\n"]))
        todo += [te.__cause__, te.__context__]
    return escape_controls(mask_cards("".join(top.format()).rstrip("\n")), keep_newlines=True)


def mask_record(record: logging.LogRecord) -> logging.LogRecord:
    """Make a log record safe, in place: its message (formatted with its args), its traceback and its stack
    (see the module's docstring). A record is treated once; a record whose message cannot be formatted is left
    for the handler to report."""
    if getattr(record, _MASKED, False) or getattr(_guard, "active", False):
        return record
    _guard.active = True  # spaCy may log while it is imported: do not treat those records re-entrantly
    try:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a bad format string is the handler's to report
            return record
        safe = safe_text(message)
        if safe != message:
            record.msg, record.args = safe, ()
        if record.exc_info and record.exc_info[0] is not None and not record.exc_text:
            try:
                record.exc_text = format_exception(record.exc_info)  # formatters use it instead of the exception
            except Exception:  # noqa: BLE001 - never lose the record over its traceback
                pass
        if record.stack_info:
            record.stack_info = escape_controls(mask_cards(record.stack_info), keep_newlines=True)
        setattr(record, _MASKED, True)
    finally:
        _guard.active = False
    return record


class CardMaskingFilter(logging.Filter):
    """A logging filter that makes each record safe (:func:`mask_record`) and lets every record through.

    ``logger.info("paid with %s", card)`` comes out as "paid with 4111 11** **** 1111".
    """

    def filter(self, record: logging.LogRecord) -> bool:
        mask_record(record)
        return True


def _masking_factory(previous: Callable[..., logging.LogRecord]) -> Callable[..., logging.LogRecord]:
    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        # At interpreter shutdown this module's globals are already None while late __del__ methods still log.
        return mask_record(record) if mask_record is not None else record

    setattr(factory, _MASKED, True)
    return factory


_install_lock = threading.Lock()


def install_card_masking(logger: Optional[logging.Logger] = None) -> None:
    """Make every log record of this process safe (cards masked, control characters escaped). Idempotent.

    Three layers:

    * a :func:`logging.setLogRecordFactory` wrapper (chaining the current factory) treats each
      record when it is created. This is the robust option: it covers every logger and every
      handler, including handlers added or replaced later (Rasa and Sanic configure logging after
      our channel module may be imported, ``dictConfig`` replaces handlers, Sanic's loggers do not
      propagate to the root), and it runs before any handler, filter or exporter sees the record.
      A handler filter alone misses all of those.
    * a :class:`CardMaskingFilter` on each handler of ``logger`` (the root logger by default) as
      it is now, for records that do not come from the factory (``logging.makeLogRecord``) or if
      other code later installs a factory that does not chain ours.
    * ``logging.captureWarnings(True)``: Python warnings become records of the ``py.warnings`` logger.
    """
    with _install_lock:
        current = logging.getLogRecordFactory()
        if not getattr(current, _MASKED, False):
            logging.setLogRecordFactory(_masking_factory(current))
        for handler in (logger or logging.getLogger()).handlers:
            if not any(isinstance(f, CardMaskingFilter) for f in handler.filters):
                handler.addFilter(CardMaskingFilter())
        logging.captureWarnings(True)
