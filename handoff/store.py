"""The escalation state machine and the store interface it runs on.

States: waiting -> offered -> assigned -> released | closed, and waiting | offered -> ticket | abandoned;
a transfer sends an open chat back to waiting (another group) or offers it to a named agent.
Every transition is one atomic step of the store (one Lua script in Redis, one locked step in the
in-memory twin), so any number of service processes can share one store without assigning a
chat twice.

Queue order: a waiting chat's rank is ``enqueued_at - priority * seconds_per_point``, lowest first.
That is the order of "priority plus ageing" (a chat gains one point per ``seconds_per_point``
seconds of waiting) without rewriting the queue as time passes. An offer goes to the free agent
with the skill who has the fewest chats, and among those to the one whose last chat was offered
longest ago (``idle_since``: the last offer, or going online).
Language: only agents who read one of a chat's ``readers`` are offered it (handoff/routing/language_match.py: the
store's language steps). Accounts and access: handoff/account_steps.py (the store's account steps).

Lapsed offers: an offer not accepted in time goes back to the queue (keeping its rank), and the agent
who let it lapse joins the chat's "lapsed" set. The chat is then offered to the best-ranked free agent
of its group who is not in that set; only when every free agent of the group has let it lapse does it
cycle back to them (best-ranked first) rather than wait. The set is dropped once the chat is accepted
or leaves the queue. Each lapse counts on the agent (``missed``, reset by accepting an offer or by
setting one's own status); ``expire_offers(max_missed=N)`` sets an online agent who lets N offers in a
row lapse to ``away`` with the reason "missed N offers in a row" (``Agent.reason``, and on the
``agent_status`` event).

A closed chat may get the customer's satisfaction survey once (``set_survey``: ``outcome.survey``).

Notes: agents and supervisors write internal notes on a chat (``add_note``). They are kept apart
from the messages, so nothing that delivers messages to the customer can ever send one: the event is
a ``note``, never a ``message``.

Indexes for the supervisor's views, written by the same step as the escalation (no scans of every
key): escalations by creation time (``created_since``: the day's statistics), the open ones
(``open_escalations``: waiting, offered or assigned; the SLA watch) and each customer's
(``customer_escalations``: their earlier conversations). An escalation's ``facets`` keep what the
statistics count (customer key, trigger names, topics) so they need not read whole request documents.

Presence: the agent console's WebSocket is the sign that an agent is still there. Each service
process records when it last saw the agents whose WebSocket it holds (``touch_agents``, every sweep
and when a WebSocket opens); an agent not seen for the grace period is lost (``lost_agents``), one
process claims them (``forget_agent``) and their chats go back to their groups' queues. Agents who
never open a WebSocket (pure API users) are never seen, so never lost.
"""
from __future__ import annotations

import abc
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Dict, List, Optional, Sequence, Tuple

from common.language_rules import LanguageRule
from handoff.account_steps import AccountSteps
from handoff.routing.language_match import LanguageSteps


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


class NotYours(Conflict):
    """The escalation is offered or assigned to another agent (the service answers 403)."""


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
    outcome: Dict[str, Any] = field(default_factory=dict)  # how it ended: resolution, wrap-up code, ticket reply time
    overflow: List[str] = field(default_factory=list)  # groups passed over at creation: nobody online
    facets: Dict[str, Any] = field(default_factory=dict)  # {"customer", "triggers", "topics"}: for statistics
    language: str = ""  # the customer's language ("" from a caller that names none)
    readers: List[str] = field(default_factory=list)  # an agent must read one of these ("*" or none: anyone)
    language_note: str = ""  # why the readers were widened (the language overflow), "" when they were not


@dataclass
class Escalated:
    """What ``Store.escalate`` did: the escalation, whether it is new, and where it stands."""

    escalation: Escalation
    created: bool
    queue_position: Optional[int]  # 1-based, None unless waiting
    group: "QueueStats"  # agents online, capacity and free slots of its group (waiting not counted)


