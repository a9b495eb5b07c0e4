"""A generated week of traffic, replayed through the real service code into a Redis: what the reports show.

Fixed seed, so the same week every time: customers write to the bot (each conversation counted in the bot's
HyperLogLogs per UTC day, overall and per topic, as the channel does), a share by topic is handed off
(HandoffService.create, offered to the least-loaded agent), accepted after a wait, answered, sometimes
transferred or abandoned, closed resolved or not; some unresolved chats become tickets; customers answer the
survey (some "not solved"); tickets from other channels are claimed, answered, sent to another team and back,
solved, some reopened by the customer and solved again; first responses over the 30 s target and tickets over
their resolution target get ``sla_warning`` / ``sla_breach`` clock-log entries, written by the durable timers'
atomic completion (TimerRunner, as the SLA helper's handlers do). Time is a fake clock moved through the week
(the stores take it from the service), hours in the business time zone, busier at midday and in the evening.

Besides the records, every step is appended to a raw event log (JSONL): tests/handoff/test_reports_week.py
recomputes the figures from it independently of handoff/reports/.

  ./run bench-week                         # last full week into the running stack's Redis
  ./run bench-week --week 2026-W48 --seed 7 --events /tmp/week.jsonl --redis-url redis://127.0.0.1:6379/0

Into a running stack: the agents ava..fay (and the supervisor sam, no password) are added and set online with
every skill (a live chat may be offered to them: use a demo stack); run it once per week (a second run adds
the week again). The SLA entries go through timers of kind bench_week_sla that this process fires at once; a
running service that claims one first (it has no handler for it) retries it and finally drops it with a
timer_failed event, and that entry is missing from the clock log (the raw events still list it).
"""
from __future__ import annotations

import argparse
import asyncio
import heapq
import json
import os
import random
import sys
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, AsyncIterator, Dict, List, Optional, TextIO, Tuple
from zoneinfo import ZoneInfo

from common.routing import SkillGroups
from handoff.auth import Caller
from handoff.clocks.timers import Fired, Timer, TimerRunner
from handoff.metrics import Metrics
from handoff.redis_store import RedisStore
from handoff.service import HandoffService
from handoff.store import Agent, Status
from handoff.tickets.flows import TicketFlows
from handoff.tickets.service import TicketService

TZ = "Asia/Shanghai"
CONVERSATIONS_KEY = "{shop}:stats:conversations:"
TOPIC_KEY = "{shop}:stats:topic:"
SLA_KIND = "bench_week_sla"
FIRST_RESPONSE = 30.0  # policy/skill_groups.yml sla.first_response_seconds; the source's chat target
WARN_SHARE = 0.8
TICKET_RESOLUTION = 2 * 86400.0  # tickets over this get a resolution breach
# topic: (weight, handoff share, resolved share, triggers)
TOPICS: Dict[str, Tuple[int, float, float, Tuple[str, ...]]] = {
    "order_status": (30, 0.12, 0.92, ("explicit_request",)),
    "refund_time": (14, 0.35, 0.75, ("explicit_request", "negative_sentiment")),
    "payment_declined": (10, 0.40, 0.50, ("payment_problem",)),
    "password_reset": (12, 0.20, 0.85, ("repeated_fallback",)),
    "damaged_item": (12, 0.45, 0.55, ("negative_sentiment", "explicit_request")),
    "warranty": (8, 0.30, 0.70, ("explicit_request",)),
    "coupons": (8, 0.10, 0.90, ("explicit_request",)),
    "product_question": (6, 0.25, 0.80, ("low_confidence",)),
}
HOURLY = [1, 1, 1, 1, 1, 1, 2, 4, 7, 10, 12, 12, 9, 10, 11, 11, 10, 9, 8, 9, 11, 10, 6, 3]  # local hours
AGENTS = [("ava", "Ava Chen"), ("bo", "Bo Li"), ("cy", "Cy Wang"), ("dee", "Dee Zhou"), ("eli", "Eli Sun"),
          ("fay", "Fay Liu")]
SUPERVISOR = ("sam", "Sam Guo")
GROUPS = ["general", "after_sales", "technical", "billing", "vip"]


