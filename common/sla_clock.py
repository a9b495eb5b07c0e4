"""SLA clocks as pure functions: which clocks a chat or a ticket has from its facts, and where each one stands
(due and warning times, state, business time left) in its group's business calendar.

A :class:`Clock` is the running spans of one target (a span's end ``None``: running now) and the moment the
target was met. Between spans the clock is paused (a ticket pending on the customer). Business time counts
only the calendar's opening hours (common/business_hours.py): a 10-business-hour target started at 09:00 on a
Friday of a 09:00-18:00 team is due at 10:00 on the next working day.

Guarantees: ``measure`` is a pure function of (clock, target, warning share, calendar, now); the due time of a
running clock is ``calendar.add(basis, target - used before basis)``, so pausing and resuming never loses or
adds business time; ``basis`` (the start of the latest span) changes exactly when the clock restarts after a
pause, which is what the timers' keys carry.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, List, Mapping, Optional, Protocol, Sequence, Tuple

Span = Tuple[float, Optional[float]]
RUNNING_TICKET_STATES = ("new", "open", "on_hold")
ENDED_TICKET_STATES = ("solved", "closed")


class BusinessTime(Protocol):
    def add(self, start_epoch: float, seconds: float) -> float: ...
    def between(self, a: float, b: float) -> float: ...


@dataclass(frozen=True)
class Clock:
    target: str                      # first_response | next_response | resolution
    spans: Tuple[Span, ...]          # running spans, oldest first; the last one open (end None) while it runs
    met_at: Optional[float] = None   # when the target was met (a reply, the close, the solve)
    stopped: bool = False            # the record ended without meeting it (the customer left, a merge)

    @property
    def basis(self) -> float:
        """The start of the latest running span: a new basis means a restarted clock (new timers)."""
        return self.spans[-1][0]

    @property
    def running(self) -> bool:
        return self.met_at is None and not self.stopped and bool(self.spans) and self.spans[-1][1] is None


@dataclass(frozen=True)
class Measure:
    target: str
    target_seconds: float
    basis: float
    due: Optional[float]     # None while paused (unknown until it runs again) unless already past
    warn: Optional[float]
    state: str               # running | paused | met | warning | breached
    left_seconds: float      # business seconds left (negative once breached; frozen while paused or met)
    used_seconds: float
    # For a page counting between two answers (a clock still running, breached or not; else None / False): wall
    # seconds from now to the warning and to the due time (0 once reached), and whether business time runs now.
    warn_in: Optional[float] = None
    due_in: Optional[float] = None
    counting: bool = False


def used(clock: Clock, cal: BusinessTime, upto: float) -> float:
    """Business seconds the clock ran up to ``upto``."""
    return sum(cal.between(start, upto if end is None else min(end, upto)) for start, end in clock.spans
               if start < upto)


def reached(clock: Clock, cal: BusinessTime, amount: float) -> Optional[float]:
    """The moment the clock's business time reaches ``amount`` (None: not in its closed spans, and it is paused)."""
    acc = 0.0
    for start, end in clock.spans:
        if end is None:
            return cal.add(start, max(0.0, amount - acc))
        length = cal.between(start, end)
        if acc + length >= amount:
            return cal.add(start, max(0.0, amount - acc))
        acc += length
    return None


def measure(clock: Clock, target_seconds: float, warn_share: float, cal: BusinessTime, now: float) -> Measure:
    at = clock.met_at if clock.met_at is not None else now
    spent = used(clock, cal, at)
    due = reached(clock, cal, target_seconds)
    warn = reached(clock, cal, warn_share * target_seconds)
    if clock.met_at is not None:
        state = "met" if due is None or clock.met_at <= due else "breached"
    elif due is not None and now >= due:
        state = "breached"
    elif not clock.running:
        state = "paused"
    elif warn is not None and now >= warn:
        state = "warning"
    else:
        state = "running"
    going = clock.met_at is None and clock.running  # running, warning, or breached and still not met
    return Measure(clock.target, target_seconds, clock.basis, due, warn, state,
                   round(target_seconds - spent, 1), round(spent, 1),
                   warn_in=round(max(0.0, warn - now), 1) if going and warn is not None else None,
                   due_in=round(max(0.0, due - now), 1) if going and due is not None else None,
                   counting=going and cal.between(now, now + 1.0) > 0)


def visible(clock: Clock, m: Measure) -> bool:
    """A stopped clock (the record ended without meeting it) is shown only if it was breached."""
    return not clock.stopped or m.state == "breached"


