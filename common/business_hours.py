"""Business calendars: when a team works, and how much working time lies between two moments.

A ticket promised "an answer within 4 business hours" at 02:00 on a Friday is due at 13:00 that Friday, not at
06:00. A :class:`Calendar` holds a time zone, a weekly schedule (per weekday zero or more ``"HH:MM-HH:MM"``
ranges; a missing day is closed), holidays (closed all day) and extra working days (a date with its own hours,
e.g. the Saturday the PRC makes a working day around a long holiday). It answers in epoch seconds:

- ``add(start, seconds)``: the moment ``seconds`` of business time after ``start`` (from the next opening when
  ``start`` is outside hours);
- ``between(a, b)``: business seconds in ``[a, b]``; ``is_open(t)``; ``next_open(t)``; ``local(t)``
  (``"2026-12-07 13:00"`` in the calendar's time zone, what the customer is told).

Guaranteed: local times are wall-clock times in the calendar's zone through ``zoneinfo`` (IANA data), so a
day when the clocks change has one hour more or less of opening time, as the team really works it; every
calendar has some opening time each week, checked at load (so ``add`` always ends); bad data is a
:class:`~common.config.ConfigError` naming the file, the key and, when the file can be read, the line.

Why not a library: ``businesstimedelta`` (the usual answer) is built on ``pytz``, needs the ``holidays``
package, supports Python up to 3.7 by its classifiers and has had no release since 1.0.1 in September 2019;
the rest on PyPI are pandas-based or work in whole days. What we need is ~150 lines over ``zoneinfo``.

The data is the ``business_hours:`` section of policy/skill_groups.yml: ``default`` and optional per-group
calendars (:func:`calendars_for`).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, Dict, FrozenSet, Iterable, Iterator, List, Mapping, Optional, Sequence, Tuple, Union
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from common.config import ConfigError, located

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
ALWAYS_OPEN = "00:00-24:00"
_RANGE = re.compile(r"^(\d{2}):(\d{2})-(\d{2}):(\d{2})$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_MAX_DAYS = 366 * 10  # add() scans at most this many days; unreachable with an open day every week

Ranges = Tuple[Tuple[int, int], ...]  # (start minute, end minute) of a day, 0..1440, sorted, not overlapping


@dataclass(frozen=True)
class Calendar:
    """One team's working time. Build it with :meth:`load` (checked data) rather than by hand."""

    name: str
    timezone: str
    week: Tuple[Ranges, ...]                      # 7 entries, Monday first; () = closed
    holidays: FrozenSet[date] = field(default=frozenset(), repr=False)
    extra_days: Tuple[Tuple[date, Ranges], ...] = ()  # working dates with their hours (win over holidays)

    def __post_init__(self) -> None:
        if len(self.week) != 7:
            raise ValueError("a calendar's week has 7 days")
        if not any(self.week):
            raise ValueError(f"calendar {self.name!r} is never open: give at least one weekday some hours")
        ZoneInfo(self.timezone)

    @classmethod
    def load(cls, spec: Mapping[str, Any], name: str = "default", source: Union[str, Path] = "<calendar>",
             parts: Sequence[Any] = ("business_hours", "default")) -> "Calendar":
        """A calendar from its YAML form ``{timezone, week: {mon: "09:00-18:00", ...}, holidays: [...],
        working_days: {"2027-02-20": "09:00-18:00"}}``; ConfigError names ``source``, the key and the line.
        ``holidays`` items are dates or ``"2027-02-06..2027-02-12"`` spans."""
        base = list(parts)

        def fail(sub: Sequence[Any], message: str) -> ConfigError:
            return ConfigError(source, located(source, base + list(sub)), message)

        if not isinstance(spec, Mapping):
            raise fail([], "a calendar is a mapping with timezone, week and holidays")
        unknown = sorted(set(spec) - {"timezone", "week", "holidays", "working_days"})
        if unknown:
            raise fail([unknown[0]], f"unknown key {unknown[0]!r}; known: holidays, timezone, week, working_days")
        zone = spec.get("timezone")
        try:
            if not isinstance(zone, str) or not zone:
                raise ZoneInfoNotFoundError(zone)
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise fail(["timezone"], f"unknown time zone {zone!r} (an IANA name such as Asia/Shanghai)") from None
        week_spec = spec.get("week") or {}
        if not isinstance(week_spec, Mapping):
            raise fail(["week"], "week maps weekdays (mon..sun) to hours such as \"09:00-18:00\"")
        for day in week_spec:
            if day not in WEEKDAYS:
                raise fail(["week", day], f"unknown weekday {day!r}; use {', '.join(WEEKDAYS)}")
        week = tuple(_ranges(week_spec.get(day), lambda m, d=day: fail(["week", d], m)) for day in WEEKDAYS)
        if not any(week):
            raise fail(["week"], "the calendar is never open: give at least one weekday some hours")
        holidays: set = set()
        raw_holidays = spec.get("holidays") or []
        if not isinstance(raw_holidays, list):
            raise fail(["holidays"], "holidays is a list of dates (YYYY-MM-DD) or spans (YYYY-MM-DD..YYYY-MM-DD)")
        for i, item in enumerate(raw_holidays):
            holidays.update(_dates(item, lambda m, i=i: fail(["holidays", i], m)))
        extra: List[Tuple[date, Ranges]] = []
        raw_extra = spec.get("working_days") or {}
        if not isinstance(raw_extra, Mapping):
            raise fail(["working_days"], "working_days maps dates to hours: {\"2027-02-20\": \"09:00-18:00\"}")
        for key, hours in raw_extra.items():
            days = _dates(key, lambda m, k=key: fail(["working_days", str(k)], m))
            ranges = _ranges(hours, lambda m, k=key: fail(["working_days", str(k)], m))
            extra.extend((d, ranges) for d in days)
        return cls(name, zone, week, frozenset(holidays), tuple(sorted(extra)))

    # --- questions ----------------------------------------------------------------------------------

    def add(self, start_epoch: float, seconds: float) -> float:
        """The moment ``seconds`` of business time after ``start_epoch``; outside hours, counting starts at the
        next opening (``add(t, 0) == next_open(t)``). Ends exactly at a closing time when the time runs out there."""
        if seconds < 0:
            raise ValueError("business seconds to add must be >= 0")
        left = float(seconds)
        for open_at, close_at in self._intervals_from(start_epoch):
            begin = max(open_at, start_epoch)
            if left <= close_at - begin:
                return begin + left
            left -= close_at - begin
        raise ValueError(f"calendar {self.name!r}: no opening within {_MAX_DAYS} days")  # pragma: no cover

    def between(self, a: float, b: float) -> float:
        """Business seconds in ``[a, b]`` (0 when ``b <= a``)."""
        total = 0.0
        if b <= a:
            return total
        for open_at, close_at in self._intervals_from(a):
            if open_at >= b:
                break
            total += min(close_at, b) - max(open_at, a)
        return total

    def is_open(self, epoch: float) -> bool:
        """True when ``epoch`` is inside opening hours (an opening counts, a closing does not)."""
        for open_at, close_at in self._intervals_from(epoch):
            return open_at <= epoch
        return False  # pragma: no cover

    def next_open(self, epoch: float) -> float:
        """``epoch`` when open, else the next opening."""
        return self.add(epoch, 0)

    def local(self, epoch: float) -> str:
        """``"2026-12-07 13:00"``: the wall-clock time in the calendar's zone."""
        return datetime.fromtimestamp(epoch, ZoneInfo(self.timezone)).strftime("%Y-%m-%d %H:%M")

    def hours_on(self, day: date) -> Ranges:
        """The opening ranges (minutes of the day) on a local date: an extra working day's hours, else none on
        a holiday, else the weekday's."""
        for extra_day, ranges in self.extra_days:
            if extra_day == day:
                return ranges
        return () if day in self.holidays else self.week[day.weekday()]

    def _intervals_from(self, epoch: float) -> Iterator[Tuple[float, float]]:
        """Opening intervals in epoch seconds, in order, each ending after ``epoch``."""
        zone = ZoneInfo(self.timezone)
        day = datetime.fromtimestamp(epoch, zone).date() - timedelta(days=1)
        for _ in range(_MAX_DAYS):
            midnight = datetime(day.year, day.month, day.day, tzinfo=zone)
            for start, end in self.hours_on(day):
                open_at = (midnight + timedelta(minutes=start)).timestamp()
                close_at = (midnight + timedelta(minutes=end)).timestamp()
                if close_at > epoch and close_at > open_at:
                    yield open_at, close_at
            day += timedelta(days=1)


