"""The Rasa server's side of a live handoff: one bridge per Rasa process, started by the channels.

- It follows the handoff service's event stream (``{ho}:events`` in Redis, the service's published
  interface; the last id read is kept in Redis so a restart misses nothing) and acts on the events of
  its conversations: an agent joined, an agent's message, the chat released, closed, made a ticket or
  abandoned. What it says to the customer is stored in the conversation's tracker (agent messages
  as bot messages marked ``{"agent": id}``) and sent through the channel the customer last wrote on.
- While an agent holds a conversation (between ``created`` and the end) the channel forwards every
  customer message to the service too (``forward``); the tracker is paused, so Rasa stores the
  message but predicts nothing.
- It retries the handoff requests the action server could not deliver (the outbox
  ``shop:handoff:outbox``), moving each one to ``shop:handoff:sending`` while it is on its way
  (LMOVE), so a crash in between leaves it to be sent again, never lost.

Channels register how to push a message to a customer (``register_output``); any other Rasa connector
gets the same behaviour by calling ``register_output`` with its own push function and ``forward``
for each incoming message (see README, "Human handoff in the channels").
"""
from __future__ import annotations

import asyncio
import json
import logging
import os
from typing import Any, Awaitable, Callable, Dict, List, Optional

import aiohttp
import redis.asyncio as aioredis
from rasa.shared.core.constants import ACTION_LISTEN_NAME
from rasa.shared.core.events import ActionExecuted, BotUttered, ConversationResumed, Event, SlotSet

from common.routing import SKILL_GROUPS_FILE, SkillGroups

logger = logging.getLogger(__name__)

Push = Callable[[str, Dict[str, Any]], Awaitable[None]]
ACTIVE = "shop:handoff:active"  # hash conversation id -> escalation id, while a person has or gets the chat
LAST_EVENT = "shop:handoff:last_event"
OUTBOX, SENDING = "shop:handoff:outbox", "shop:handoff:sending"
ENDINGS = {"released": "utter_handoff_released", "closed": "utter_handoff_closed",
           "ticket": "utter_handoff_ticket", "abandoned": None}


