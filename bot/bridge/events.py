"""What the bridge does with each event of the handoff service's stream (followed by bot/bridge/stream.py as the
consumer group ``bridge``): an agent joined, an agent's message, the chat transferred, released, closed, made a
ticket or abandoned. Ticket and survey events go to bot/bridge/tickets.py and bot/bridge/surveys.py first: they
concern a conversation whether or not a person still has it.

- ``created`` records the conversation's escalation (``{shop}:handoff:active``); events of escalations this
  bridge does not follow are ignored.
- ``assigned`` tells the customer who joined (their name is kept per conversation in
  ``{shop}:handoff:agent_names`` for the agent's messages) and makes sure the bot is paused.
- An ending gives the conversation back to the bot with what to say (``ENDINGS``); a close triggers the intent
  ``EXTERNAL_handoff_closed`` (the bot says so and the rules run the satisfaction survey). A retry of an
  ending that failed half-way pushes again what it said, with the same message ids (``_end_again``).

A mixin of :class:`bot.bridge.bridge.HandoffBridge`.
"""
from __future__ import annotations

import json
import logging
from typing import Any, Dict, Optional

from rasa.shared.core.constants import ACTION_LISTEN_NAME
from rasa.shared.core.events import ActionExecuted, BotUttered, SlotSet, UserUttered

from bot.bridge.delivery import HANDLING, Handling
from bot.bridge.keys import ACTIVE, AGENT_NAMES, LEFT, POSITION
from bot.bridge.notices import notice_fields
from bot.bridge.stream import EventFollower

logger = logging.getLogger(__name__)

CLOSED_INTENT = "EXTERNAL_handoff_closed"
ENDINGS = {"released": "utter_handoff_released", "closed": None, "ticket": "utter_handoff_ticket",
           "abandoned": None}  # a ticket's response depends on what the service says of it (bot/bridge/tickets.py)


