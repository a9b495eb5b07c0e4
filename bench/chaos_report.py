"""Counting for the soak with faults (bench/chaos.py): what each side saw, against the tracker and the
handoff service's records, as figures, a table and a verdict."""
from __future__ import annotations

import json
from collections import Counter, defaultdict
from typing import Any, Dict, Iterable, List, Set

import aiohttp
import redis

from bench.chaos_agent import Agent
from bench.chaos_customer import Customer
from bench.chaos_people import tag_of
from bench.latency import percentile
from tests.handoff.agents import Endpoints, call

TRACKER = "shop:tracker:"  # endpoints.yml: the Redis tracker store, key_prefix "shop"
CREATED = "{ho}:created"  # handoff/redis_store.py: every escalation id, by creation time


def tracker_tags(client: "redis.Redis", conversation: str) -> Dict[str, Counter]:
    raw = client.get(TRACKER + conversation)
    events = json.loads(raw)["events"] if raw else []
    tags: Dict[str, Counter] = {"user": Counter(), "bot": Counter()}
    for e in events:
        if e.get("event") in tags:
            is_answer, mid = tag_of(str(e.get("text") or ""))
            if mid and is_answer == (e["event"] == "bot"):
                tags[e["event"]][mid] += 1
    return tags


def delays(pairs: Iterable[float]) -> Dict[str, float]:
    values = [v * 1000 for v in pairs]
    if not values:
        return {"count": 0}
    return {"count": len(values), "p50_ms": round(percentile(values, 50)), "p99_ms": round(percentile(values, 99)),
            "max_ms": round(max(values))}


def double_assigned(record: Dict[str, Any], accepted_by: List[str]) -> bool:
    """Two agents held the chat at once: accepted by more than one agent with no step in between that
    took it from the first (an expired offer, a transfer, a lost agent put it back in the queue)."""
    if len(set(accepted_by)) < 2:
        return False
    statuses = [h.get("status") for h in record.get("history", [])]
    return any(a == b == "assigned" for a, b in zip(statuses, statuses[1:]))