class FakeClock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def request(conversation: str, customer: str, topic: str, tier: str, at: float) -> Dict[str, Any]:
    """A handoff request as action_request_handoff builds it (schemas/handoff_request.schema.json)."""
    triggers = TOPICS[topic][3]
    return {
        "schema_version": 1, "conversation_id": conversation, "channel": "rest", "language": "en",
        "created_at": iso(at),
        "customer": {"id": customer, "tags": {"vip_tier": tier, "lifetime_orders": 3, "open_tickets": 0}},
        "transcript": [{"speaker": "customer", "text": f"help with {topic.replace('_', ' ')}", "timestamp": iso(at),
                        "intent": topic, "confidence": 0.9, "sentiment": -0.2}],
        "case_brief": {"summary": f"Customer needs help: {topic.replace('_', ' ')}.", "slots": {}, "entities": [],
                       "topics": [topic], "categories": {}},
        "scores": {"sentiment": {"latest": -0.2, "label": "neutral", "trend": -0.2, "per_turn": [-0.2],
                                 "complaint": 0.1, "model": "bench"},
                   "complexity": {"score": 0.2, "level": "low", "factors": []}},
        "decision": {"triggers": [{"name": t, "reason": f"{t} fired"} for t in triggers]},
        "routing": {"skill_group": "general", "reason": "bench", "priority": 10, "priority_reasons": ["base 10"]},
    }


def monday_of(week: str) -> date:
    year, number = week.split("-W")
    return date.fromisocalendar(int(year), int(number), 1)


def last_full_week(now: float) -> str:
    local = datetime.fromtimestamp(now, ZoneInfo(TZ)).date() - timedelta(days=7)
    y, w, _ = local.isocalendar()
    return f"{y}-W{w:02d}"


