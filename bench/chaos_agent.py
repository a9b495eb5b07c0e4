"""The soak's agents (bench/chaos.py; what is counted: bench/chaos_people.py), behaving as the agent console does
(handoff/web/console.js).

A WebSocket to the handoff service (through HAProxy or straight to a process, in turn), reconnecting; accepts
every offer; on accept and on every snapshot loads the chat's record (GET /v1/handoffs/{id}) and merges its
messages by `seq`, as the console does; answers each customer message after a pause; closes the chat once it
has answered the customer's last message (or after 240 s without a new one).
"""
from __future__ import annotations

import asyncio
import json
import random
import time
from collections import defaultdict
from typing import Any, Dict, List, Set, Tuple

import aiohttp

from bench.chaos_people import tag_of
from tests.handoff.agents import RETRYABLE, Endpoints, call


class Agent:
    """A console: accepts every offer, answers each counted customer message, closes after the last."""

    def __init__(self, agent_id: str, token: str, endpoints: Endpoints, session: aiohttp.ClientSession,
                 think: Tuple[float, float]) -> None:
        self.id, self.token, self.endpoints, self.session, self.think = agent_id, token, endpoints, session, think
        self.rng = random.Random(agent_id)
        self.accepted: List[str] = []  # escalations whose accept answered 200 (or proved ours after a 409)
        self.closed: List[str] = []
        self.seen: Dict[str, float] = {}  # customer message id -> first seen
        self.seen_raw: Dict[str, int] = defaultdict(int)  # "<escalation> <message id>" -> times shown
        self.live_events: Dict[str, int] = defaultdict(int)  # customer message id -> times shown (after seq dedupe)
        self.seqs: Dict[str, Set[Any]] = defaultdict(set)  # escalation -> message seqs (t<i>: transcript) merged
        self.escalation_of: Dict[str, str] = {}  # customer message id -> escalation it arrived on
        self.answered: Dict[str, float] = {}  # answer id -> when the POST started (first try)
        self.answer_ok: Set[str] = set()
        self.answer_failed: Dict[str, str] = {}
        self.post_retries = 0
        self.chats: Dict[str, asyncio.Task] = {}
        self.last_activity: Dict[str, float] = {}
        self.reconnects = 0
        self.stopped = False
        self.connected = asyncio.Event()

    async def run(self) -> None:
        while not self.stopped:
            base = self.endpoints.next()
            try:
                async with self.session.ws_connect(base.replace("http", "ws") + "/v1/agents/me/stream",
                                                   headers={"Authorization": f"Bearer {self.token}"},
                                                   heartbeat=5) as ws:
                    async for msg in ws:
                        if msg.type != aiohttp.WSMsgType.TEXT:
                            break
                        self._on_event(json.loads(msg.data))
            except RETRYABLE:
                pass
            self.connected.clear()
            if not self.stopped:
                self.reconnects += 1
                await asyncio.sleep(0.5)

    def _on_event(self, event: Dict[str, Any]) -> None:
        kind = event.get("type")
        if kind == "snapshot":
            self.connected.set()
            for h in event.get("handoffs", []):
                self._start(h["id"], h.get("status", ""))
        elif kind == "offered" and event.get("agent") == self.id:
            self._start(event["escalation"], "offered")
        elif kind == "message":
            message = event.get("message") or {}
            is_answer, mid = tag_of(str(message.get("text", "")))
            if mid and not is_answer:
                self.live_events[mid] += 1  # raw: before the console's dedupe by seq
            self._merge(event.get("escalation", ""), message)

    def _merge(self, escalation: str, message: Dict[str, Any], answer: bool = True) -> None:
        seq = message.get("seq")
        if seq is not None and seq in self.seqs[escalation]:
            return  # the console keeps messages by seq: a second copy is not shown twice
        if seq is not None:
            self.seqs[escalation].add(seq)
        if message.get("speaker") != "customer":
            return
        is_answer, mid = tag_of(str(message.get("text", "")))
        if mid and not is_answer:
            self.seen_raw[f"{escalation} {mid}"] += 1  # twice in one chat: the console shows it twice
            self.seen.setdefault(mid, time.monotonic())
            self.escalation_of.setdefault(mid, escalation)
            self.last_activity[escalation] = time.monotonic()
            if answer:
                asyncio.ensure_future(self._answer(escalation, mid))

    def _start(self, escalation: str, status: str) -> None:
        if escalation in self.closed:
            return
        task = self.chats.get(escalation)
        if task is None or task.done():
            self.chats[escalation] = asyncio.ensure_future(self._chat(escalation, status))
        else:
            asyncio.ensure_future(self._load(escalation))  # reconnected: reload the record, as the console does

    async def _load(self, escalation: str) -> Dict[str, Any]:
        code, record = await call(self.session, self.endpoints, "GET", f"/v1/handoffs/{escalation}", self.token)
        if code == 200:
            transcript = record.get("transcript") or []  # the conversation before the handoff, above the chat
            done = {m for t in transcript for is_answer, m in [tag_of(str(t.get("text", "")))] if is_answer}
            for i, turn in enumerate(transcript):  # answered there already (an earlier chat): not again
                if turn.get("speaker") == "customer":
                    _, mid = tag_of(str(turn.get("text", "")))
                    self._merge(escalation, {"seq": f"t{i}", "speaker": "customer", "text": turn.get("text", "")},
                                answer=mid not in done)
            for m in record.get("messages", []):
                self._merge(escalation, m)
        return record if code == 200 else {}

    async def _chat(self, escalation: str, status: str) -> None:
        try:
            if status == "offered":
                code, _ = await call(self.session, self.endpoints, "POST", f"/v1/handoffs/{escalation}/accept",
                                     self.token)
                if code != 200:
                    record = await self._load(escalation)
                    if not (record.get("status") == "assigned" and record.get("agent_id") == self.id):
                        return
                if escalation not in self.accepted:
                    self.accepted.append(escalation)
            self.last_activity[escalation] = time.monotonic()
            await self._load(escalation)
            while not self.stopped:  # until the customer's last message is answered, or 240 s of silence
                await asyncio.sleep(1.0)
                mine = [m for m, e in self.escalation_of.items() if e == escalation]
                last = any(m.split("-m")[1].split("/")[0] == m.split("/")[1] for m in mine)
                if last and all(f"a:{m}" in self.answer_ok or m in self.answer_failed for m in mine):
                    break
                if time.monotonic() - self.last_activity.get(escalation, 0) > 240:
                    break
            if self.stopped:
                return
            await asyncio.sleep(self.rng.uniform(*self.think))
            code, _ = await call(self.session, self.endpoints, "POST", f"/v1/handoffs/{escalation}/close",
                                 self.token, {"resolved": True, "wrap_up": "answered"})
            if code == 200 or (await self._load(escalation)).get("status") == "closed":
                self.closed.append(escalation)
        except (TimeoutError, asyncio.TimeoutError):
            pass

    async def _answer(self, escalation: str, mid: str) -> None:
        aid = f"a:{mid}"
        if aid in self.answered:
            return
        self.answered[aid] = time.monotonic()  # one answer per customer message
        await asyncio.sleep(self.rng.uniform(*self.think))
        text = f"[{aid}] thanks, I am looking into it"
        self.answered[aid] = time.monotonic()
        give_up = time.monotonic() + 120
        while time.monotonic() < give_up:  # the console's send button, pressed again while the service is down
            try:
                async with self.session.post(self.endpoints.next() + f"/v1/handoffs/{escalation}/messages",
                                             json={"text": text}, headers={"Authorization": f"Bearer {self.token}"},
                                             timeout=aiohttp.ClientTimeout(total=10)) as r:
                    if r.status == 201:
                        self.answer_ok.add(aid)
                        return
                    if r.status not in (502, 503, 504):
                        self.answer_failed[mid] = f"{r.status} {(await r.text())[:120]}"
                        return
            except aiohttp.ClientConnectorError:
                pass  # nothing reached the service: press send again
            except RETRYABLE:
                # The request may have gone through: look before sending it again (no double message).
                await asyncio.sleep(1.0)
                try:
                    record = await self._load(escalation)
                except (TimeoutError, asyncio.TimeoutError):
                    record = {}
                if any(m.get("text") == text for m in record.get("messages", [])):
                    self.answer_ok.add(aid)
                    return
            self.post_retries += 1
            await asyncio.sleep(1.0)
        self.answer_failed[mid] = "no answer from the service within 120 s"
