"""Ticket flows (policy/ticket_flows.yml): the teams a ticket passes through, in order, with a target time each.

A flow such as ``repair`` is after_sales -> technical -> after_sales; a ticket on it records its step index and
is sent to the next step's group when a team is done (``flow.next_step(index)``). ``when`` lets a ticket born with
a matching category or topic start on a flow (``flows.for_ticket``). Editors change flows in the YAML only.

Guaranteed: a loaded :class:`TicketFlows` has at least one flow, every flow at least one step, every step a
known skill group and a positive target; any problem (schema, unknown group, unknown category, unknown key) is a
:class:`~common.config.ConfigError` naming the file, the line and the key, raised at load.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Iterable, List, Mapping, Optional, Tuple, Union

from common.config import POLICY_DIR, ConfigError, load_yaml, located

TICKET_FLOWS_FILE = POLICY_DIR / "ticket_flows.yml"


class UnknownFlow(KeyError):
    """``flows.get(name)`` for a name the file does not define."""

    def __str__(self) -> str:  # KeyError would show the message in quotes
        return str(self.args[0]) if self.args else "unknown ticket flow"


@dataclass(frozen=True)
class Step:
    """One team's turn: the skill group and its target in business hours of that group's calendar."""

    group: str
    target_hours: float

    @property
    def target_seconds(self) -> float:
        return self.target_hours * 3600


@dataclass(frozen=True)
class Flow:
    """A named sequence of steps (``name`` is the id, ``title`` what people read)."""

    name: str
    title: str
    steps: Tuple[Step, ...]
    categories: Tuple[str, ...] = ()
    topics: Tuple[str, ...] = ()

    def next_step(self, index: int) -> Optional[int]:
        """The index after ``index``, or None when ``index`` is the last step (or out of range)."""
        return index + 1 if 0 <= index < len(self.steps) - 1 else None

    def groups(self) -> List[str]:
        """The steps' groups in order (``["after_sales", "technical", "after_sales"]``)."""
        return [step.group for step in self.steps]

    def matches(self, categories: Iterable[str], topics: Iterable[str]) -> bool:
        """True when one of the categories or topics is in this flow's ``when`` (never without a ``when``)."""
        return bool(set(categories) & set(self.categories) or set(topics) & set(self.topics))


class TicketFlows:
    """The checked flows of one file, in file order."""

    def __init__(self, flows: Mapping[str, Flow], path: Union[str, Path] = TICKET_FLOWS_FILE) -> None:
        self.path = str(path)
        self._flows: Dict[str, Flow] = dict(flows)

    @classmethod
    def load(cls, path: Union[str, Path] = TICKET_FLOWS_FILE, groups: Iterable[str] = (),
             categories: Optional[Iterable[str]] = None) -> "TicketFlows":
        """Read and check ``path``: the schema, then every step's group against ``groups`` (skill group ids)
        and, when given, every ``when.category_in`` against ``categories``. ConfigError names file and line."""
        document = load_yaml(path, "ticket_flows", lines=True)
        known = set(groups)
        known_categories = None if categories is None else set(categories)

        def check(parts: List[Any], name: str, names: set, what: str) -> None:
            if name not in names:
                raise ConfigError(path, located(path, parts),
                                  f"unknown {what} {name!r}; known: {', '.join(sorted(names)) or '(none)'}")

        flows: Dict[str, Flow] = {}
        for flow_id, spec in document["flows"].items():
            steps = []
            for i, step in enumerate(spec["steps"]):
                check(["flows", flow_id, "steps", i, "group"], step["group"], known, "group")
                steps.append(Step(step["group"], float(step["target_hours"])))
            when = spec.get("when") or {}
            if known_categories is not None:
                for i, category in enumerate(when.get("category_in", [])):
                    check(["flows", flow_id, "when", "category_in", i], category, known_categories, "category")
            flows[flow_id] = Flow(flow_id, spec["name"], tuple(steps),
                                  tuple(when.get("category_in", ())), tuple(when.get("topic_in", ())))
        return cls(flows, path)

    def names(self) -> List[str]:
        """Flow ids in file order."""
        return list(self._flows)

    def get(self, name: str) -> Flow:
        """The flow called ``name``; UnknownFlow (a KeyError) naming the known ones otherwise."""
        try:
            return self._flows[name]
        except KeyError:
            raise UnknownFlow(f"unknown ticket flow {name!r} in {self.path}; known: "
                              f"{', '.join(self._flows) or '(none)'}") from None

    def __contains__(self, name: object) -> bool:
        return name in self._flows

    def for_ticket(self, categories: Iterable[str], topics: Iterable[str]) -> Optional[str]:
        """The id of the first flow (in file order) whose ``when`` matches one of the ticket's categories or
        topics, or None."""
        cats, tops = list(categories), list(topics)
        for flow in self._flows.values():
            if flow.matches(cats, tops):
                return flow.name
        return None