class Week:
    """The replay: a heap of (time, seq, process) where each process is an async generator yielding the next
    time it acts; the fake clock moves to each step's time, so every record has the time it would have."""

    def __init__(self, store: RedisStore, seed: int, events: TextIO) -> None:
        self.store = store
        self.rnd = random.Random(seed)
        self.out = events
        self.clock = FakeClock(0.0)
        groups = SkillGroups.load()
        self.service = HandoffService(store, groups, Metrics(), reservation_seconds=3600, clock=self.clock)
        self.tickets = TicketService(store, groups, TicketFlows.load(groups=groups.groups), Metrics(), clock=self.clock)
        self.service.tickets = self.tickets
        self.timers = TimerRunner(store, offset=lambda: self.clock.now - time.time())
        self.timers.register(SLA_KIND, self._fire)
        self.heap: List[Tuple[float, int, AsyncIterator[float]]] = []
        self.seq = 0
        self.n = 0

    # -- plumbing --------------------------------------------------------------------------------
    def log(self, event: str, **fields: Any) -> None:
        self.out.write(json.dumps({"type": event, "at": self.clock.now, **fields}) + "\n")

    def start(self, at: float, process: AsyncIterator[float]) -> None:
        self.seq += 1
        heapq.heappush(self.heap, (at, self.seq, process))

    async def run(self) -> None:
        while self.heap:
            at, _, process = heapq.heappop(self.heap)
            self.clock.now = max(self.clock.now, at)
            try:
                self.start(await process.__anext__(), process)
            except StopAsyncIteration:
                pass

    async def _fire(self, timer: Timer) -> Fired:
        p = timer.payload
        return Fired(log=[(p["subject"], p["entry"])])

    async def sla(self, subject: str, kind: str, target: str, at: float, target_seconds: float) -> None:
        """A clock-log entry written by the timers' atomic completion."""
        entry = {"kind": kind, "at": at, "target": target, "target_seconds": target_seconds,
                 "detail": f"{target.replace('_', ' ')} {'warning' if kind == 'sla_warning' else 'breached'}"}
        await self.timers.schedule(f"bench:{subject}:{target}:{kind}", SLA_KIND, at,
                                   {"subject": subject, "entry": entry})
        saved, self.clock.now = self.clock.now, max(self.clock.now, at)
        for _ in range(50):
            if await self.timers.tick():
                break
        else:
            raise RuntimeError(f"the timer {subject} {target} {kind} did not fire")
        self.clock.now = saved
        self.log("sla", subject=subject, kind=kind, target=target, due=at)

    async def staff(self) -> None:
        for agent_id, name in [*AGENTS, SUPERVISOR]:
            role = "supervisor" if agent_id == SUPERVISOR[0] else "agent"
            await self.store.save_account(agent_id, {"id": agent_id, "name": name, "role": role,
                                                     "skills": ",".join(GROUPS), "max_chats": "12",
                                                     "password_hash": ""})
            if role == "agent":
                await self.store.set_agent(Agent(agent_id, tuple(GROUPS), 12, "online"), self.clock.now)

    # -- traffic -------------------------------------------------------------------------------------
    def plan(self, monday: date) -> None:
        """Every conversation and every ticket from another channel of the week, started on the heap."""
        zone = ZoneInfo(TZ)
        names, weights = list(TOPICS), [v[0] for v in TOPICS.values()]
        for day in range(7):
            for hour, load in enumerate(HOURLY):
                count = load * (3 if day < 5 else 2)
                for _ in range(count):
                    at = datetime.combine(monday + timedelta(days=day), datetime.min.time(), zone).timestamp() + \
                        hour * 3600 + self.rnd.uniform(0, 3600)
                    topic = self.rnd.choices(names, weights)[0]
                    self.start(at, self.conversation(topic, f"cust-{self.rnd.randrange(900):04d}"))
                if hour in (9, 14, 20):
                    for _ in range(self.rnd.randrange(1, 4)):
                        at = datetime.combine(monday + timedelta(days=day), datetime.min.time(), zone).timestamp() + \
                            hour * 3600 + self.rnd.uniform(0, 3600)
                        topic = self.rnd.choices(names, weights)[0]
                        self.start(at, self.api_ticket(topic, f"cust-{self.rnd.randrange(900):04d}"))

    async def count(self, conversation: str, topic: str) -> None:
        day = time.strftime("%Y-%m-%d", time.gmtime(self.clock.now))  # the bot counts per UTC day
        await self.store.r.pfadd(CONVERSATIONS_KEY + day, conversation)
        await self.store.r.pfadd(f"{TOPIC_KEY}{day}:{topic}", conversation)

    async def conversation(self, topic: str, customer: str) -> AsyncIterator[float]:
        self.n += 1
        conv = f"week-{self.n:05d}"
        await self.count(conv, topic)
        self.log("conversation", conversation=conv, customer=customer, topic=topic)
        _, handoff_share, resolved_share, _ = TOPICS[topic]
        if self.rnd.random() >= handoff_share:
            return
        yield self.clock.now + self.rnd.uniform(40, 240)
        tier = "gold" if self.rnd.random() < 0.08 else "none"
        created = await self.service.create(request(conv, f"id-{customer}", topic, tier, self.clock.now))
        e = created.escalation
        self.log("handoff", escalation=e.id, conversation=conv, customer=customer, topic=topic, group=e.skill_group,
                 priority=e.priority, triggers=list(TOPICS[topic][3]), status=e.status.value)
        if e.status != Status.OFFERED:
            raise RuntimeError(f"the bench's agents should take every chat at once: {e.id} is {e.status.value}")
        wait = self.rnd.lognormvariate(2.2, 0.7)  # median about 9 s
        if self.rnd.random() < 0.03:
            yield self.clock.now + min(wait, 600)
            await self.service.abandon(e.id)
            self.log("abandoned", escalation=e.id)
            return
        async for step in self.person(e.id, e.created_at, wait, resolved_share, topic):
            yield step

    async def person(self, eid: str, created_at: float, wait: float, resolved_share: float,
                     topic: str) -> AsyncIterator[float]:
        yield self.clock.now + wait
        agent = (await self.store.get(eid)).agent_id or ""
        await self.service.accept(Caller("agent", agent, "agent"), eid)
        self.log("accepted", escalation=eid, agent=agent)
        yield self.clock.now + self.rnd.lognormvariate(1.6, 0.5)
        await self.service.message(Caller("agent", agent, "agent"), eid, "Hello, I am looking at it now.")
        self.log("agent_message", escalation=eid, agent=agent)
        first_response = self.clock.now - created_at
        if first_response >= WARN_SHARE * FIRST_RESPONSE:
            await self.sla(f"chat:{eid}", "sla_warning", "first_response", created_at + WARN_SHARE * FIRST_RESPONSE,
                           FIRST_RESPONSE)
        if first_response >= FIRST_RESPONSE:
            await self.sla(f"chat:{eid}", "sla_breach", "first_response", created_at + FIRST_RESPONSE, FIRST_RESPONSE)
        if self.rnd.random() < 0.08:
            yield self.clock.now + self.rnd.uniform(60, 300)
            to_group = self.rnd.choice([g for g in GROUPS if g != (await self.store.get(eid)).skill_group])
            await self.service.transfer(Caller("agent", SUPERVISOR[0], "supervisor"), eid, to_group, None,
                                        "needs another team")
            self.log("transferred", escalation=eid, to_group=to_group)
            yield self.clock.now + self.rnd.uniform(5, 40)
            agent = (await self.store.get(eid)).agent_id or ""
            await self.service.accept(Caller("agent", agent, "agent"), eid)
            self.log("accepted", escalation=eid, agent=agent)
        yield self.clock.now + self.rnd.uniform(120, 1500)
        resolved = self.rnd.random() < resolved_share
        e = await self.service.finish(Caller("agent", agent, "agent"), eid, Status.CLOSED,
                                      "answered" if resolved else "other",
                                      {"resolved": resolved, "wrap_up": "answered" if resolved else "other"})
        self.log("closed", escalation=eid, agent=agent, resolved=resolved, group=e.skill_group)
        if not resolved and self.rnd.random() < 0.6:
            t, _ = await self.tickets.from_escalation(eid, agent, "agent", why="not solved in the chat",
                                                      assignee=agent)
            self.log("ticket_from_chat", ticket=t.id, escalation=eid, group=t.group)
            self.start(self.clock.now + self.rnd.uniform(600, 7200), self.ticket_work(t.id, agent, topic, False))
        if self.rnd.random() < 0.5:
            yield self.clock.now + self.rnd.uniform(30, 600)
            said = resolved and self.rnd.random() > 0.1
            rating = self.rnd.choice([4, 5]) if said else self.rnd.choice([1, 2, 3])
            comment = "" if said else self.rnd.choice(["still not fixed", "=HYPERLINK(\"x\")", "no answer yet"])
            await self.service.survey(eid, {"resolved": said, "rating": rating, "comment": comment})
            self.log("survey", escalation=eid, resolved=said, rating=rating, comment=comment)

    async def api_ticket(self, topic: str, customer: str) -> AsyncIterator[float]:
        t, _ = await self.tickets.open_ticket(
            subject=f"About {topic.replace('_', ' ')}", requester={"customer_id": f"id-{customer}"}, by="bot",
            source="api", group="general", brief={"topics": [topic]}, tags=[topic])
        self.log("ticket_created", ticket=t.id, label=t.label, customer=customer, topic=topic, group=t.group,
                 priority=t.priority, source="api")
        yield self.clock.now + self.rnd.uniform(1800, 4 * 3600)
        agent = self.rnd.choice(AGENTS)[0]
        await self.tickets.claim(Caller("agent", agent, "agent"), t.label)
        self.log("ticket_claimed", ticket=t.id, agent=agent)
        async for step in self.ticket_work(t.id, agent, topic, True):
            yield step

    async def ticket_work(self, ticket_id: str, agent: str, topic: str, fresh: bool) -> AsyncIterator[float]:
        me = Caller("agent", agent, "agent")
        t = await self.store.ticket(ticket_id)
        await self.tickets.reply(me, t.label, "We are on it.", "open")
        self.log("ticket_reply", ticket=ticket_id)
        if self.rnd.random() < 0.3:
            other = self.rnd.choice([g for g in GROUPS if g not in (t.group, "vip")])
            yield self.clock.now + self.rnd.uniform(600, 3600)
            await self.tickets.send(me, t.label, "please check", other)
            self.log("ticket_sent", ticket=ticket_id, to_group=other)
            yield self.clock.now + self.rnd.uniform(3600, 6 * 3600)
            await self.tickets.send(Caller("agent", SUPERVISOR[0], "supervisor"), t.label, "done here", t.owner_group)
            self.log("ticket_sent", ticket=ticket_id, to_group=t.owner_group)
        yield self.clock.now + self.rnd.uniform(1800, 3 * 86400)
        await self.tickets.set_state(me, t.label, "solved")
        self.log("ticket_solved", ticket=ticket_id)
        created = t.created_at
        if self.clock.now - created > TICKET_RESOLUTION:
            await self.sla(f"ticket:{ticket_id}", "sla_breach", "resolution", created + TICKET_RESOLUTION,
                           TICKET_RESOLUTION)
        if self.rnd.random() < 0.15:
            yield self.clock.now + self.rnd.uniform(3600, 2 * 86400)
            await self.tickets.customer_message(t.label, "it broke again", "chat", f"again-{ticket_id}")
            self.log("ticket_reopened", ticket=ticket_id)
            yield self.clock.now + self.rnd.uniform(3600, 86400)
            await self.tickets.set_state(me, t.label, "solved")
            self.log("ticket_solved", ticket=ticket_id)