class EventsMixin:
    """Acting on the service's events; needs ``redis``, ``stream``, ``event_tries``, ``retry_seconds``, ``groups``,
    ``tickets``, ``surveys`` and the delivery methods (the bridge's)."""

    redis: Any
    stream: str
    event_tries: int
    retry_seconds: float
    groups: Any
    tickets: Any
    surveys: Any

    async def _follow_events(self) -> None:
        """Handle the service's events as the consumer group ``bridge`` (bot/bridge/stream.py)."""
        await EventFollower(self.redis, self.stream, self._handle_event, self.event_tries, self.retry_seconds).run()

    async def _handle_event(self, event_id: str, event: Dict[str, Any]) -> None:
        token = HANDLING.set(Handling(event_id))  # each try says the same message ids
        try:
            await self._on_event(event)
        finally:
            HANDLING.reset(token)

    async def _on_event(self, event: Dict[str, Any]) -> None:
        kind, conversation = event.get("type"), event.get("conversation_id")
        if not conversation:
            return
        if await self.tickets.on_event(event):  # a ticket's, whether or not a chat of it is followed
            return
        if await self.surveys.on_event(event):  # the survey, due after the chat ended (bot/bridge/surveys.py)
            return
        if kind == "created":
            async with self.redis.pipeline(transaction=True) as pipe:
                await pipe.hset(ACTIVE, conversation, event["escalation"]).hdel(AGENT_NAMES, conversation).execute()
            return
        if await self.escalation_of(conversation) != event.get("escalation"):
            return  # another bot's conversation, or one this bridge no longer follows
        if kind == "assigned":  # also after a transfer: the next agent's name replaces the last one's
            await self._agree_paused(conversation, event["escalation"])
            name = event.get("agent_name") or event.get("agent") or "A colleague"
            if event.get("agent"):
                await self.redis.hset(AGENT_NAMES, conversation, json.dumps({"id": event["agent"], "name": name}))
            await self.say(conversation, "utter_handoff_agent_joined", agent_name=name,
                           group_name=await self._group_name(conversation, event.get("group")))
        elif kind == "transferred":  # to another group or agent, or back to the queue when the agent was lost
            lost = "agent disconnected" in str(event.get("reason") or "")
            await self.redis.hdel(AGENT_NAMES, conversation)
            await self.say(conversation, "utter_handoff_agent_lost" if lost else "utter_handoff_transferred",
                           group_name=await self._group_name(conversation, event.get("group")))
        elif kind == "message" and event["message"].get("speaker") == "agent":
            message = event["message"]
            author = message.get("author")
            await self.deliver(conversation, message["text"],
                               {"agent": author, "agent_name": await self.agent_name(conversation, author)})
        elif kind in ENDINGS:
            # The conversation is forgotten last, so that a failed try is tried again from the start.
            if await self._paused(conversation):
                response, values = ENDINGS[kind], {}
                if kind == "ticket":  # its number and answer time, unless the customer heard of it already
                    response, values = await self.tickets.ending(conversation, event)
                survey = [SlotSet("survey_escalation", event["escalation"])] if kind == "closed" else []
                await self.resume(conversation, response, survey, **values)
                if kind == "closed":  # the rules say so and run the satisfaction survey
                    await self.trigger(conversation, CLOSED_INTENT)
            else:  # the bot has it already (the action server said "ticket" itself), or this is a retry
                await self._end_again(conversation, kind, event["escalation"])
            async with self.redis.pipeline(transaction=True) as pipe:
                await pipe.hdel(ACTIVE, conversation).hdel(POSITION, conversation).zrem(LEFT, conversation).hdel(
                    AGENT_NAMES, conversation).execute()

    async def agent_name(self, conversation: str, agent: Optional[str]) -> Optional[str]:
        """The name of the agent who has the conversation (from their ``assigned`` event); their id when the
        name is not known."""
        raw = await self.redis.hget(AGENT_NAMES, conversation)
        try:
            known = json.loads(raw) if raw else {}
        except ValueError:
            known = {}
        return known.get("name") if known.get("id") == agent and known.get("name") else agent

    async def _group_name(self, conversation: str, group: Optional[str]) -> str:
        """The group's name in the conversation's language (``language`` slot; skill_groups.yml ``names``)."""
        language = await self.language(conversation)
        try:
            return self.groups.name(group or "", language)
        except KeyError:
            return group or "our team"

    async def _end_again(self, conversation: str, kind: str, escalation: str) -> None:
        """A retry of an ending whose first try failed half-way (the bot has the conversation back already):
        push again what it said, with the same message ids, and finish what it did not (the listen that ends
        the bot's turn, the survey after a close)."""
        handling = HANDLING.get()
        if handling is None:
            return
        tracker = await self.app.ctx.agent.processor.get_tracker(conversation)
        events = list(tracker.events)
        mine = f"{handling.event_id}/"
        start = next((i for i, e in enumerate(events) if (
            isinstance(e, BotUttered) and str((e.metadata or {}).get("message_id") or "").startswith(mine)
            or kind == "closed" and isinstance(e, SlotSet) and e.key == "survey_escalation"
            and e.value == escalation)), None)
        if start is None:
            return  # not this event's doing: the action server ended the handoff itself
        after = events[start:]
        triggered = next((i for i, e in enumerate(after) if isinstance(e, UserUttered)
                          and (e.intent or {}).get("name") == CLOSED_INTENT), None)
        # The bot's turn after the trigger ends at the customer's next message (what follows was pushed as usual).
        answered = next((i for i, e in enumerate(after) if triggered is not None and i > triggered
                         and isinstance(e, UserUttered)), len(after))
        for i, e in enumerate(after):
            if not isinstance(e, BotUttered) or not e.text:
                continue
            meta = e.metadata or {}
            if triggered is not None and triggered < i < answered:  # the survey's first questions, as trigger() did
                meta = {**notice_fields(meta), "message_id": self._message_id()}
                if (e.data or {}).get("buttons"):
                    meta["buttons"] = e.data["buttons"]
            elif not str(meta.get("message_id") or "").startswith(mine):
                continue
            await self._push(conversation, tracker, e.text, meta)
        if not any(isinstance(e, ActionExecuted) and e.action_name == ACTION_LISTEN_NAME for e in after):
            await self._update_tracker(conversation, [ActionExecuted(ACTION_LISTEN_NAME)])
        if kind == "closed" and triggered is None:
            await self.trigger(conversation, CLOSED_INTENT)