def _cycles(entries: Iterable[Tuple[str, float]]) -> Tuple[Optional[float], Optional[Tuple[float, float]]]:
    """Next-response cycles after the first agent reply: (customer waiting since, or None; the last answered
    cycle (customer at, reply at), or None). ``entries``: (who: "agent"|"customer", at), oldest first."""
    replied, waiting, last = False, None, None
    for who, at in entries:
        if who == "agent":
            if waiting is not None:
                last, waiting = (waiting, at), None
            replied = True
        elif who == "customer" and replied and waiting is None:
            waiting = at
    return waiting, last


def _clip(spans: Sequence[Span], start: float, end: Optional[float] = None) -> Tuple[Span, ...]:
    """The parts of ``spans`` within [start, end] (end None: open)."""
    out: List[Span] = []
    for s, e in spans:
        lo = max(s, start)
        hi = e if end is None else (end if e is None else min(e, end))
        if hi is None or hi > lo:
            out.append((lo, hi))
    return tuple(out) or ((start, start),)  # no running time in the window: paused, nothing used


def chat_clocks(created_at: float, ended_at: Optional[float], closed: bool,
                messages: Sequence[Mapping[str, Any]]) -> List[Clock]:
    """A chat's clocks. ``ended_at``: when it left the open states (None while waiting, offered or assigned);
    ``closed``: it ended by an agent closing it (resolution met); ``messages``: {speaker, at}, oldest first.
    first_response: from the handoff to a person's first message; next_response: from a customer's message
    after that to the next agent message; resolution: from the handoff to the close."""
    span: Tuple[Span, ...] = ((created_at, ended_at),)
    talk = [("agent" if m.get("speaker") == "agent" else "customer", float(m["at"])) for m in messages
            if m.get("speaker") in ("agent", "customer")]
    first_reply = next((at for who, at in talk if who == "agent"), None)
    ended = ended_at is not None
    out = [Clock("first_response", span, first_reply, ended and first_reply is None)]
    waiting, last = _cycles(talk)
    if waiting is not None:
        out.append(Clock("next_response", ((waiting, ended_at),), None, ended))
    elif last is not None:
        out.append(Clock("next_response", ((last[0], last[1]),), last[1]))
    out.append(Clock("resolution", span, ended_at if closed else None, ended and not closed))
    return out


def ticket_spans(created_at: float, timeline: Sequence[Mapping[str, Any]]) -> Tuple[Tuple[Span, ...],
                                                                                    Optional[float], bool]:
    """From a ticket's timeline: the spans it was in a running state (new, open, on hold; not pending, solved or
    closed), when it was solved if it is solved or closed now, and whether it ended otherwise (merged)."""
    spans: List[Span] = []
    since: Optional[float] = created_at
    state, solved_at, merged = "new", None, False
    for e in timeline:
        kind, at = e.get("kind"), float(e.get("at", created_at))
        if kind == "merged" and "to" in e:
            merged = True
        if kind not in ("created", "state") or "to" not in e:
            continue
        state = str(e["to"])
        if state in RUNNING_TICKET_STATES:
            if since is None:
                since = at
        else:
            if since is not None:
                spans.append((since, at))
                since = None
            if state == "solved":
                solved_at = at
            elif state != "closed":
                solved_at = None
    if since is not None:
        spans.append((since, None))
    if state not in ENDED_TICKET_STATES:
        solved_at = None
    if not spans:
        spans.append((created_at, created_at))
    return tuple(spans), solved_at, merged or (state == "closed" and solved_at is None)


def ticket_clocks(created_at: float, timeline: Sequence[Mapping[str, Any]]) -> List[Clock]:
    """A ticket's clocks, each paused while the ticket is pending: first_response (to the first reply),
    next_response (from a customer's message after a reply to the next reply), resolution (to solved)."""
    spans, solved_at, ended = ticket_spans(created_at, timeline)
    done = solved_at is not None or ended
    talk = [("agent" if e.get("kind") == "reply" else "customer", float(e["at"])) for e in timeline
            if e.get("kind") in ("reply", "customer")]
    first_reply = next((at for who, at in talk if who == "agent"), None)
    out = [Clock("first_response", _clip(spans, created_at, first_reply), first_reply, done and first_reply is None)]
    waiting, last = _cycles(talk)
    if waiting is not None:
        out.append(Clock("next_response", _clip(spans, waiting), None, done))
    elif last is not None:
        out.append(Clock("next_response", _clip(spans, last[0], last[1]), last[1]))
    out.append(Clock("resolution", spans, solved_at, ended and solved_at is None))
    return out
