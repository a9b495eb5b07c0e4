"""Live handoff latency: customer -> agent and agent -> customer, with many handed-off conversations.

    ./run bench-live-handoff [--conversations 50] [--rounds 10] [--think 1.0]

Starts the whole stack as ./run does (embedded Redis, handoff service, action server, Rasa) in a
temporary folder, adds 10 bench agents (5 chats each, every skill), logs them in with their
WebSockets open, and connects N web-chat customers over socket.io (the rasa-webchat protocol). Each
customer asks for a person; an agent accepts. Then every conversation, concurrently, exchanges
`rounds` pairs of messages, each side pausing a random 2-6 s (`--think 2 6`) before writing, as people
typing do:

- customer -> agent: from the customer's `user_uttered` to the message event on the agent's WebSocket
  (socket.io channel -> bridge forward -> handoff service -> Redis stream -> agent WebSocket);
- agent -> customer: from the agent's POST /v1/handoffs/{id}/messages to the customer's `bot_uttered`
  (service -> Redis stream -> the Rasa server's bridge -> tracker -> socket.io).

Everything, the load generator included, shares this machine's cores.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

import aiohttp
import socketio

from bench.latency import memory, percentile

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "bench-agents-password"
AGENTS = 10
CHATS_PER_AGENT = 5


class Agent:
    """A bench agent with its WebSocket: accepts every offer, records when messages arrive."""

    def __init__(self, agent_id: str, base: str) -> None:
        self.id, self.base = agent_id, base
        self.auth: Dict[str, str] = {}
        self.offered: "asyncio.Queue[Dict[str, Any]]" = asyncio.Queue()
        self.arrivals: Dict[str, float] = {}  # message text -> when it reached this WebSocket
        self.waiters: Dict[str, asyncio.Future] = {}

    async def start(self, session: aiohttp.ClientSession) -> None:
        async with session.post(f"{self.base}/v1/agents/login", json={"agent_id": self.id, "password": PASSWORD}) as r:
            self.auth = {"Authorization": f"Bearer {(await r.json())['token']}"}
        async with session.put(f"{self.base}/v1/agents/me/status", json={"status": "online"}, headers=self.auth) as r:
            assert r.status == 200, await r.text()
        self.ws = await session.ws_connect(self.base.replace("http", "ws") + "/v1/agents/me/stream", headers=self.auth)
        await self.ws.receive()  # snapshot
        self.reader = asyncio.ensure_future(self._read(session))

    async def _read(self, session: aiohttp.ClientSession) -> None:
        async for msg in self.ws:
            event = json.loads(msg.data)
            if event["type"] == "offered":
                async with session.post(f"{self.base}/v1/handoffs/{event['escalation']}/accept",
                                        headers=self.auth) as r:
                    if r.status == 200:
                        self.offered.put_nowait(event)
            elif event["type"] == "message" and event["message"]["speaker"] == "customer":
                text = event["message"]["text"]
                waiter = self.waiters.pop(text, None)
                if waiter is not None and not waiter.done():
                    waiter.set_result(time.perf_counter())


class Customer:
    def __init__(self, url: str) -> None:
        self.url = url
        self.client = socketio.AsyncClient(reconnection=False)
        self.inbox: "asyncio.Queue[tuple]" = asyncio.Queue()
        self.session_id = ""

    async def start(self) -> None:
        confirmed: "asyncio.Queue[str]" = asyncio.Queue()
        self.client.on("bot_uttered", lambda data: self.inbox.put_nowait((time.perf_counter(), data)))
        self.client.on("session_confirm", lambda data: confirmed.put_nowait(data))
        await self.client.connect(self.url, socketio_path="socket.io", transports=["websocket"])
        await self.client.emit("session_request", {"session_id": None})
        self.session_id = await asyncio.wait_for(confirmed.get(), 30)

    async def say(self, text: str) -> None:
        await self.client.emit("user_uttered", {"message": text, "session_id": self.session_id})

    async def next_from_agent(self, text: str, timeout: float = 30) -> float:
        while True:
            at, data = await asyncio.wait_for(self.inbox.get(), timeout)
            if data.get("text") == text:
                return at


async def run(rasa_url: str, handoff_url: str, agent_ids: List[str], conversations: int, rounds: int,
              think: List[float]) -> Dict[str, Any]:
    async with aiohttp.ClientSession() as session:
        agents = [Agent(a, handoff_url) for a in agent_ids]
        await asyncio.gather(*(a.start(session) for a in agents))
        customers = [Customer(rasa_url) for _ in range(conversations)]
        for c in customers:
            await c.start()
        print(f"{len(agents)} agents online, {len(customers)} customers connected; handing off...", flush=True)
        for c in customers:  # one at a time: each request is a full Rasa turn with scoring
            await c.say("I want to talk to a human")
        chats: Dict[str, tuple] = {}  # conversation id -> (agent, escalation)
        deadline = time.monotonic() + 180
        while len(chats) < conversations and time.monotonic() < deadline:
            for a in agents:
                while not a.offered.empty():
                    event = a.offered.get_nowait()
                    chats[event["conversation_id"]] = (a, event["escalation"])
            await asyncio.sleep(0.2)
        if len(chats) < conversations:
            raise RuntimeError(f"only {len(chats)} of {conversations} conversations reached an agent")
        for c in customers:  # drop the hand-off notices
            while not c.inbox.empty():
                c.inbox.get_nowait()
        print(f"{conversations} conversations with agents; {rounds} rounds each way...", flush=True)
        to_agent: List[float] = []
        to_customer: List[float] = []
        errors = 0

        async def converse(c: Customer) -> None:
            nonlocal errors
            agent, escalation = chats[c.session_id.rpartition(".")[0]]
            for i in range(rounds):
                await asyncio.sleep(random.uniform(*think))
                text = f"customer {c.session_id[:8]} message {i}"
                arrived = asyncio.get_running_loop().create_future()
                agent.waiters[text] = arrived
                t0 = time.perf_counter()
                await c.say(text)
                try:
                    to_agent.append((await asyncio.wait_for(arrived, 30) - t0) * 1000)
                except asyncio.TimeoutError:
                    errors += 1
                await asyncio.sleep(random.uniform(*think))
                reply = f"agent {agent.id} reply {i} to {c.session_id[:8]}"
                t0 = time.perf_counter()
                async with session.post(f"{handoff_url}/v1/handoffs/{escalation}/messages", json={"text": reply},
                                        headers=agent.auth) as r:
                    if r.status != 201:
                        errors += 1
                        continue
                try:
                    to_customer.append((await c.next_from_agent(reply) - t0) * 1000)
                except asyncio.TimeoutError:
                    errors += 1

        t0 = time.perf_counter()
        await asyncio.gather(*(converse(c) for c in customers))
        seconds = time.perf_counter() - t0
        for c in customers:
            await c.client.disconnect()
        for a in agents:
            await a.ws.close()
    return {"conversations": conversations, "rounds": rounds, "think_seconds": think, "seconds": round(seconds, 1),
            "errors": errors, "messages": len(to_agent) + len(to_customer),
            "messages_per_second": round((len(to_agent) + len(to_customer)) / seconds, 1),
            "customer_to_agent_ms": summary(to_agent), "agent_to_customer_ms": summary(to_customer)}


def summary(values: List[float]) -> Dict[str, float]:
    if not values:
        return {"count": 0}
    return {"count": len(values), "p50": round(percentile(values, 50), 1), "p90": round(percentile(values, 90), 1),
            "p99": round(percentile(values, 99), 1), "max": round(max(values), 1),
            "mean": round(statistics.fmean(values), 1)}


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--conversations", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=10, help="messages each way per conversation")
    parser.add_argument("--think", type=float, nargs=2, default=[2.0, 6.0], metavar=("MIN", "MAX"),
                        help="random pause before each message, in seconds")
    parser.add_argument("--out", default="results/bench/live_handoff.json")
    args = parser.parse_args(argv)
    if args.conversations > AGENTS * CHATS_PER_AGENT:
        parser.error(f"at most {AGENTS * CHATS_PER_AGENT} conversations (the bench team's capacity)")

    from bot.settings import Settings
    from bot.processes import free_port
    from bot.supervisor import Stack

    tmp = Path(tempfile.mkdtemp(prefix="bench-live-handoff-"))
    env = {**os.environ, "RASA_PORT": str(free_port()), "ACTION_PORT": str(free_port()),
           "HANDOFF_PORT": str(free_port()), "REDIS_PORT": str(free_port()), "BOT_RUN_DIR": str(tmp / "run"),
           "BOT_DATA_DIR": str(tmp / "data"), "BOT_INTERFACE": "127.0.0.1"}
    env.pop("REDIS_URL", None)
    os.environ.update({k: env[k] for k in ("RASA_PORT", "ACTION_PORT", "HANDOFF_PORT", "REDIS_PORT")})
    settings = Settings.from_env(env)
    stack = Stack(settings)
    stack.acquire_lock()
    print("Starting the stack (training first if the data changed)...", flush=True)
    try:
        urls = stack.start()
        team = [f"bench{i:02d}" for i in range(AGENTS)]
        roster = tmp / "team.yml"
        roster.write_text("agents:\n" + "".join(
            f"- {{id: {a}, name: Bench {a}, skills: [general, after_sales, technical, billing, vip], "
            f"max_chats: {CHATS_PER_AGENT}}}\n" for a in team))
        subprocess.run([sys.executable, "-m", "handoff.accounts", "seed", str(roster)], cwd=ROOT, check=True,
                       env={**os.environ, "HANDOFF_REDIS_URL": stack.redis_url or "",
                            "HANDOFF_PASSWORD": PASSWORD}, capture_output=True)
        result = asyncio.run(run(f"http://127.0.0.1:{settings.rasa_port}", f"http://127.0.0.1:{settings.handoff_port}",
                                 team, args.conversations, args.rounds, args.think))
        result["rss_mb"] = memory({c.name: c.proc.pid for c in stack.children})
        result["startup_seconds"] = float(urls["startup_seconds"])
    finally:
        stack.stop()
    print("\n| direction | messages | p50 ms | p90 ms | p99 ms | max ms |")
    print("|---|---|---|---|---|---|")
    for key, label in (("customer_to_agent_ms", "customer -> agent WebSocket"),
                       ("agent_to_customer_ms", "agent -> customer socket.io")):
        s = result[key]
        print(f"| {label} | {s['count']} | {s['p50']} | {s['p90']} | {s['p99']} | {s['max']} |")
    print(f"\n{result['conversations']} concurrent handed-off conversations, {result['rounds']} rounds each way, "
          f"pauses {result['think_seconds'][0]}-{result['think_seconds'][1]} s: {result['messages']} messages in "
          f"{result['seconds']} s ({result['messages_per_second']}/s both ways), errors {result['errors']}")
    print("resident memory: " + ", ".join(f"{k} {v:.0f} MB" for k, v in result["rss_mb"].items()))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))
    print(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
