"""What the bridge says to a customer: stored in the conversation's tracker, then pushed through the channel
they last wrote on (``register_output``).

- Every message it pushes carries a ``message_id``, the same on every try (``<event id>/<n>`` for what an event
  says, stored with the message in the tracker, which holds it once), so the customer's side drops a repeat:
  delivery is at least once.
- Agent messages are stored as bot messages marked ``{"agent": id}``; notices carry the fields of
  bot/bridge/notices.py.
- ``resume`` hands the conversation back to the bot (``hand_back_events``); ``trigger`` runs the bot on an
  external intent; ``history`` is what the customer has seen, for the web chat after a reconnect.

A mixin of :class:`bot.bridge.bridge.HandoffBridge`: it uses the bridge's Rasa app (``app``) and its ways to
push (``outputs``).
"""
from __future__ import annotations

import logging
import uuid
from contextvars import ContextVar
from typing import Any, Dict, List, Optional

from rasa.shared.core.constants import ACTION_LISTEN_NAME, EXTERNAL_MESSAGE_PREFIX
from rasa.shared.core.events import (ActionExecuted, BotUttered, ConversationPaused, ConversationResumed, Event, SlotSet,
                                     UserUttered)

from bot.bridge.notices import NOTICES, PUBLIC_FIELDS, NoticeCollector, notice_fields

logger = logging.getLogger(__name__)

# How often a waiting writer polls the conversation's lock; Rasa's default, 1 s, would delay an agent's message
# by up to a second whenever the customer's message is being processed at the same moment.
LOCK_POLL_SECONDS = 0.005


def hand_back_events() -> List[Event]:
    """What the tracker gets when a person hands the conversation back (released, closed, ticket, abandoned,
    undeliverable): the bot listens again, the request slots are cleared, so a later problem can hand off
    again, and so is the decision from before the handoff (the scores start afresh from the ``resume``, as
    actions/handoff.py does after a ticket): a stale "hand off" would otherwise make HandoffPolicy ask again on
    the survey's trigger or the customer's next message, a second escalation for a solved problem."""
    return [ConversationResumed(), SlotSet("handoff_request", None), SlotSet("handoff_escalation", None),
            SlotSet("handoff_decision", None)]


class Handling:
    """The event being handled (in its task's context): the ids of the messages it says derive from it."""

    def __init__(self, event_id: str) -> None:
        self.event_id, self.said = event_id, 0


HANDLING: ContextVar[Optional[Handling]] = ContextVar("handoff_event", default=None)