async def replay(redis_url: str, week: str, seed: int, events: Path, prefix: str = "{ho}:") -> Dict[str, Any]:
    """Generate the week into the Redis at ``redis_url``; the raw events go to ``events`` (JSONL)."""
    store = RedisStore.from_url(redis_url, prefix)
    monday = monday_of(week)
    try:
        with events.open("w", encoding="utf-8") as out:
            w = Week(store, seed, out)
            w.clock.now = datetime.combine(monday, datetime.min.time(), ZoneInfo(TZ)).timestamp() - 3600
            out.write(json.dumps({"type": "week", "week": week, "seed": seed, "timezone": TZ,
                                  "first_response_target": FIRST_RESPONSE}) + "\n")
            await w.staff()
            w.plan(monday)
            started = time.monotonic()
            await w.run()
            return {"week": week, "seed": seed, "conversations": w.n, "seconds": round(time.monotonic() - started, 1)}
    finally:
        await store.close()


def stack_redis_url(env: Dict[str, str]) -> str:
    """The Redis of the stack ``./run`` starts: REDIS_URL / HANDOFF_REDIS_URL, else the embedded one (REDIS_PORT,
    default 6379) with the password kept in <BOT_DATA_DIR>/secrets.env (bot/run_secrets.py)."""
    given = env.get("REDIS_URL") or env.get("HANDOFF_REDIS_URL")
    if given:
        return given
    secrets = Path(env.get("BOT_DATA_DIR") or Path(__file__).resolve().parent.parent / ".data") / "secrets.env"
    password = ""
    if secrets.exists():
        for line in secrets.read_text().splitlines():
            key, _, value = line.partition("=")
            if key.strip() == "REDIS_PASSWORD":
                password = value.strip()
    auth = f":{password}@" if password else ""
    return f"redis://{auth}127.0.0.1:{env.get('REDIS_PORT', '6379')}/0"


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--week", default=last_full_week(time.time()), help="ISO week, e.g. 2026-W48")
    parser.add_argument("--seed", type=int, default=14)
    parser.add_argument("--events", type=Path, default=Path("artifacts/week-events.jsonl"))
    parser.add_argument("--redis-url", default=None, help="default: the stack's Redis (see stack_redis_url)")
    args = parser.parse_args(argv)
    args.events.parent.mkdir(parents=True, exist_ok=True)
    done = asyncio.run(replay(args.redis_url or stack_redis_url(dict(os.environ)), args.week, args.seed, args.events))
    print(json.dumps(done))
    first = monday_of(args.week)
    print(f"raw events: {args.events}\nthe dashboard's report: /dashboard/#reports={first}..{first + timedelta(days=6)}"
          f"\nthe weekly report: /reports/weekly/?week={args.week}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
