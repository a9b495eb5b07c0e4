"""The soak with faults: nothing lost, nobody assigned twice, nothing shown twice, while every process dies.

    ./run bench-chaos [--minutes 10] [--customers 50] [--agents 10] [--messages 4] [--kills-each 2]

Starts the whole stack as ./run does (Redis with its append-only file, the action server, the Rasa
server) but with TWO handoff-service processes behind HAProxy (bench/chaos_stack.py), adds a bench
team, and lets web-chat customers (socket.io, behaving as our widget) and agents (WebSocket + REST,
behaving as the agent console) converse at a human pace (bench/chaos_people.py). Each customer asks
for a person, writes `--messages` messages 3-8 s apart, the agent answers each one and closes the
chat, and the customer starts a new conversation, until `--minutes` have passed.

Meanwhile a schedule SIGKILLs and restarts (after 2-6 s) one fault at a time: `--kills-each - 1`
rounds in which each of rasa, actions, handoff-1, handoff-2 and redis is killed alone, then each but
Rasa alone once more, then all five together (a blackout: what is written meanwhile must arrive after
recovery). So Rasa is killed `--kills-each` times, the others once more. The last `--quiet` seconds
have no new fault; then the customers finish their conversations and the bench waits (at most
`--drain` seconds) until the outboxes are empty and every message has arrived.

Counted from what each side saw (every message carries a unique id in its text): customer messages
sent / stored in the tracker / seen by an agent; agent messages sent / stored / shown to the customer;
handoffs requested / created / assigned, and assigned to two agents; duplicates shown to either side
(raw, and after dropping copies with the same message id when the payload carries one); the longest
delay each way. Writes artifacts/chaos/figures.json; exits 1 when anything was lost, double-assigned
or shown twice after dedupe (or a process was not killed as often as planned). The processes' logs stay
in the printed folder, as evidence.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

import aiohttp
import redis.asyncio as aioredis

from bench.chaos_agent import Agent
from bench.chaos_customer import Customer
from bench.chaos_report import count, print_report, verdict
from bench.chaos_stack import KILLABLE, ChaosStack, Fault, StackError, ensure_haproxy, run_fault, schedule, seed_team
from tests.handoff.agents import Endpoints, call

PASSWORD = "chaos-bench-password"
OUTBOXES = ("{shop}:handoff:outbox", "{shop}:handoff:sending", "{shop}:handoff:forwarding", "{shop}:handoff:surveys",
            "{shop}:handoff:surveys_sending")  # bot/bridge/outbox.py, bot/bridge/forwarding.py, actions/delivery.py


async def login(session: aiohttp.ClientSession, base: str, agent_id: str) -> str:
    for _ in range(60):
        try:
            async with session.post(base + "/v1/agents/login", json={"agent_id": agent_id, "password": PASSWORD},
                                    timeout=aiohttp.ClientTimeout(total=10)) as r:
                if r.status == 200:
                    return (await r.json())["token"]
        except (aiohttp.ClientError, asyncio.TimeoutError):
            pass
        await asyncio.sleep(0.5)
    raise StackError(f"{agent_id} could not log in")


async def outboxes_left(redis_url: str) -> List[str]:
    client = aioredis.Redis.from_url(redis_url, socket_timeout=2)
    try:
        return [key for key in OUTBOXES if await client.exists(key)]
    except Exception:  # noqa: BLE001 - Redis down: nothing is drained
        return ["Redis (unreachable)"]
    finally:
        await client.close()


async def pending(stack: ChaosStack, customers: List[Customer], agents: List[Agent]) -> List[str]:
    """What has not arrived yet: the bench waits for nothing else before counting."""
    answered = set().union(*(a.answer_ok for a in agents))
    shown = {f"a:{m}" for c in customers for m in c.shown}
    sent = {m for c in customers for m in c.sent}
    seen = set().union(*(a.seen for a in agents))
    out = [f"{len(answered - shown)} agent answers not shown yet"] if answered - shown else []
    out += [f"{len(sent - seen)} customer messages not seen by an agent yet"] if sent - seen else []
    chats = sum(1 for a in agents for t in a.chats.values() if not t.done())
    out += [f"{chats} chats still open"] if chats else []
    out += [f"{key} not empty" for key in await outboxes_left(stack.redis_url)]
    return out


async def soak(stack: ChaosStack, args: argparse.Namespace) -> Dict[str, Any]:
    s = stack.settings
    base = f"http://127.0.0.1:{s.handoff_port}"  # HAProxy
    endpoints = Endpoints([base] + [f"http://127.0.0.1:{p}" for p in stack.handoff_ports])
    loop = asyncio.get_running_loop()
    faults = schedule(args.minutes * 60, args.quiet, args.kills_each, args.seed)
    lock = threading.Lock()  # held while a fault runs: the watcher leaves those processes alone
    async with aiohttp.ClientSession() as session:
        team = [f"agent{i:02d}" for i in range(args.agents)]
        tokens = {a: await login(session, base, a) for a in team}
        supervisor = await login(session, base, "chief")
        agents = [Agent(a, tokens[a], endpoints, session, tuple(args.agent_think)) for a in team]
        runners = [asyncio.ensure_future(a.run()) for a in agents]
        await asyncio.wait_for(asyncio.gather(*(a.connected.wait() for a in agents)), 60)
        for a in agents:
            code, body = await call(session, endpoints, "PUT", "/v1/agents/me/status", a.token, {"status": "online"})
            if code != 200:
                raise StackError(f"{a.id} could not go online: {body}")
        customers = [Customer(i, f"http://127.0.0.1:{s.rasa_port}", args.messages, tuple(args.think))
                     for i in range(1, args.customers + 1)]
        t0 = time.monotonic()
        load_end = t0 + args.minutes * 60
        print(f"==> {len(agents)} agents online; {len(customers)} customers start over 20 s; faults at "
              + ", ".join(f"{f.at:.0f} s ({'+'.join(f.names) if len(f.names) < 5 else 'all'})" for f in faults),
              flush=True)

        async def customer(c: Customer, delay: float) -> None:
            await asyncio.sleep(delay)
            keeper = asyncio.ensure_future(c.keep_connected())
            try:
                await c.run(load_end)
                await c.drain(load_end + args.drain)
            finally:
                c.stopped = True
                keeper.cancel()
                if c.client is not None and c.client.connected:
                    await c.client.disconnect()

        async def chaos() -> None:
            for fault in faults:
                await asyncio.sleep(max(0.0, t0 + fault.at - time.monotonic()))
                await loop.run_in_executor(None, locked, fault)

        def locked(fault: Fault) -> None:
            with lock:
                run_fault(stack, fault, t0)

        async def watcher() -> None:
            while True:
                await asyncio.sleep(0.5)
                if lock.acquire(blocking=False):
                    try:
                        await loop.run_in_executor(None, stack.watch, lambda _name: False)
                    finally:
                        lock.release()

        watch = asyncio.ensure_future(watcher())
        faulting = asyncio.ensure_future(chaos())
        people = asyncio.gather(*(customer(c, 20.0 * i / len(customers)) for i, c in enumerate(customers)))
        try:
            try:
                await asyncio.wait_for(asyncio.shield(people), load_end + args.drain + 300 - time.monotonic())
            except asyncio.TimeoutError:
                print("warning: customers still busy at the bound; counting what happened", flush=True)
            await faulting  # a fault still running (a slow Rasa start) finishes before counting
        finally:
            if not faulting.done():  # Ctrl-C or an error: the fault thread stops waiting, nothing hangs
                stack.stopping.set()
        print(f"[{time.monotonic() - t0:6.1f} s] customers done; draining (at most {args.drain} s)", flush=True)
        deadline = time.monotonic() + args.drain
        while True:
            waiting = await pending(stack, customers, agents)
            if not waiting or time.monotonic() > deadline:
                break
            await asyncio.sleep(1.0)
        if waiting:
            print(f"warning: not drained after {args.drain} s: {'; '.join(waiting)}", flush=True)
        drained_after = round(time.monotonic() - t0, 1)
        figures = await count(stack, session, base, supervisor, customers, agents)
        for a in agents:
            a.stopped = True
        for task in runners + [watch]:
            task.cancel()
    figures["run"] = {"minutes": args.minutes, "customers": args.customers, "agents": args.agents,
                      "messages_per_conversation": args.messages, "quiet_seconds": args.quiet,
                      "drained_at_seconds": drained_after, "not_drained": waiting, "redis_appendfsync": "everysec",
                      "faults": [vars(f) for f in faults], "kills": stack.killed, "crashes": stack.crashes}
    return figures


def parse(argv: Optional[List[str]]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10.0, help="how long customers start conversations")
    parser.add_argument("--customers", type=int, default=50)
    parser.add_argument("--agents", type=int, default=10)
    parser.add_argument("--max-chats", type=int, default=6, help="chats each agent takes at once")
    parser.add_argument("--messages", type=int, default=4, help="counted messages each way per conversation")
    parser.add_argument("--think", type=float, nargs=2, default=[3.0, 8.0], metavar=("MIN", "MAX"),
                        help="a customer's pause before each message, seconds")
    parser.add_argument("--agent-think", type=float, nargs=2, default=[1.0, 4.0], metavar=("MIN", "MAX"))
    parser.add_argument("--kills-each", type=int, default=None,
                        help="SIGKILLs of Rasa; the others get one more (the last is the blackout); default 2, "
                        "1 under 5 minutes")
    parser.add_argument("--quiet", type=float, default=60.0, help="seconds without faults at the end of the load")
    parser.add_argument("--drain", type=float, default=180.0, help="at most this long to wait for queues to drain")
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument("--out", default="artifacts/chaos/figures.json")
    args = parser.parse_args(argv)
    if args.kills_each is None:
        args.kills_each = 2 if args.minutes >= 5 else 1
    if args.kills_each < 1 or args.minutes <= 0 or args.customers < 1 or args.agents < 1:
        parser.error("--minutes, --customers, --agents and --kills-each must be positive")
    return args


def main(argv: Optional[List[str]] = None) -> int:
    args = parse(argv)
    from bot.settings import Settings
    from bot.processes import free_port

    try:
        haproxy = ensure_haproxy()
    except StackError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    tmp = Path(tempfile.mkdtemp(prefix="bench-chaos-"))
    env = {**os.environ, "RASA_PORT": str(free_port()), "ACTION_PORT": str(free_port()),
           "HANDOFF_PORT": str(free_port()), "REDIS_PORT": str(free_port()), "BOT_RUN_DIR": str(tmp / "run"),
           "BOT_DATA_DIR": str(tmp / "data"), "BOT_INTERFACE": "127.0.0.1", "BOT_RESTART_DELAY_SECONDS": "0",
           "HANDOFF_SEED_DEMO_TEAM": "0",
           # the schedule kills "rasa": one Rasa server, as the soak was designed (several: tests/integration/
           # test_several_servers.py kills one of two)
           "RASA_SERVERS": "1"}
    env.pop("REDIS_URL", None)
    os.environ.update({k: env[k] for k in ("RASA_PORT", "ACTION_PORT", "HANDOFF_PORT", "REDIS_PORT",
                                          "BOT_RUN_DIR", "BOT_DATA_DIR", "BOT_INTERFACE", "HANDOFF_SEED_DEMO_TEAM")})
    stack = ChaosStack(Settings.from_env(env), haproxy_binary=haproxy)
    stack.acquire_lock()

    def on_signal(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    # Both installed explicitly: a job started in the background by a script inherits SIGINT as ignored.
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    print(f"==> Starting the stack in {tmp} (Redis AOF everysec, HAProxy + 2 handoff processes, actions, Rasa)",
          flush=True)
    try:
        stack.start()
        roster = tmp / "team.yml"
        roster.write_text("agents:\n" + "".join(
            f"- {{id: agent{i:02d}, name: Agent {i}, skills: [general, after_sales, technical, billing, vip], "
            f"max_chats: {args.max_chats}}}\n" for i in range(args.agents))
            + "- {id: chief, name: Chief, skills: [general], max_chats: 1, role: supervisor}\n")
        seed_team(stack, roster, PASSWORD)
        figures = asyncio.run(soak(stack, args))
    except KeyboardInterrupt:
        print("\n==> Interrupted: stopping every process", flush=True)
        return 130
    except (StackError, RuntimeError, TimeoutError) as exc:
        print(f"error: {exc}\n(logs: {tmp / 'run' / 'logs'})", file=sys.stderr)
        return 1
    finally:
        stack.stop()
    figures["logs"] = str(tmp / "run" / "logs")
    print_report(figures)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(figures, indent=2))
    print(f"written to {args.out}")
    problems = verdict(figures, KILLABLE, args.kills_each)
    print(("FAIL: " + "; ".join(problems)) if problems else "PASS: 0 lost, 0 double-assigned, 0 shown twice")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