async def count(stack: Any, session: aiohttp.ClientSession, base: str, supervisor: str,
                customers: List[Customer], agents: List[Agent]) -> Dict[str, Any]:
    client = redis.Redis.from_url(stack.redis_url, socket_timeout=10)
    user_tags: Counter = Counter()
    bot_tags: Counter = Counter()
    for c in customers:
        for conversation in set(c.conversations.values()):
            tags = tracker_tags(client, conversation)
            user_tags.update(tags["user"])
            bot_tags.update(tags["bot"])
    records: Dict[str, List[Dict[str, Any]]] = defaultdict(list)
    endpoints = Endpoints([base])
    for eid in client.zrange(CREATED, 0, -1):
        code, record = await call(session, endpoints, "GET", f"/v1/handoffs/{eid.decode()}", supervisor)
        if code == 200:
            records[record["conversation_id"]].append(record)
    parked = {key.decode(): client.llen(key) for pattern in ("shop:handoff:*rejected*", "shop:handoff:*dead*")
              for key in client.scan_iter(pattern) if client.type(key) == b"list"}
    client.close()

    sent = {m: t for c in customers for m, t in c.sent.items()}
    typed = {m for c in customers for m in c.typed}
    first_seen: Dict[str, float] = {}
    seen_count: Counter = Counter()
    live_events: Counter = Counter()
    for a in agents:
        for m, t in a.seen.items():
            first_seen[m] = min(t, first_seen.get(m, t))
        seen_count.update({f"{a.id} {k}": n for k, n in a.seen_raw.items()})  # per agent and chat
        live_events.update({f"{a.id} {k}": n for k, n in a.live_events.items()})
    posted = {aid: t for a in agents for aid, t in a.answered.items() if aid in a.answer_ok}
    failed = {m: why for a in agents for m, why in a.answer_failed.items()}
    shown = {m: s for c in customers for m, s in c.shown.items()}
    raw_dups = sum(len(s) - 1 for s in shown.values() if len(s) > 1)
    deduped_dups = 0
    for showings in shown.values():
        ids = [s.message_id for s in showings]
        deduped_dups += len(set(i for i in ids if i)) + sum(1 for i in ids if not i) - 1 if len(ids) > 1 else 0

    requested = [(c, key) for c in customers for key in c.requested]
    told = {key for c in customers for key in c.told_no_agent}
    accepted_by: Dict[str, List[str]] = defaultdict(list)
    for a in agents:
        for eid in a.accepted:
            accepted_by[eid].append(a.id)
    created = assigned = created_twice = doubles = reassigned = 0
    never: List[str] = []
    for c, key in requested:
        found = records.get(c.conversations.get(key, ""), [])
        created += bool(found)
        created_twice += len(found) > 1
        got = [r for r in found if any(h.get("status") == "assigned" for h in r.get("history", []))]
        assigned += bool(got)
        doubles += (len(got) > 1) + sum(double_assigned(r, accepted_by[r["id"]]) for r in got)
        reassigned += sum(sum(h.get("status") == "assigned" for h in r.get("history", [])) > 1 for r in got)
        if not got and key not in told:
            never.append(f"{key} ({c.conversations.get(key, '?')}): "
                         + (", ".join(r["status"] for r in found) or "no escalation"))

    lost_tracker = sorted(m for m in sent if not user_tags[m])
    lost_agent = sorted(m for m in sent if m not in first_seen)
    lost_customer = sorted(a[2:] for a in posted if a[2:] not in shown)
    return {
        "customer_messages": {
            "typed": len(typed), "sent": len(sent), "never_sent": sorted(typed - set(sent)),
            "in_tracker": sum(1 for m in sent if user_tags[m]), "seen_by_agent": sum(1 for m in sent if m in first_seen),
            "lost_before_tracker": lost_tracker, "lost_before_agent": lost_agent,
            "stored_twice_in_tracker": sum(n - 1 for n in user_tags.values() if n > 1),
            "shown_twice_to_agent": sum(n - 1 for n in seen_count.values() if n > 1),
            "duplicate_websocket_events": sum(n - 1 for n in live_events.values() if n > 1),
            "delay": delays(first_seen[m] - sent[m] for m in sent if m in first_seen)},
        "agent_messages": {
            "sent": len(posted), "send_failed": failed, "post_retries": sum(a.post_retries for a in agents),
            "in_tracker": sum(1 for a in posted if bot_tags[a[2:]]), "seen_by_customer": len(posted) - len(lost_customer),
            "lost": lost_customer, "shown_twice_raw": raw_dups, "shown_twice_after_dedupe": deduped_dups,
            "shown_twice": {m: [f"{x.via} id={x.message_id}" for x in s] for m, s in shown.items() if len(s) > 1},
            "stored_twice_in_tracker": sum(n - 1 for n in bot_tags.values() if n > 1),
            "shown_via_history": sum(1 for s in shown.values() if any(x.via == "history" for x in s)),
            "delay": delays(min(x.at for x in shown[a[2:]]) - posted[a] for a in posted if a[2:] in shown)},
        "handoffs": {
            "requested": len(requested), "told_no_agent": len(told), "created": created,
            "created_twice": created_twice, "assigned": assigned, "never_assigned": never,
            "double_assigned": doubles, "reassigned": reassigned,
            "accepted": sum(len(a.accepted) for a in agents), "closed": sum(len(a.closed) for a in agents)},
        "parked_for_a_person": parked,
        "conversations": {key: conv for c in customers for key, conv in c.conversations.items()},
        "connections": {"customer_reconnects": sum(c.reconnects for c in customers),
                        "customer_resends": sum(c.resends for c in customers),
                        "customer_new_handle_forced": sum(c.new_handle_forced for c in customers),
                        "customer_told_to_type_again": sum(c.told_retype for c in customers),
                        "agent_reconnects": sum(a.reconnects for a in agents)},
    }


