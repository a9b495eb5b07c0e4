"""The surge rule (policy/surge.yml): when a group's queue calls in more agents, and when it lets them go.

Pure: :class:`SurgePolicy` is the checked policy, :func:`decide` the rule's one step from a group's load and
its current surge state to start / continue / stop. Nothing here reads a store, a clock or the network; the
service runs it every sweep (handoff/clocks/surge.py).

The rule, per group:
- **start** when the queue holds at least ``start.waiting_at_least`` chats, or the wait a customer joining
  the queue now would be told (:func:`estimated_wait`) is at least ``start.wait_seconds_at_least``;
- **stop** once the queue has stayed at or below the lower marks (``stop.waiting_at_most`` and, if set,
  ``stop.wait_seconds_at_most``) for ``stop.for_seconds`` without a break (hysteresis: a queue bobbing
  around one mark does not start and stop it every sweep); a group whose rule is ``off`` stops at once.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Dict, List, Mapping, NoReturn, Optional, Sequence, Tuple, Union

from common.config import POLICY_DIR, ConfigError, load_yaml, located

SURGE_FILE = POLICY_DIR / "surge.yml"
FALLBACK = "fallback"  # overflow_to: the group's own fallback in skill_groups.yml


@dataclass(frozen=True)
class Rule:
    """One group's surge rule, with the default filled in. ``start_*``/``stop_wait_seconds`` None: not used."""

    start_waiting: Optional[int]
    start_wait_seconds: Optional[int]
    stop_waiting: int
    stop_wait_seconds: Optional[int]
    calm_seconds: float
    overflow_to: Optional[str]
    standby: Tuple[str, ...]
    off: bool = False

    def busy(self, load: "Load") -> bool:
        """The start thresholds are reached."""
        if self.off:
            return False
        by_queue = self.start_waiting is not None and load.waiting >= self.start_waiting
        by_wait = (self.start_wait_seconds is not None and load.wait_seconds is not None
                   and load.wait_seconds >= self.start_wait_seconds)
        return by_queue or by_wait

    def calm(self, load: "Load") -> bool:
        """The queue is at or below the lower marks and no start threshold is reached (so a surge never ends
        while it would start again at once); an unknown wait counts as calm: nobody is online, and the
        service's own overflow moves the queue on."""
        if load.waiting > self.stop_waiting or self.busy(load):
            return False
        return self.stop_wait_seconds is None or load.wait_seconds is None or load.wait_seconds <= self.stop_wait_seconds


@dataclass(frozen=True)
class Load:
    """A group's queue now: chats waiting, and the wait a customer joining now would be told (None: unknown)."""

    waiting: int
    wait_seconds: Optional[int]


@dataclass(frozen=True)
class SurgeState:
    """A surge that lasts (stored per group). ``since``: when it started (its identity: the store changes a
    state only if its ``since`` is still the one read); ``calm_since``: since when the queue is calm."""

    group: str
    since: float
    overflow_to: Optional[str]
    standby: Tuple[str, ...]
    waiting: int
    wait_seconds: Optional[int]
    calm_since: Optional[float] = None

    def as_dict(self) -> Dict[str, Any]:
        return {"group": self.group, "since": self.since, "overflow_to": self.overflow_to,
                "standby": list(self.standby), "waiting": self.waiting, "wait_seconds": self.wait_seconds,
                "calm_since": self.calm_since}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "SurgeState":
        return cls(str(d["group"]), float(d["since"]), d.get("overflow_to"), tuple(d.get("standby") or ()),
                   int(d.get("waiting") or 0), d.get("wait_seconds"), d.get("calm_since"))


@dataclass(frozen=True)
class Step:
    """What the rule does this round: ``start`` (state: the new surge), ``continue`` (state: the surge, with
    ``calm_since`` as it should now be stored), ``stop`` (state: the surge that ends) or ``idle``."""

    action: str
    state: Optional[SurgeState] = None


def estimated_wait(waiting: int, online: int, capacity: int, free: int, handle_seconds: int) -> Optional[int]:
    """The wait a customer joining the queue now would be told (the service's estimate for the last place,
    handoff/routing/queues.py ``_wait``): 0 when a free slot is left for them; else the chats ahead of them over
    the group's capacity, times the group's handling time. None when nobody is online."""
    if online == 0 or capacity <= 0:
        return None
    ahead = waiting - free
    if ahead <= 0:
        return 0
    return math.ceil(ahead / capacity) * handle_seconds