class HandoffBridge:
    def __init__(self, redis_url: str, service_url: str, token: str, prefix: str = "{ho}:") -> None:
        self.redis = aioredis.Redis.from_url(redis_url, decode_responses=True)
        self.service_url = service_url.rstrip("/")
        self.token = token
        self.stream = f"{prefix}events"
        self.outputs: Dict[str, Push] = {}
        self.active: Dict[str, str] = {}
        self.app: Any = None
        self.tasks: List[asyncio.Task] = []
        self.session: Optional[aiohttp.ClientSession] = None
        self.groups = SkillGroups.load(os.environ.get("HANDOFF_SKILL_GROUPS") or SKILL_GROUPS_FILE)

    @classmethod
    def from_env(cls) -> Optional["HandoffBridge"]:
        url, token = os.environ.get("HANDOFF_URL"), os.environ.get("HANDOFF_BOT_TOKEN")
        redis_url = os.environ.get("HANDOFF_REDIS_URL") or os.environ.get("REDIS_URL")
        if not (url and token and redis_url):
            logger.warning("no HANDOFF_URL, HANDOFF_BOT_TOKEN or REDIS_URL: live handoff is off")
            return None
        return cls(redis_url, url, token, os.environ.get("HANDOFF_REDIS_PREFIX", "{ho}:"))

    def register_output(self, channel: str, push: Push) -> None:
        self.outputs[channel] = push

    async def start(self, app: Any) -> None:
        if self.tasks:
            return
        self.app = app
        self.session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5))
        self.active = await self.redis.hgetall(ACTIVE)
        self.tasks = [asyncio.ensure_future(self._follow_events()), asyncio.ensure_future(self._drain_outbox())]

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        if self.session:
            await self.session.close()
        await self.redis.close()

    # -- customer -> agent -----------------------------------------------------------------------
    async def escalation_of(self, conversation_id: str) -> Optional[str]:
        """The open escalation of the conversation: known from the event stream, or recorded in Redis by the
        action server the moment the service answered (before this bridge read the ``created`` event)."""
        found = self.active.get(conversation_id)
        if found is None:
            found = await self.redis.hget(ACTIVE, conversation_id)
            if found:
                self.active[conversation_id] = found
        return found

    async def forward(self, conversation_id: str, text: str) -> bool:
        """Send a customer message to the agent's side; False when no person has this conversation."""
        escalation = await self.escalation_of(conversation_id)
        if not escalation or self.session is None:
            return False
        for delay in (0.0, 0.2, 0.5, 1.0):
            await asyncio.sleep(delay)
            try:
                async with self.session.post(f"{self.service_url}/v1/handoffs/{escalation}/messages",
                                             json={"text": text}, headers=self._auth()) as r:
                    if r.status == 201:
                        return True
                    if r.status == 409:  # the chat ended meanwhile: the bot has it again
                        return False
                    logger.warning("forwarding to %s: %s %s", escalation, r.status, await r.text())
            except (aiohttp.ClientError, asyncio.TimeoutError) as e:
                logger.warning("forwarding to %s failed: %s", escalation, e)
        return False

    def _auth(self) -> Dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    # -- agent -> customer -----------------------------------------------------------------------
    async def _follow_events(self) -> None:
        last = await self.redis.get(LAST_EVENT)
        if last is None:
            found = await self.redis.xrevrange(self.stream, count=1)
            last = found[0][0] if found else "0-0"
        while True:
            try:
                reply = await self.redis.xread({self.stream: last}, count=200, block=2000)
            except (aioredis.ConnectionError, aioredis.TimeoutError, OSError) as e:
                logger.warning("handoff events: Redis unavailable (%s); retrying", e)
                await asyncio.sleep(0.5)
                continue
            for _stream, entries in reply or []:
                for event_id, fields in entries:
                    try:
                        await self._on_event(json.loads(fields["e"]))
                    except Exception:  # one bad event must not stop the others
                        logger.exception("handoff event %s failed", event_id)
                    last = event_id
                await self.redis.set(LAST_EVENT, last)

    async def _on_event(self, event: Dict[str, Any]) -> None:
        kind, conversation = event.get("type"), event.get("conversation_id")
        if not conversation:
            return
        if kind == "created":
            self.active[conversation] = event["escalation"]
            await self.redis.hset(ACTIVE, conversation, event["escalation"])
            return
        if await self.escalation_of(conversation) != event.get("escalation"):
            return  # another bot's conversation, or one this bridge no longer follows
        if kind == "assigned":
            await self.say(conversation, "utter_handoff_agent_joined", agent_name=event.get("agent_name", "A colleague"),
                           group_name=self._group_name(event.get("group")))
        elif kind == "message" and event["message"].get("speaker") == "agent":
            message = event["message"]
            await self.deliver(conversation, message["text"], {"agent": message.get("author")})
        elif kind in ENDINGS:
            self.active.pop(conversation, None)
            await self.redis.hdel(ACTIVE, conversation)
            values = {}
            if kind == "ticket":
                reply_by = ((event.get("outcome") or {}).get("reply_by") or "")
                values = {"reply_by": reply_by[:16].replace("T", " ") + " UTC"}
            await self.resume(conversation, ENDINGS[kind], **values)

    def _group_name(self, group: Optional[str]) -> str:
        try:
            return self.groups.name(group or "")
        except KeyError:
            return group or "our team"

    async def _update_tracker(self, conversation: str, events: List[Event]) -> Any:
        """Append events to the conversation's tracker under its lock; the updated tracker."""
        agent = self.app.ctx.agent
        async with agent.lock_store.lock(conversation):
            tracker = await agent.processor.get_tracker(conversation)
            for e in events:
                tracker.update(e)
            await agent.processor.save_tracker(tracker)
        return tracker

    async def deliver(self, conversation: str, text: str, metadata: Dict[str, Any],
                      data: Optional[Dict[str, Any]] = None) -> None:
        """Store a message to the customer in the tracker and push it through their channel."""
        tracker = await self._update_tracker(conversation, [BotUttered(text, data or {}, metadata)])
        channel = tracker.get_latest_input_channel() or "rest"
        push = self.outputs.get(channel)
        if push is None:
            logger.warning("no way to push to %s on channel %s: the message is in the tracker only", conversation,
                           channel)
            return
        await push(conversation, {"text": text, **({"agent": metadata["agent"]} if metadata.get("agent") else {})})

    async def say(self, conversation: str, response: str, **values: Any) -> None:
        """Say one of the domain's responses (wording stays in domain.yml)."""
        agent = self.app.ctx.agent
        tracker = await agent.processor.get_tracker(conversation)
        channel = tracker.get_latest_input_channel() or "rest"
        message = await agent.nlg.generate(response, tracker, channel, **values)
        if message and message.get("text"):
            await self.deliver(conversation, message["text"], {"utter_action": response})

    async def resume(self, conversation: str, response: Optional[str], **values: Any) -> None:
        """The bot takes the conversation back, with its slots and context; the request slots are cleared so a
        later problem can hand off again."""
        await self._update_tracker(conversation, [ConversationResumed(), SlotSet("handoff_request", None),
                                                  SlotSet("handoff_escalation", None)])
        if response:
            await self.say(conversation, response, **values)
        # The bot's turn ends here: the next customer message is predicted from a listening state, not as the
        # continuation of action_request_handoff (whose successor would be action_listen).
        await self._update_tracker(conversation, [ActionExecuted(ACTION_LISTEN_NAME)])

    # -- the outbox ------------------------------------------------------------------------------
    async def _drain_outbox(self) -> None:
        while True:  # anything left "sending" by a crash goes back to the outbox
            moved = await self.redis.lmove(SENDING, OUTBOX, "RIGHT", "LEFT")
            if moved is None:
                break
        while True:
            try:
                raw = await self.redis.lmove(OUTBOX, SENDING, "LEFT", "RIGHT")
                if raw is None:
                    await asyncio.sleep(1.0)
                    continue
                if await self._send(json.loads(raw)):
                    await self.redis.lrem(SENDING, 1, raw)
                else:
                    await self.redis.lmove(SENDING, OUTBOX, "RIGHT", "LEFT")
                    await asyncio.sleep(2.0)
            except asyncio.CancelledError:
                raise
            except Exception as e:
                logger.warning("outbox: %s; retrying", e)
                await asyncio.sleep(2.0)

    async def _send(self, request: Dict[str, Any]) -> bool:
        assert self.session is not None
        try:
            async with self.session.post(f"{self.service_url}/v1/handoffs", json=request, headers=self._auth()) as r:
                if r.status in (200, 201):
                    answer = await r.json()
                    logger.info("outbox: delivered the handoff of %s (%s)", request["conversation_id"], answer["status"])
                    await self._announce(request["conversation_id"], answer)
                    return True
                logger.warning("outbox: the service answered %s", r.status)
        except (aiohttp.ClientError, asyncio.TimeoutError) as e:
            logger.info("outbox: service still unreachable (%s)", e)
        return False

    async def _announce(self, conversation: str, answer: Dict[str, Any]) -> None:
        """A delayed request reached the team: say where it stands now."""
        if answer.get("status") == "waiting" and answer.get("queue_position"):
            await self.say(conversation, "utter_handoff_queued", position=answer["queue_position"],
                           wait_minutes=max(1, round((answer.get("estimated_wait_seconds") or 0) / 60)))
        elif answer.get("status") in ("offered", "assigned"):
            await self.say(conversation, "utter_handoff_connecting")


_bridge: Optional[HandoffBridge] = None
_made = False


def bridge() -> Optional[HandoffBridge]:
    """The process's bridge (None when live handoff is not configured)."""
    global _bridge, _made
    if not _made:
        _bridge, _made = HandoffBridge.from_env(), True
    return _bridge