def _ranges(value: Any, fail: Any) -> Ranges:
    """``"09:00-12:00,13:00-18:00"`` -> ((540, 720), (780, 1080)); None or "" or "closed" -> ()."""
    if value is None or (isinstance(value, str) and value.strip().lower() in ("", "closed")):
        return ()
    if not isinstance(value, str):
        raise fail(f"hours are text such as \"09:00-12:00,13:00-18:00\", not {value!r}")
    out: List[Tuple[int, int]] = []
    for piece in value.split(","):
        m = _RANGE.match(piece.strip())
        if not m:
            raise fail(f"{piece.strip()!r} is not a range HH:MM-HH:MM")
        h1, m1, h2, m2 = map(int, m.groups())
        start, end = h1 * 60 + m1, h2 * 60 + m2
        if h1 > 23 or m1 > 59 or m2 > 59 or end > 1440:
            raise fail(f"{piece.strip()!r} is not a time of day (00:00 to 24:00)")
        if end <= start:
            raise fail(f"{piece.strip()!r} ends before it starts (split a night shift over two days)")
        if out and start < out[-1][1]:
            raise fail(f"{piece.strip()!r} overlaps or precedes the range before it")
        out.append((start, end))
    return tuple(out)


def _dates(item: Any, fail: Any) -> List[date]:
    """A date (YAML date or "YYYY-MM-DD") or a span "YYYY-MM-DD..YYYY-MM-DD" (both ends included)."""
    if isinstance(item, date) and not isinstance(item, datetime):
        return [item]
    text = str(item).strip() if isinstance(item, str) else ""
    ends = [p.strip() for p in text.split("..")]
    try:
        if len(ends) not in (1, 2) or not all(_DATE.match(e) for e in ends):
            raise ValueError
        first, last = date.fromisoformat(ends[0]), date.fromisoformat(ends[-1])
    except ValueError:
        raise fail(f"{item!r} is not a date YYYY-MM-DD or a span YYYY-MM-DD..YYYY-MM-DD") from None
    if last < first or (last - first).days > 366:
        raise fail(f"{item!r}: the span must go forward and last at most a year")
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def always_open(name: str = "default") -> Calendar:
    """Open round the clock, in UTC: the calendar when skill_groups.yml has no ``business_hours`` section."""
    return Calendar(name, "UTC", tuple(((0, 1440),) for _ in WEEKDAYS))


def calendars_for(doc: Mapping[str, Any], groups: Iterable[str],
                  source: Union[str, Path] = "policy/skill_groups.yml") -> Dict[str, Calendar]:
    """Every group's calendar from the ``business_hours`` section of a skill_groups document: its own when the
    section names it, else ``default`` (required when the section exists). No section: open round the clock.
    A calendar for an unknown group, or bad hours, is a ConfigError naming ``source``, the key and the line."""
    names = list(groups)
    section = doc.get("business_hours")
    if section is None:
        return {name: always_open(name) for name in names}
    if not isinstance(section, Mapping) or "default" not in section:
        raise ConfigError(source, located(source, ["business_hours"]),
                          "business_hours needs a default calendar (and optionally one per skill group)")
    for key in section:
        if key != "default" and key not in names:
            raise ConfigError(source, located(source, ["business_hours", key]),
                              f"unknown skill group {key!r}; known: {', '.join(sorted(names))}")
    default = Calendar.load(section["default"], "default", source, ["business_hours", "default"])
    out: Dict[str, Calendar] = {}
    for name in names:
        own: Optional[Mapping[str, Any]] = section.get(name)
        out[name] = default if own is None else Calendar.load(own, name, source, ["business_hours", name])
    return out