class DeliveryMixin:
    """Storing and pushing what the bridge says; needs ``app`` and ``outputs`` (the bridge's)."""

    app: Any
    outputs: Dict[str, Any]

    async def language(self, conversation: str) -> Optional[str]:
        """The conversation's ``language`` slot (None: English, the default; also before the bridge is attached
        to a Rasa app)."""
        if self.app is None:
            return None
        return (await self.app.ctx.agent.processor.get_tracker(conversation)).get_slot("language")

    async def _paused(self, conversation: str) -> bool:
        return (await self.app.ctx.agent.processor.get_tracker(conversation)).is_paused()

    async def _agree_paused(self, conversation: str, escalation: str) -> None:
        """A person has the chat, so the bot must be quiet: pause the tracker if it does not say so already. It
        says so unless the Rasa server died between the action server creating the escalation and saving the
        tracker (the request's turn is then lost); without this the customer's next messages would go to the
        bot while an agent waits for them."""
        if self.app is None:
            return  # not serving conversations (no Rasa app): nothing to agree with
        agent = self.app.ctx.agent
        async with agent.lock_store.lock(conversation, wait_time_in_seconds=LOCK_POLL_SECONDS):
            tracker = await agent.processor.get_tracker(conversation)
            if tracker.is_paused():
                return
            logger.warning("%s: an agent has escalation %s but the tracker was not paused; pausing it", conversation,
                           escalation)
            for e in (SlotSet("handoff_escalation", {"id": escalation, "status": "assigned"}), ConversationPaused()):
                tracker.update(e)
            await agent.processor.save_tracker(tracker)

    async def _update_tracker(self, conversation: str, events: List[Event]) -> Any:
        """Append events to the conversation's tracker under its lock; the updated tracker."""
        agent = self.app.ctx.agent
        async with agent.lock_store.lock(conversation, wait_time_in_seconds=LOCK_POLL_SECONDS):
            tracker = await agent.processor.get_tracker(conversation)
            for e in events:
                tracker.update(e)
            await agent.processor.save_tracker(tracker)
        return tracker

    @staticmethod
    def _message_id() -> str:
        """The id of the next message said: ``<event id>/<n>`` while handling an event (the same on every try
        of it), else a random one."""
        handling = HANDLING.get()
        if handling is None:
            return uuid.uuid4().hex
        handling.said += 1
        return f"{handling.event_id}/{handling.said}"

    async def deliver(self, conversation: str, text: str, metadata: Dict[str, Any],
                      data: Optional[Dict[str, Any]] = None) -> None:
        """Store a message to the customer in the tracker (once: a retry finds it there by its message id) and
        push it through their channel; raises when the push fails, so that the event is tried again."""
        metadata = {**metadata, "message_id": metadata.get("message_id") or self._message_id()}
        agent = self.app.ctx.agent
        async with agent.lock_store.lock(conversation, wait_time_in_seconds=LOCK_POLL_SECONDS):
            tracker = await agent.processor.get_tracker(conversation)
            if not any(isinstance(e, BotUttered) and (e.metadata or {}).get("message_id") == metadata["message_id"]
                       for e in reversed(tracker.events)):
                tracker.update(BotUttered(text, data or {}, metadata))
                await agent.processor.save_tracker(tracker)
        await self._push(conversation, tracker, text, metadata)

    async def _push(self, conversation: str, tracker: Any, text: str, metadata: Dict[str, Any]) -> None:
        channel = tracker.get_latest_input_channel() or "rest"
        push = self.outputs.get(channel)
        if push is None:
            logger.warning("no way to push to %s on channel %s: the message is in the tracker only", conversation,
                           channel)
            return
        await push(conversation, {"text": text, **{k: metadata[k] for k in (*PUBLIC_FIELDS, "buttons")
                                                   if metadata.get(k) is not None}})

    async def say(self, conversation: str, response: str, **values: Any) -> None:
        """Say one of the domain's responses (wording stays in domain.yml)."""
        agent = self.app.ctx.agent
        tracker = await agent.processor.get_tracker(conversation)
        channel = tracker.get_latest_input_channel() or "rest"
        message = await agent.nlg.generate(response, tracker, channel, **values)
        if message and message.get("text"):
            await self.deliver(conversation, message["text"],
                               {"utter_action": response, **notice_fields({"utter_action": response, **values})})

    async def resume(self, conversation: str, response: Optional[str], extra: Optional[List[Event]] = None,
                     **values: Any) -> None:
        """The bot takes the conversation back, with its slots and context; the request slots are cleared so a
        later problem can hand off again."""
        await self._update_tracker(conversation, [*hand_back_events(), *(extra or [])])
        if response:
            await self.say(conversation, response, **values)
        # The bot's turn ends here: the next customer message is predicted from a listening state, not as the
        # continuation of action_request_handoff (whose successor would be action_listen).
        await self._update_tracker(conversation, [ActionExecuted(ACTION_LISTEN_NAME)])

    async def trigger(self, conversation: str, intent: str) -> None:
        """Run the bot on an external intent (as Rasa's trigger_intent endpoint does) and push what it says."""
        agent = self.app.ctx.agent
        collector = NoticeCollector()
        async with agent.lock_store.lock(conversation, wait_time_in_seconds=LOCK_POLL_SECONDS):
            tracker = await agent.processor.get_tracker(conversation)
            await agent.processor.trigger_external_user_uttered(intent, None, tracker, collector)
        push = self.outputs.get(tracker.get_latest_input_channel() or "rest")
        for message in collector.messages if push else []:
            await push(conversation, {**{k: v for k, v in message.items() if k != "recipient_id"},
                                      "message_id": self._message_id()})

    async def history(self, conversation: str, limit: int = 100) -> Dict[str, Any]:
        """What the customer has seen of the conversation, from its tracker: {"total": lines in all,
        "lines": the last `limit` as {"speaker", "text", "agent_name"?, "message_id"?}}. The web chat uses it after a
        reconnect to show what was pushed while it was offline."""
        tracker = await self.app.ctx.agent.processor.get_tracker(conversation)
        lines: List[Dict[str, Any]] = []
        for e in tracker.events:
            if isinstance(e, UserUttered) and e.text and not e.text.startswith(EXTERNAL_MESSAGE_PREFIX):
                lines.append({"speaker": "customer", "text": e.text, **({"message_id": e.message_id}
                                                                        if e.message_id else {})})
            elif isinstance(e, BotUttered) and e.text:
                data = e.metadata or {}
                line = {"speaker": "agent" if data.get("agent") else "bot", "text": e.text}
                if data.get("message_id"):
                    line["message_id"] = data["message_id"]
                if data.get("agent"):
                    line["agent_name"] = data.get("agent_name") or data["agent"]
                elif data.get("utter_action") in NOTICES:
                    line["speaker"] = "system"
                lines.append(line)
        return {"total": len(lines), "lines": lines[-limit:]}

