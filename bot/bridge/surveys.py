"""The satisfaction survey in the customer's chat : part of the handoff bridge (bot/bridge/bridge.py),
which owns one :class:`SurveyRequests` (``bridge.surveys``).

- The handoff service says when a survey is due (a ``survey_requested`` event, after the group's delay in
  policy/survey.yml; handoff/clocks/survey.py), for a closed chat (``escalation``) or a solved ticket
  (``label``) of a conversation. It is handled before the bridge's check that it follows the conversation: the
  chat has ended by then.
- Asked at once (the slot ``survey_escalation`` or ``survey_ticket`` set, then the intent ``EXTERNAL_survey``
  triggered: the rules run survey_form, data/rules/survey.yml) when the customer can hear it: their chat window
  is connected (``TicketReplies.connected``), no person has the chat (the tracker is not paused) and no other
  form runs. Otherwise it is kept (``{shop}:survey:pending:<conversation>``, the latest one, for PENDING_TTL) and
  asked when they next open the chat (``on_visit``, the socket.io ``session_request``), or, on the REST channel,
  after the bot answered their next message (``after_message``). ``how`` = ``email``
  concerns the e-mail only: nothing to do here.
- Asked once: a retried event finds, after the last time the slot was set to this case, the trigger in the
  tracker, and asks nothing again.
"""
from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Tuple

from rasa.shared.core.events import SlotSet, UserUttered

from bot.bridge.delivery import LOCK_POLL_SECONDS
from bot.bridge.notices import NoticeCollector

if TYPE_CHECKING:  # the bridge imports this module
    from bot.bridge.bridge import HandoffBridge

logger = logging.getLogger(__name__)

SURVEY_INTENT = "EXTERNAL_survey"
PENDING = "{shop}:survey:pending:"  # + conversation: {"slot", "value"} of the survey to ask at their next visit
PENDING_TTL_SECONDS = 7 * 86400


def survey_slot(event: Dict[str, Any]) -> Optional[Tuple[str, str]]:
    """(slot, value) that names the case of a ``survey_requested`` event; None for a malformed one."""
    if event.get("subject") == "ticket" and (event.get("label") or event.get("ticket")):
        return "survey_ticket", str(event.get("label") or event["ticket"])
    if event.get("subject") == "chat" and event.get("escalation"):
        return "survey_escalation", str(event["escalation"])
    return None


def asked_already(events: Any, slot: str, value: str) -> bool:
    """Whether the tracker shows this survey asked: the survey intent after the last time ``slot`` became
    ``value`` (the bridge sets it only to ask; a close sets ``survey_escalation`` too, but no survey follows)."""
    events = list(events)
    last = max((i for i, e in enumerate(events) if isinstance(e, SlotSet) and e.key == slot and e.value == value),
               default=None)
    return last is not None and any(isinstance(e, UserUttered) and (e.intent or {}).get("name") == SURVEY_INTENT
                                    for e in events[last + 1:])


class SurveyRequests:
    def __init__(self, bridge: "HandoffBridge") -> None:
        self.bridge = bridge

    async def on_event(self, event: Dict[str, Any]) -> bool:
        """Handle a ``survey_requested`` event; False for any other event."""
        if event.get("type") != "survey_requested":
            return False
        conversation, named = str(event.get("conversation_id") or ""), survey_slot(event)
        if not conversation or named is None or event.get("how") == "email" or self.bridge.app is None:
            return True
        if not await self.ask(conversation, *named):
            await self.bridge.redis.set(PENDING + conversation, json.dumps({"slot": named[0], "value": named[1]}),
                                        ex=PENDING_TTL_SECONDS)
            logger.info("%s: survey of %s kept for the customer's next visit", conversation, named[1])
        return True

    async def on_visit(self, conversation: str) -> bool:
        """The customer opened the chat: ask the survey kept for them, if any. Whether one was asked."""
        if self.bridge.app is None:
            return False
        raw = await self.bridge.redis.getdel(PENDING + conversation)
        if not raw:
            return False
        kept = json.loads(raw)
        if await self.ask(conversation, kept["slot"], kept["value"], connected=True):
            return True
        await self.bridge.redis.set(PENDING + conversation, raw, ex=PENDING_TTL_SECONDS)  # a person has them now
        return False

    async def after_message(self, conversation: str) -> List[Dict[str, Any]]:
        """A REST customer (no pushes) wrote and the bot answered: the survey kept for them is asked now, after
        the answer; what it says, to add to the channel's reply ([] when nothing is kept or it cannot be asked)."""
        raw = await self.bridge.redis.get(PENDING + conversation) if self.bridge.app is not None else None
        if not raw or not await self._can_ask(conversation, connected=True):
            return []
        kept = json.loads(raw)
        await self.bridge.redis.delete(PENDING + conversation)
        other = "survey_ticket" if kept["slot"] == "survey_escalation" else "survey_escalation"
        await self.bridge._update_tracker(conversation, [SlotSet(other, None), SlotSet(kept["slot"], kept["value"])])
        agent, collector = self.bridge.app.ctx.agent, NoticeCollector()
        async with agent.lock_store.lock(conversation, wait_time_in_seconds=LOCK_POLL_SECONDS):
            tracker = await agent.processor.get_tracker(conversation)
            await agent.processor.trigger_external_user_uttered(SURVEY_INTENT, None, tracker, collector)
        return collector.messages

    async def _can_ask(self, conversation: str, connected: bool) -> bool:
        tracker = await self.bridge.app.ctx.agent.processor.get_tracker(conversation)
        if tracker.is_paused() or tracker.active_loop_name not in (None, "survey_form"):
            return False
        return connected or await self.bridge.tickets.connected(conversation)

    async def ask(self, conversation: str, slot: str, value: str, connected: bool = False) -> bool:
        """Ask the survey now if the customer can hear it (or it was asked already); False: keep it for later."""
        tracker = await self.bridge.app.ctx.agent.processor.get_tracker(conversation)
        if asked_already(tracker.events, slot, value):
            return True
        if not await self._can_ask(conversation, connected):
            return False
        other = "survey_ticket" if slot == "survey_escalation" else "survey_escalation"
        await self.bridge._update_tracker(conversation, [SlotSet(other, None), SlotSet(slot, value)])
        await self.bridge.trigger(conversation, SURVEY_INTENT)
        return True
