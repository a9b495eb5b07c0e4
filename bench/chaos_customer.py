"""The soak's web-chat customers (bench/chaos.py; what is counted: bench/chaos_people.py), behaving as our
widget does (bot/web/widget.js).

One socket.io connection; `session_request` with the stored handle on every (re)connect; when it had seen
something, `history_request` and, from the `history` answer, the lines it missed (the widget's count: lines seen
so far vs the server's total). Every message gets a client id (`message_id`) and stays in the outbox until the
server acknowledges it (`user_uttered`'s ack: "stored" or "duplicate"); one at a time, in order; sent again after
a refusal ("failed", 2 s later), after ACK_SECONDS without an ack, and after a reconnect; a customer line of the
history with the id of a waiting message means it was stored (the ack was lost): it leaves the outbox. Reconnects
back off 0.5 s -> 5 s, as the widget's socket.io client does.
"""
from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

import aiohttp
import socketio
import yaml

from bench.chaos_people import tag_of
from bot.settings import ROOT

REQUESTS = [["I want to talk to a human"],
            ["where is my order 10234568?", "this is ridiculous, it is two weeks late and nobody answers",
             "I want to talk to a human now"]]
CUSTOMER_LINES = ["my parcel still has not arrived", "can you check the tracking again?", "it says delivered but "
                  "it is not here", "ok, and what happens next?", "thanks, anything else you need from me?"]


ACK_SECONDS, RETRY_SECONDS = 20.0, 2.0  # as the widget's ACK_MS and RETRY_MS
RETYPE = yaml.safe_load((ROOT / "bot" / "channels" / "notices.yml").read_text())["invalid_message"]



@dataclass
class Seen:
    at: float
    via: str  # "live" or "history"
    message_id: Optional[str] = None  # the payload's own id, when it carries one


