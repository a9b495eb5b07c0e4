"""Service levels as data (policy/sla.yml): which targets a chat or a ticket has, the warning share, and what a
breach does. Pure: nothing here reads a clock, a store or the network (the clocks themselves are
common/sla_clock.py; the timers that act on them handoff/clocks/sla.py).

Which numbers apply to a record of kind ``chat`` or ``ticket`` in ``group`` with priority ``p``: the top-level
``targets``/``warn_at``/``actions``, then the highest priority band whose ``min_priority`` ``p`` reaches, then the
group's entry; each later layer replaces only the keys it names (a target, a whole breach action set).

Guaranteed at load: the file matches schemas/sla.schema.json; every group named (``groups``, ``reoffer``) is a
skill group of policy/skill_groups.yml; every target of both kinds has a number after the layers. A ``reoffer``
to the chat's own group (or ``fallback`` of a group without one) is no action. Any problem is a :class:`~common.config.ConfigError` naming the file, the line
and the key, raised when the service starts.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Tuple, Union

import yaml

from common.config import POLICY_DIR, ConfigError, load_yaml, located

SLA_FILE = POLICY_DIR / "sla.yml"
KINDS = ("chat", "ticket")
TARGETS = ("first_response", "next_response", "resolution")
DEFAULT_WARN_AT = 0.8
_UNIT = {"s": 1, "m": 60, "h": 3600}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smh])\s*$")


def seconds(value: Union[int, float, str]) -> float:
    """``30`` -> 30.0, ``"90m"`` -> 5400.0, ``"2h"`` -> 7200.0 (the schema has checked the form)."""
    if isinstance(value, (int, float)):
        return float(value)
    m = _DURATION.match(value)
    if not m:
        raise ValueError(f"{value!r} is not a duration such as 30s, 90m or 2h")
    return float(m.group(1)) * _UNIT[m.group(2)]


@dataclass(frozen=True)
class Breach:
    """What a breach of one target does: points added to the priority, the group a waiting chat goes to (None:
    stays), and whether the supervisors get an ``sla_action`` event."""
    raise_priority: int = 0
    reoffer: Optional[str] = None
    notify_supervisor: bool = False

    @property
    def empty(self) -> bool:
        return not (self.raise_priority or self.reoffer or self.notify_supervisor)


@dataclass(frozen=True)
class Terms:
    """The service level of one record: seconds per target, the warning share, the breach actions."""
    kind: str
    group: str
    band: Optional[str]
    targets: Tuple[Tuple[str, float], ...]
    warn_at: float
    breach: Tuple[Tuple[str, Breach], ...]

    def target(self, name: str) -> float:
        return dict(self.targets)[name]

    def actions(self, name: str) -> Breach:
        return dict(self.breach).get(name, Breach())


class SlaPolicy:
    """The checked content of policy/sla.yml for the skill groups ``groups`` (id -> spec with ``fallback``)."""

    def __init__(self, document: Dict[str, Any], groups: Mapping[str, Mapping[str, Any]],
                 path: Union[str, Path] = SLA_FILE) -> None:
        self.path = str(path)
        self.document = document
        self.groups = groups
        top = {k: document[k] for k in ("targets", "warn_at", "actions") if k in document}
        self.base = top
        bands = document.get("bands") or {}
        # highest first: the first one a priority reaches is the band
        self.bands: List[Tuple[str, int, Dict[str, Any]]] = sorted(
            ((name, int(spec["min_priority"]), spec) for name, spec in bands.items()), key=lambda b: -b[1])
        self.group_layers: Dict[str, Dict[str, Any]] = dict(document.get("groups") or {})
        self._check()

    @classmethod
    def load(cls, groups: Mapping[str, Mapping[str, Any]], path: Union[str, Path] = SLA_FILE) -> "SlaPolicy":
        return cls(load_yaml(path, "sla", lines=True), groups, path)

    def _fail(self, parts: List[Any], message: str) -> ConfigError:
        return ConfigError(self.path, located(self.path, parts), message)

    def _check(self) -> None:
        known = sorted(self.groups)
        for name in self.group_layers:
            if name not in self.groups:
                raise self._fail(["groups", name], f"unknown skill group {name!r}; known: {', '.join(known)}")
        layers = [(["actions"], self.base.get("actions"))]
        layers += [(["bands", n, "actions"], spec.get("actions")) for n, _, spec in self.bands]
        layers += [(["groups", n, "actions"], spec.get("actions")) for n, spec in self.group_layers.items()]
        for where, actions in layers:
            for kind, per_target in (actions or {}).items():
                for target, spec in per_target.items():
                    to = spec.get("reoffer")
                    if to not in (None, "fallback") and to not in self.groups:
                        raise self._fail(where + [kind, target, "reoffer"],
                                         f"unknown skill group {to!r}; known: fallback, {', '.join(known)}")
        for kind in KINDS:
            for target in TARGETS:
                if (self.base.get("targets") or {}).get(kind, {}).get(target) is None:
                    raise self._fail(["targets", kind], f"targets.{kind}.{target} is missing: every target needs "
                                                        "a default (bands and groups only change it)")

    def band(self, priority: int) -> Optional[Tuple[str, Dict[str, Any]]]:
        for name, floor, spec in self.bands:
            if priority >= floor:
                return name, spec
        return None

    def terms(self, kind: str, group: str, priority: int) -> Terms:
        """The targets, warning share and breach actions of a ``kind`` record of ``group`` at ``priority``."""
        if kind not in KINDS:
            raise ValueError(f"kind is one of {KINDS}, not {kind!r}")
        band = self.band(priority)
        layers = [self.base, *([band[1]] if band else []), self.group_layers.get(group) or {}]
        targets: Dict[str, float] = {}
        breach: Dict[str, Breach] = {}
        warn_at = DEFAULT_WARN_AT
        for layer in layers:
            for target, value in ((layer.get("targets") or {}).get(kind) or {}).items():
                targets[target] = seconds(value)
            for target, spec in ((layer.get("actions") or {}).get(kind) or {}).items():
                breach[target] = Breach(int(spec.get("raise_priority", 0)), self._reoffer(spec.get("reoffer"), group),
                                        bool(spec.get("notify_supervisor", False)))
            warn_at = float(layer.get("warn_at", warn_at))
        return Terms(kind, group, band[0] if band else None, tuple((t, targets[t]) for t in TARGETS), warn_at,
                     tuple(sorted(breach.items())))

    def _reoffer(self, to: Optional[str], group: str) -> Optional[str]:
        if to == "fallback":
            to = (self.groups.get(group) or {}).get("fallback")
        return None if to == group else to

    def default_target(self, kind: str, target: str) -> float:
        """The top-level target (no band, no group): what the dashboard's first-response watch uses."""
        return seconds(self.base["targets"][kind][target])


def check_legacy(skill_groups_path: Union[str, Path], policy: SlaPolicy) -> Optional[str]:
    """The old home of the chat first-response target was ``sla: {first_response_seconds}`` in skill_groups.yml.
    Still accepted when it agrees with policy/sla.yml (a note to remove it is returned); a ConfigError when it
    disagrees, so an editor's change there is never silently ignored. None when the key is gone."""
    try:
        document = yaml.safe_load(Path(skill_groups_path).read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError):
        return None  # SkillGroups.load reported it already
    old = (document.get("sla") or {}).get("first_response_seconds")
    if old is None:
        return None
    new = policy.default_target("chat", "first_response")
    where = located(skill_groups_path, ["sla", "first_response_seconds"])
    if float(old) != new:
        raise ConfigError(skill_groups_path, where,
                          f"{old} s, but the SLA targets moved to {policy.path} (targets.chat.first_response: "
                          f"{new:g} s there): set the target there and remove this key")
    return (f"{skill_groups_path}: {where}: the chat first-response target is now read from {policy.path} "
            "(targets.chat.first_response); remove this key")