@dataclass
class Event:
    """One entry of the event stream: what changed, and the agents it concerns (``to``)."""

    id: str
    to: List[str]
    data: Dict[str, Any]
    replay: bool = False  # a parked event handed back to the bot's bridge (bot.undelivered): not news here


@dataclass
class QueueStats:
    group: str
    waiting: int
    oldest_since: Optional[float]  # when the longest-waiting chat joined the queue
    online: int  # agents online with the skill
    capacity: int  # their chats at most, together
    free: int  # their free chat slots


@dataclass
class Agent:
    id: str
    skills: Tuple[str, ...]
    max_chats: int
    status: str = "offline"  # online | away | offline
    load: int = 0
    idle_since: float = 0.0  # the last offer to this agent, or when they went online
    reason: str = ""  # why the status was set for them (e.g. "missed 2 offers in a row"); "" when they chose it
    missed: int = 0  # offers let lapse in a row (reset by accepting one, or by setting a status)
    languages: Tuple[str, ...] = ("en",)  # the languages the agent reads (common/language_rules.py)


def rank(enqueued_at: float, priority: int, seconds_per_point: float) -> float:
    """Queue rank, lowest served first: earlier and higher priority both come first."""
    return enqueued_at - priority * seconds_per_point


class Store(LanguageSteps, AccountSteps, abc.ABC):
    """What the service needs from its storage. Every method is one atomic step."""

    @abc.abstractmethod
    async def create(self, conversation_id: str, skill_group: str, priority: int, document: Dict[str, Any],
                     now: float, seconds_per_point: float, request_key: str = "",
                     facets: Optional[Dict[str, Any]] = None, language: str = "") -> Tuple[Escalation, bool]:
        """A waiting escalation in the group's queue; for a conversation with an open escalation, or
        whose latest escalation came from the same request (``request_key``), that one (and False):
        retries never create a second, even after the first became a ticket. ``facets`` as in escalate;
        ``language``: only agents who read it are offered the chat ("": anyone)."""

    @abc.abstractmethod
    async def escalate(self, conversation_id: str, chain: Sequence[str], priority: int, document: Dict[str, Any],
                       now: float, seconds_per_point: float, request_key: str, reservation_seconds: float,
                       ticket_outcome: Dict[str, Any], facets: Optional[Dict[str, Any]] = None,
                       language_rule: Optional[LanguageRule] = None) -> Escalated:
        """The bot's handoff in one atomic step: return the conversation's open escalation (or the one from
        the same request); otherwise create it in the first group of ``chain`` (the routed group and its
        fallbacks) with an agent online who reads its language (``language_rule``; None: anyone), or else
        in the first group with anyone online, open to the rule's overflow readers (``language_note`` says
        so, and the first history entry), and offer the first chat of that queue a free agent can read at
        once; with nobody online anywhere in the chain, create it as a ticket with ``ticket_outcome``.
        A new escalation joins the indexes: by creation time, open (unless a ticket), and the customer's
        (``facets["customer"]``, when given); ``facets`` is kept on it."""

    @abc.abstractmethod
    async def get(self, escalation_id: str) -> Escalation:
        """The escalation (NotFound if none)."""

    @abc.abstractmethod
    async def document(self, escalation_id: str) -> Dict[str, Any]:
        """The request document the bot sent."""

    @abc.abstractmethod
    async def set_agent(self, agent: Agent, now: float) -> None:
        """Create or update an agent (skills, capacity, status, ``reason``); going online makes them free.
        Resets their missed-offer count."""

    @abc.abstractmethod
    async def get_agent(self, agent_id: str) -> Agent:
        """The agent (NotFound if none)."""

    @abc.abstractmethod
    async def offer_next(self, skill_group: str, now: float, reservation_seconds: float) -> Optional[Tuple[str, str]]:
        """Offer the first waiting chat of the group to the free agent idle longest: (escalation, agent) or None."""

    @abc.abstractmethod
    async def accept(self, escalation_id: str, agent_id: str, now: float) -> Escalation:
        """offered (to this agent) -> assigned; NotYours when it is not this agent's, Conflict when
        it is not offered."""

    @abc.abstractmethod
    async def expire_offers(self, now: float, seconds_per_point: float, max_missed: int = 0) -> List[Tuple[str, str]]:
        """Offers past their deadline go back to the queue (keeping their rank); their agents are freed and
        join the chat's lapsed set; an online agent whose ``missed`` count reaches ``max_missed`` (0: never)
        is set away with the reason "missed N offers in a row". (escalation, agent) pairs, sorted."""

    @abc.abstractmethod
    async def finish(self, escalation_id: str, agent_id: Optional[str], status: Status, now: float,
                     detail: str = "", outcome: Optional[Dict[str, Any]] = None,
                     reservation_seconds: float = 30.0) -> Escalation:
        """assigned -> released | closed (by its agent, or anyone when agent_id is None); the freed slot
        is offered the next waiting chat of the agent's groups in the same step. NotYours when
        another agent holds it."""

    @abc.abstractmethod
    async def leave_queue(self, escalation_id: str, status: Status, now: float, detail: str = "",
                          outcome: Optional[Dict[str, Any]] = None) -> Escalation:
        """waiting | offered -> ticket (nobody can take it now) or abandoned (the customer left);
        an offered chat's agent gets the slot back. Conflict in any other state."""

    @abc.abstractmethod
    async def transfer(self, escalation_id: str, by_agent: Optional[str], now: float, seconds_per_point: float,
                       to_group: Optional[str] = None, to_agent: Optional[str] = None,
                       reservation_seconds: float = 30.0, detail: str = "",
                       from_agent: Optional[str] = None) -> Escalation:
        """To another group's queue (keeping its rank) or offered straight to an online agent with a free
        slot; the old agent's slot is freed. ``by_agent``: only from assigned, by that agent; None
        (a supervisor, or the service's overflow): from waiting, offered or assigned. ``from_agent``:
        only while the chat is still offered or assigned to that agent (Conflict once it moved on)."""

    @abc.abstractmethod
    async def set_survey(self, escalation_id: str, survey: Dict[str, Any], now: float) -> Escalation:
        """Store the customer's survey ({"resolved", "rating", "comment"?}) as ``outcome.survey`` with
        ``"at": now``, append it to the history (the status stays closed) and emit a ``survey`` event to
        the chat's agent. Conflict unless closed, and when the chat already has a survey."""

    @abc.abstractmethod
    async def add_message(self, escalation_id: str, speaker: str, text: str, author: Optional[str],
                          now: float, message_id: Optional[str] = None) -> Dict[str, Any]:
        """Append to the chat's messages ({"seq", "speaker", "text", "at", "author"?, "message_id"?}). The
        customer's side may write while the chat is open; an agent only while it is assigned to them. A
        ``message_id`` already stored for this escalation adds nothing and emits nothing: the message stored
        with it first is returned (a sender's retry is shown once), whatever the chat's status now."""

    @abc.abstractmethod
    async def messages(self, escalation_id: str) -> List[Dict[str, Any]]:
        """The messages appended since the handoff, in order."""

    @abc.abstractmethod
    async def add_note(self, escalation_id: str, text: str, author: str, now: float) -> Dict[str, Any]:
        """Append an internal note ({"id", "text", "author", "at"}; ids 1, 2, ...) in any state, and emit a
        ``note`` event to the chat's agent. Never a message: customers never see notes."""

    @abc.abstractmethod
    async def notes(self, escalation_id: str) -> List[Dict[str, Any]]:
        """The chat's internal notes, oldest first."""

    @abc.abstractmethod
    async def get_many(self, escalation_ids: Sequence[str]) -> List[Escalation]:
        """The escalations (with history and facets) in the order given; missing ones are left out."""

    @abc.abstractmethod
    async def created_since(self, since: float) -> List[str]:
        """Escalations created at or after ``since``, oldest first (the creation-time index)."""

    @abc.abstractmethod
    async def open_escalations(self) -> List[str]:
        """Escalations waiting, offered or assigned, oldest first (the open index)."""

    @abc.abstractmethod
    async def customer_escalations(self, customer: str, up_to: float, limit: int) -> List[str]:
        """The customer's escalations created at or before ``up_to``, newest first, at most ``limit``."""

    @abc.abstractmethod
    async def count_conversations(self, keys: Sequence[str]) -> int:
        """How many distinct conversations the bot had, from the HyperLogLogs ``keys`` that its channel
        adds every conversation id to (full key names: they live outside the store's prefix)."""

    @abc.abstractmethod
    async def list_entries(self, key: str, limit: int) -> Tuple[int, List[str]]:
        """(length, the first ``limit`` entries) of the Redis list ``key`` outside the store's prefix: what the
        bot could not deliver to this service, parked for a person (common/undelivered.py)."""

    @abc.abstractmethod
    async def agent_chats(self, agent_id: str) -> List[str]:
        """Escalations offered or assigned to the agent."""

    @abc.abstractmethod
    async def waiting(self, skill_group: str) -> List[str]:
        """The group's queue, first served first."""

    @abc.abstractmethod
    async def queue_stats(self, groups: Sequence[str]) -> List[QueueStats]:
        """Waiting count, oldest wait, agents online and free capacity of each group."""

    @abc.abstractmethod
    async def touch_agents(self, agent_ids: Sequence[str], now: float) -> None:
        """Record that these agents were seen (their console is connected) at ``now``."""

    @abc.abstractmethod
    async def lost_agents(self, before: float) -> List[str]:
        """Agents last seen before ``before``, sorted."""

    @abc.abstractmethod
    async def forget_agent(self, agent_id: str, before: Optional[float] = None) -> bool:
        """Drop the agent from the presence record; with ``before``, only if they were last seen before it.
        True for the one caller that dropped them: that caller handles the lost agent."""

    @abc.abstractmethod
    async def events(self, after: str, block_ms: int, count: int = 500) -> List[Event]:
        """Events after the id ``after`` ("$": from now on), waiting up to ``block_ms`` for one."""

    @abc.abstractmethod
    async def last_event_id(self) -> str:
        """The newest event's id ("0-0" when there is none)."""

    async def trim_events(self, cap: int) -> int:
        """Drop old events that no consumer group still needs (about ``cap`` kept when there is no group);
        the number of events left. The in-memory twin keeps them all."""
        return 0

    async def ping(self) -> None:
        """Raise if the storage cannot be reached."""

    async def close(self) -> None:
        """Release connections."""

    async def queue_position(self, escalation_id: str, skill_group: str) -> Optional[int]:
        """1-based position in the group's queue, None when not waiting."""
        queue = await self.waiting(skill_group)
        return queue.index(escalation_id) + 1 if escalation_id in queue else None


def check_finish(status: Status) -> None:
    if status not in (Status.RELEASED, Status.CLOSED):
        raise ValueError(f"cannot finish as {status.value}")


def survey_detail(survey: Dict[str, Any]) -> str:
    """The history entry's detail for a survey: "survey: resolved, 4/5"."""
    rating = f"{survey['rating']}/5" if survey.get("rating") is not None else "no rating"
    return f"survey: {'resolved' if survey['resolved'] else 'not resolved'}, {rating}"


def check_leave(status: Status) -> None:
    if status not in (Status.TICKET, Status.ABANDONED):
        raise ValueError(f"cannot leave the queue as {status.value}")


def away_reason(missed: int) -> str:
    """The status reason of an agent set away for letting offers lapse."""
    return f"missed {missed} offers in a row"