@dataclass
class Customer:
    number: int
    url: str
    messages: int
    think: Tuple[float, float]
    sent: Dict[str, float] = field(default_factory=dict)  # my message id -> when it first left (socket emit)
    acked: Dict[str, float] = field(default_factory=dict)  # my message id -> when the server acknowledged it
    typed: Dict[str, float] = field(default_factory=dict)  # my message id -> when typed (maybe still queued)
    shown: Dict[str, List[Seen]] = field(default_factory=lambda: defaultdict(list))  # answer id -> each showing
    conversations: Dict[str, str] = field(default_factory=dict)  # "c7-k2" -> conversation id (tracker sender)
    requested: List[str] = field(default_factory=list)  # "c7-k2" of each handoff asked for
    told_no_agent: List[str] = field(default_factory=list)
    new_handle_forced: int = 0
    told_retype: int = 0
    resends: int = 0  # a message sent again (refused, no ack in time, or after a reconnect)
    reconnects: int = 0

    def __post_init__(self) -> None:
        self.handle: Optional[str] = None
        self.conversation = ""
        self.seen = 0  # the widget's count of lines shown (its own messages too)
        self.outbox: List[Tuple[str, Optional[str], str]] = []  # (text, my id, client message id)
        self.flushing: Optional[asyncio.Task] = None  # the one sender (the widget's `inFlight`), while it runs
        self.client: Optional[socketio.AsyncClient] = None
        self.confirmed = asyncio.Event()
        self.handoff_state: Optional[str] = None
        self.stopped = False
        self.wanted_new = True

    # ---- the connection, as the widget keeps it ---------------------------------------------------
    async def keep_connected(self) -> None:
        delay = 0.5
        while not self.stopped:
            client = socketio.AsyncClient(reconnection=False)
            self.client = client
            gone = asyncio.Event()
            confirm: "asyncio.Queue[Any]" = asyncio.Queue()
            history: "asyncio.Queue[Any]" = asyncio.Queue()
            client.on("bot_uttered", lambda data: self._shown(data, "live"))
            client.on("session_confirm", confirm.put_nowait)
            client.on("history", history.put_nowait)
            client.on("disconnect", gone.set)
            try:
                await client.connect(self.url, socketio_path="socket.io", transports=["websocket"], wait_timeout=10)
                if self.wanted_new:
                    self.handle, self.seen, self.wanted_new = None, 0, False
                await client.emit("session_request", {"session_id": self.handle})
                handle = await asyncio.wait_for(confirm.get(), 10)
                handle = handle if isinstance(handle, str) else (handle or {}).get("session_id")
                resumed = self.handle == handle and self.seen > 0
                if self.handle and handle != self.handle:
                    self.new_handle_forced += 1  # the server no longer knew the conversation
                self.handle, self.conversation = handle, handle.rpartition(".")[0]
                if resumed:
                    await client.emit("history_request", {})
                    try:
                        self._history(await asyncio.wait_for(history.get(), 3))
                    except asyncio.TimeoutError:
                        pass  # the widget goes on after 3 s too
                self.confirmed.set()
                delay = 0.5
                self._kick()
                await gone.wait()
            except (socketio.exceptions.SocketIOError, asyncio.TimeoutError, OSError, aiohttp.ClientError):
                pass
            finally:
                self.confirmed.clear()
                if self.flushing is not None:  # no ack will come on this connection: sent again after
                    self.flushing.cancel()
                try:
                    await client.disconnect()
                except Exception:  # noqa: BLE001 - an already broken connection
                    pass
            if not self.stopped:
                self.reconnects += 0 if self.wanted_new else 1
                await asyncio.sleep(delay)
                delay = min(5.0, delay * 2)

    def _shown(self, data: Dict[str, Any], via: str) -> None:
        if data.get("handoff"):
            self.handoff_state = data["handoff"]
        if data.get("agent"):
            self.handoff_state = "joined"
        if not data.get("text") and not data.get("quick_replies") and not data.get("buttons"):
            return  # the widget shows (and counts) nothing for it
        self.seen += 1
        if data.get("text") == RETYPE:
            self.told_retype += 1  # the channel could not take a message (e.g. Redis down) and said so
        is_answer, mid = tag_of(str(data.get("text", "")))
        if is_answer and mid:
            own = data.get("message_id") or data.get("id")
            self.shown[mid].append(Seen(time.monotonic(), via, str(own) if own is not None else None))

    def _history(self, data: Any) -> None:
        total = data.get("total", 0) if isinstance(data, dict) else 0
        lines = data.get("lines", []) if isinstance(data, dict) else []
        missing = min(total - self.seen, len(lines))
        for line in lines[-missing:] if missing > 0 else []:
            if isinstance(line, dict) and line.get("speaker") == "customer" and line.get("message_id"):
                self._stored(str(line["message_id"]))  # stored, its ack lost: it leaves the outbox
            if isinstance(line, dict) and line.get("speaker") != "customer":
                self.seen -= 1  # _shown counts it; the widget's count is set from `total` below
                self._shown({**line, "agent": line.get("speaker") == "agent"}, "history")
        self.seen = max(self.seen, total)

    def _stored(self, client_id: str) -> bool:
        """The message with this client id is in the conversation: out of the outbox (False: it was already)."""
        for i, (_, mid, cid) in enumerate(self.outbox):
            if cid == client_id:
                del self.outbox[i]
                if mid:
                    self.acked.setdefault(mid, time.monotonic())
                return True
        return False

    def _kick(self) -> None:
        if self.flushing is None or self.flushing.done():
            self.flushing = asyncio.ensure_future(self._flush())

    async def _flush(self) -> None:
        """Send the outbox, oldest first, each once the previous is acknowledged."""
        while self.outbox and self.confirmed.is_set() and self.client is not None and self.client.connected:
            text, mid, cid = self.outbox[0]
            if mid:
                self.resends += mid in self.sent
                self.sent.setdefault(mid, time.monotonic())
            try:
                ack = await self.client.call("user_uttered", {"message": text, "session_id": self.handle,
                                                              "message_id": cid}, timeout=ACK_SECONDS)
            except socketio.exceptions.TimeoutError:
                continue  # no ack in time: send it again (the server stores it once)
            except socketio.exceptions.SocketIOError:
                return  # disconnected: sent again after the reconnect
            status = ack.get("status") if isinstance(ack, dict) else None
            if status in ("stored", "duplicate"):
                if self._stored(cid):
                    self.seen += 1
            elif status == "refused":
                self._stored(cid)
            else:
                await asyncio.sleep(RETRY_SECONDS)

    async def say(self, text: str, mid: Optional[str] = None) -> None:
        if mid:
            self.typed[mid] = time.monotonic()
        self.outbox.append((text, mid, uuid.uuid4().hex))
        self._kick()

    # ---- what the customer does -------------------------------------------------------------------
    async def run(self, until: float) -> None:
        """Conversations one after another until `until` (monotonic): ask for a person, write
        `messages` messages at a human pace, wait for the answers, start a new conversation."""
        rng = random.Random(self.number)
        k = 0
        while time.monotonic() < until:
            k += 1
            key = f"c{self.number}-k{k}"
            self.wanted_new, self.handoff_state, self.conversation = True, None, ""
            self.confirmed.clear()
            if self.client is not None and self.client.connected:
                await self.client.disconnect()  # a new chat: the keeper reconnects without the old handle
            await self._wait_confirmed(until + 60)
            self.conversations[key] = self.conversation
            self.requested.append(key)
            for line in rng.choice(REQUESTS):
                await self.say(line)
                await asyncio.sleep(rng.uniform(*self.think))
            deadline = time.monotonic() + 60
            while self.handoff_state not in ("waiting", "connecting", "joined", "failed", "ticket") and \
                    time.monotonic() < deadline:
                await asyncio.sleep(0.5)
            if self.handoff_state in ("failed", "ticket"):
                self.told_no_agent.append(key)
                continue
            ids = [f"{key}-m{i}/{self.messages}" for i in range(1, self.messages + 1)]
            for mid in ids:
                await asyncio.sleep(rng.uniform(*self.think))
                await self.say(f"[{mid}] {rng.choice(CUSTOMER_LINES)}", mid)
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline and not all(m in self.shown for m in ids):
                await asyncio.sleep(0.5)
            await asyncio.sleep(rng.uniform(*self.think))

    async def _wait_confirmed(self, until: float) -> None:
        while not self.stopped and time.monotonic() < until:
            if self.confirmed.is_set() and not self.wanted_new and self.conversation:
                return
            await asyncio.sleep(0.2)

    async def drain(self, until: float) -> None:
        """After the load: wait (bounded) until the outbox is sent and every answer has been shown."""
        while time.monotonic() < until and self.outbox:
            await asyncio.sleep(0.5)


