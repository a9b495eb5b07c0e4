"""The escalation state machine and the store interface it runs on.

States: waiting -> offered -> assigned -> released | closed, and waiting -> ticket | abandoned.
Every transition is one atomic step of the store (one Lua script in Redis, one locked step in the
in-memory twin), so any number of service processes can share one store without assigning a
chat twice.

Queue order: a waiting chat's rank is ``enqueued_at - priority * seconds_per_point``, lowest first.
That is the order of "priority plus ageing" (a chat gains one point per ``seconds_per_point``
seconds of waiting) without rewriting the queue as time passes. An offer goes to the free agent
with the skill who has the fewest chats, and among those to the one whose last chat was offered
longest ago (``idle_since``: the last offer, or going online).
"""
from __future__ import annotations

import abc
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Dict, List, Optional, Sequence, Tuple


class Status(str, Enum):
    WAITING = "waiting"
    OFFERED = "offered"
    ASSIGNED = "assigned"
    RELEASED = "released"
    CLOSED = "closed"
    TICKET = "ticket"
    ABANDONED = "abandoned"


OPEN = (Status.WAITING, Status.OFFERED, Status.ASSIGNED)


class Conflict(Exception):
    """The transition does not apply to the escalation's current state (or to this agent)."""


class NotFound(Exception):
    """No such escalation or agent."""


@dataclass
class Escalation:
    id: str
    conversation_id: str
    status: Status
    skill_group: str
    priority: int
    created_at: float
    agent_id: Optional[str] = None
    offer_deadline: Optional[float] = None
    history: List[Dict[str, Any]] = field(default_factory=list)  # {"at", "status", "agent", "detail"}


@dataclass
class Agent:
    id: str
    skills: Tuple[str, ...]
    max_chats: int
    status: str = "offline"  # online | away | offline
    load: int = 0
    idle_since: float = 0.0  # the last offer to this agent, or when they went online


def rank(enqueued_at: float, priority: int, seconds_per_point: float) -> float:
    """Queue rank, lowest served first: earlier and higher priority both come first."""
    return enqueued_at - priority * seconds_per_point


class Store(abc.ABC):
    """What the service needs from its storage. Every method is one atomic step."""

    @abc.abstractmethod
    async def create(self, conversation_id: str, skill_group: str, priority: int, document: Dict[str, Any],
                     now: float, seconds_per_point: float) -> Tuple[Escalation, bool]:
        """A waiting escalation in the group's queue; for a conversation with an open escalation,
        that one (and False): retries never create a second."""

    @abc.abstractmethod
    async def get(self, escalation_id: str) -> Escalation:
        """The escalation (NotFound if none)."""

    @abc.abstractmethod
    async def document(self, escalation_id: str) -> Dict[str, Any]:
        """The request document the bot sent."""

    @abc.abstractmethod
    async def set_agent(self, agent: Agent, now: float) -> None:
        """Create or update an agent (skills, capacity, status); going online makes them free."""

    @abc.abstractmethod
    async def get_agent(self, agent_id: str) -> Agent:
        """The agent (NotFound if none)."""

    @abc.abstractmethod
    async def offer_next(self, skill_group: str, now: float, reservation_seconds: float) -> Optional[Tuple[str, str]]:
        """Offer the first waiting chat of the group to the free agent idle longest: (escalation, agent) or None."""

    @abc.abstractmethod
    async def accept(self, escalation_id: str, agent_id: str, now: float) -> Escalation:
        """offered (to this agent) -> assigned; Conflict otherwise."""

    @abc.abstractmethod
    async def expire_offers(self, now: float, seconds_per_point: float) -> List[Tuple[str, str]]:
        """Offers past their deadline go back to the queue (keeping their rank); their agents are freed."""

    @abc.abstractmethod
    async def finish(self, escalation_id: str, agent_id: Optional[str], status: Status, now: float,
                     detail: str = "") -> Escalation:
        """assigned -> released | closed (by its agent, or anyone when agent_id is None); frees a slot."""

    @abc.abstractmethod
    async def leave_queue(self, escalation_id: str, status: Status, now: float, detail: str = "") -> Escalation:
        """waiting | offered -> ticket (nobody can take it now) or abandoned (the customer left);
        an offered chat's agent gets the slot back. Conflict in any other state."""

    @abc.abstractmethod
    async def waiting(self, skill_group: str) -> List[str]:
        """The group's queue, first served first."""

    async def queue_position(self, escalation_id: str, skill_group: str) -> Optional[int]:
        """1-based position in the group's queue, None when not waiting."""
        queue = await self.waiting(skill_group)
        return queue.index(escalation_id) + 1 if escalation_id in queue else None


def check_group(skill_group: str, groups: Sequence[str]) -> None:
    if skill_group not in groups:
        raise ValueError(f"unknown skill group {skill_group!r}")
