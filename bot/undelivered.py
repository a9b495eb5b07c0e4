"""What did not reach its destination, parked for a person (common/undelivered.py), from the command line:
requests and survey answers the handoff service refused (``{shop}:handoff:undelivered``), and events of its
stream the bridge failed to handle, e.g. an agent's message it could not push (``{shop}:handoff:dead_events``).

    python -m bot.undelivered list [--conversation ID]     one line per item: the refused ones, then the events
    python -m bot.undelivered replay [--conversation ID]   hand the items on again (after a fix)

A replayed request is sent by the Rasa server's bridge like any item of the outbox: a handoff request reaches the
team and the customer is told where it stands; a survey answer is stored. A replayed event is written to the
service's event stream (``<HANDOFF_REDIS_PREFIX>events``, default ``{ho}:events``) again, addressed to no agent,
with the id it was first written under: the bridge handles it like a new event, under the same message ids, so a
customer who got the message after all drops the repeat; should it fail again, it is parked again. Reads
REDIS_URL (the run command's Redis: ``.run/run.json`` says which) and HANDOFF_REDIS_PREFIX.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any, Dict, List, Optional

import redis

from common.redis_config import RedisMismatch, outbox_redis_url, redis_client
from common.redis_slots import one_slot
from common.undelivered import DEAD_EVENTS, OUTBOXES, UNDELIVERED, describe, describe_dead, replayed

# Move one entry back to its outbox, atomically: it is in exactly one of the two lists at any moment.
REPLAY = """
if redis.call('LREM', KEYS[1], 1, ARGV[1]) == 1 then redis.call('RPUSH', KEYS[2], ARGV[2]) return 1 end
return 0
"""
# Hand one parked event back to the bridge, atomically: it is in the dead list or in the stream, never both.
REPLAY_EVENT = """
if redis.call('LREM', KEYS[1], 1, ARGV[1]) == 1 then return redis.call('XADD', KEYS[2], '*', unpack(ARGV, 2)) end
return false
"""


def entries(client: "redis.Redis", conversation: Optional[str] = None) -> List[str]:
    """The raw entries, the refused ones then the parked events, each oldest first; only those of
    `conversation` (or of its escalation) when given."""
    raw = client.lrange(UNDELIVERED, 0, -1) + client.lrange(DEAD_EVENTS, 0, -1)
    if conversation is None:
        return raw
    return [r for r in raw if conversation in (shown(r).get("conversation_id"), shown(r).get("escalation"))]


def is_event(raw: str) -> bool:
    """Whether an entry is a parked event (it has an "id" and no "kind"), not a refused request."""
    try:
        entry = json.loads(raw)
        return isinstance(entry, dict) and "kind" not in entry and "id" in entry
    except ValueError:
        return False


def shown(raw: str) -> Dict[str, Any]:
    return describe_dead(raw) if is_event(raw) else describe(raw)


def replay(client: "redis.Redis", conversation: Optional[str] = None, stream: str = "{ho}:events") -> int:
    """Move the entries (of `conversation`) back to their outbox, the events back to `stream`; how many."""
    to_outbox, to_stream = client.register_script(REPLAY), client.register_script(REPLAY_EVENT)
    moved = 0
    for raw in entries(client, conversation):
        entry = json.loads(raw)
        if is_event(raw):
            try:
                fields = replayed(entry)
            except ValueError as e:
                print(f"left {entry.get('id')}: {e}", file=sys.stderr)
                continue
            if not one_slot(client, DEAD_EVENTS, stream):
                moved += replay_across_slots(client, raw, fields, stream)
                continue
            args = [raw] + [x for pair in fields.items() for x in pair]
            moved += 1 if to_stream(keys=[DEAD_EVENTS, stream], args=args) else 0
        elif entry.get("kind") in OUTBOXES and isinstance(entry.get("item"), dict):
            moved += to_outbox(keys=[UNDELIVERED, OUTBOXES[entry["kind"]]], args=[raw, json.dumps(entry["item"])])
    return moved


def replay_across_slots(client: "redis.RedisCluster", raw: str, fields: Dict[str, str], stream: str) -> int:
    """On a Redis Cluster the dead list ({shop}) and the stream ({ho}) are on two slots, so no script over both:
    taken from the list (only one replay can take it), then added to the stream, or put back if that fails."""
    if client.lrem(DEAD_EVENTS, 1, raw) != 1:
        return 0
    try:
        client.xadd(stream, fields)
    except Exception:
        client.rpush(DEAD_EVENTS, raw)
        raise
    return 1


def line(raw: str) -> str:
    d = shown(raw)
    who = d.get("conversation_id") or d.get("escalation") or "?"
    answer = d.get("status") if d.get("kind") != "event" else d.get("event")
    return f"{d.get('at', '?')}  {d.get('kind', '?'):8} {who}  {answer}  {d.get('error', '')}"


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot.undelivered", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=("list", "replay"))
    parser.add_argument("--conversation", help="only the items of this conversation (or escalation) id")
    args = parser.parse_args(argv)
    try:
        url = outbox_redis_url(os.environ)
    except RedisMismatch as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if not url:
        print("error: REDIS_URL is not set (the run command's Redis: see .run/run.json)", file=sys.stderr)
        return 2
    client = redis_client(url, decode_responses=True)
    if args.command == "list":
        found = entries(client, args.conversation)
        for raw in found:
            print(line(raw))
        print(f"{len(found)} undelivered item(s) in {UNDELIVERED} and {DEAD_EVENTS}", file=sys.stderr)
        return 0
    moved = replay(client, args.conversation, os.environ.get("HANDOFF_REDIS_PREFIX", "{ho}:") + "events")
    print(f"moved {moved} item(s) back to the outbox or the event stream; the Rasa server's bridge sends them now",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