def decide(group: str, rule: Rule, load: Load, state: Optional[SurgeState], now: float) -> Step:
    """The rule's step for ``group`` (see the module's docstring)."""
    if state is None:
        if not rule.busy(load):
            return Step("idle")
        return Step("start", SurgeState(group, now, rule.overflow_to, rule.standby, load.waiting, load.wait_seconds))
    seen = replace(state, waiting=load.waiting, wait_seconds=load.wait_seconds)
    if rule.off:
        return Step("stop", seen)
    if not rule.calm(load):
        return Step("continue", replace(seen, calm_since=None))
    calm_since = state.calm_since if state.calm_since is not None else now
    if now - calm_since >= rule.calm_seconds:
        return Step("stop", replace(seen, calm_since=calm_since))
    return Step("continue", replace(seen, calm_since=calm_since))


class SurgePolicy:
    """policy/surge.yml, checked against schemas/surge.schema.json and the skill groups (ConfigError names the
    file, the line and the key)."""

    def __init__(self, document: Dict[str, Any], groups: Mapping[str, Mapping[str, Any]],
                 path: Union[str, Path] = SURGE_FILE) -> None:
        self.path = path
        names = list(groups)
        own = document.get("groups") or {}
        for group in own:
            if group not in groups:
                self._fail(["groups", group], f"unknown skill group {group!r}; known: {', '.join(sorted(names))}")
        self.rules: Dict[str, Rule] = {}
        for group in names:
            self.rules[group] = self._rule(group, document["default"], own.get(group) or {}, groups)

    @classmethod
    def load(cls, groups: Mapping[str, Mapping[str, Any]], path: Union[str, Path] = SURGE_FILE) -> "SurgePolicy":
        return cls(load_yaml(path, "surge", lines=True), groups, path)

    def _rule(self, group: str, default: Mapping[str, Any], own: Mapping[str, Any],
              groups: Mapping[str, Mapping[str, Any]]) -> Rule:
        where = ["groups", group] if own else ["default"]
        spec = {**default, **own}
        start, stop = spec.get("start") or {}, spec.get("stop") or {}
        off = bool(spec.get("off", False))
        if not off and not start:
            self._fail(where + ["start"], "give waiting_at_least or wait_seconds_at_least (or off: true)")
        stop_waiting = int(stop.get("waiting_at_most", 0))
        if start.get("waiting_at_least") is not None and stop_waiting >= start["waiting_at_least"]:
            self._fail(where + ["stop", "waiting_at_most"], f"must be below start.waiting_at_least "
                       f"({start['waiting_at_least']}) for group {group}: the lower mark of the hysteresis")
        stop_wait = stop.get("wait_seconds_at_most")
        if (stop_wait is not None and start.get("wait_seconds_at_least") is not None
                and stop_wait >= start["wait_seconds_at_least"]):
            self._fail(where + ["stop", "wait_seconds_at_most"], "must be below start.wait_seconds_at_least "
                       f"({start['wait_seconds_at_least']}) for group {group}")
        overflow = spec.get("overflow_to")
        if overflow == FALLBACK:
            overflow = groups[group].get("fallback")
        elif overflow is not None and overflow not in groups:
            self._fail(where + ["overflow_to"], f"unknown skill group {overflow!r}; known: {', '.join(sorted(groups))}")
        if overflow == group:
            self._fail(where + ["overflow_to"], f"group {group} cannot overflow to itself")
        return Rule(start.get("waiting_at_least"), start.get("wait_seconds_at_least"), stop_waiting, stop_wait,
                    float(stop.get("for_seconds", 60)), overflow, tuple(spec.get("standby") or ()), off)

    def _fail(self, parts: List[Any], message: str) -> NoReturn:
        raise ConfigError(self.path, located(self.path, parts), message)

    def rule(self, group: str) -> Rule:
        return self.rules[group]

    def decide(self, group: str, load: Load, state: Optional[SurgeState], now: float) -> Step:
        """:func:`decide` with the group's rule."""
        return decide(group, self.rules[group], load, state, now)

    def groups(self) -> Sequence[str]:
        return list(self.rules)