def verdict(f: Dict[str, Any], killable: Iterable[str], kills_each: int) -> List[str]:
    cm, am, h = f["customer_messages"], f["agent_messages"], f["handoffs"]
    problems = []
    for label, n in (("customer messages never sent (still in the widget's outbox)", len(cm["never_sent"])),
                     ("customer messages lost before the tracker", len(cm["lost_before_tracker"])),
                     ("customer messages never seen by an agent", len(cm["lost_before_agent"])),
                     ("customer messages shown twice to an agent", cm["shown_twice_to_agent"]),
                     ("agent messages that could not be sent", len(am["send_failed"])),
                     ("agent messages never shown to the customer", len(am["lost"])),
                     ("agent messages shown twice after dedupe", am["shown_twice_after_dedupe"]),
                     ("handoffs requested and never assigned", len(h["never_assigned"])),
                     ("handoffs double-assigned", h["double_assigned"])):
        if n:
            problems.append(f"{n} {label}")
    kills = f["run"]["kills"]
    short = [k for k in killable if kills.get(k, 0) < kills_each]
    if short:
        problems.append("not killed as planned: " + ", ".join(f"{k} {kills.get(k, 0)}x" for k in short))
    return problems


def print_report(f: Dict[str, Any]) -> None:
    cm, am, h, r = f["customer_messages"], f["agent_messages"], f["handoffs"], f["run"]
    rows = [
        ("customer messages", f"typed {cm['typed']}, sent {cm['sent']}, in tracker {cm['in_tracker']}, "
         f"seen by agent {cm['seen_by_agent']}", len(cm["never_sent"]) + len(set(cm["lost_before_tracker"])
                                                                             | set(cm["lost_before_agent"])),
         f"to agent {cm['shown_twice_to_agent']} (WS events {cm['duplicate_websocket_events']}), "
         f"tracker {cm['stored_twice_in_tracker']}", cm["delay"].get("max_ms", "-")),
        ("agent messages", f"sent {am['sent']} (failed {len(am['send_failed'])}), in tracker {am['in_tracker']}, "
         f"seen by customer {am['seen_by_customer']} ({am['shown_via_history']} via history)",
         len(am["lost"]) + len(am["send_failed"]),
         f"raw {am['shown_twice_raw']}, after dedupe {am['shown_twice_after_dedupe']}, tracker "
         f"{am['stored_twice_in_tracker']}", am["delay"].get("max_ms", "-")),
        ("handoffs", f"requested {h['requested']}, created {h['created']} (twice {h['created_twice']}), assigned "
         f"{h['assigned']}, told no agent {h['told_no_agent']}, reassigned {h['reassigned']}",
         len(h["never_assigned"]), f"double-assigned {h['double_assigned']}", "-"),
    ]
    print("\n| what | counted | lost | shown / assigned twice | longest delay ms |\n|---|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(str(x) for x in row) + " |")
    print(f"\nfaults: " + "; ".join(f"{'+'.join(x['names']) if len(x['names']) < 5 else 'ALL'} killed at "
                                  f"{x['killed_at']} s, ready at {x['ready_at']} s" for x in r["faults"]))
    print(f"parked for a person (not retried): {f['parked_for_a_person'] or 'nothing'}")
    print(f"kills: {r['kills']}; exited by themselves: {r['crashes'] or 'none'}; reconnects: {f['connections']}")
    for label, items in (("lost before the tracker", cm["lost_before_tracker"]),
                         ("never seen by an agent", cm["lost_before_agent"]), ("never sent", cm["never_sent"]),
                         ("agent answers never shown", am["lost"]), ("never assigned", h["never_assigned"]),
                         ("agent answers shown twice", [f"{m} ({', '.join(v)})" for m, v in am["shown_twice"].items()])):
        if items:
            print(f"{label} ({len(items)}): {', '.join(items[:12])}{' ...' if len(items) > 12 else ''}")
    print(f"\nsummary: {cm['sent']} customer and {am['sent']} agent messages, {h['requested']} handoffs, "
          f"{sum(r['kills'].values())} SIGKILLs; lost {len(set(cm['lost_before_tracker']) | set(cm['lost_before_agent'])) + len(am['lost'])}"
          f", double-assigned {h['double_assigned']}, shown twice after dedupe "
          f"{am['shown_twice_after_dedupe'] + cm['shown_twice_to_agent']}; drained at {r['drained_at_seconds']} s")
