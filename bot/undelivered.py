"""What the handoff service refused, parked for a person (common/undelivered.py), from the command line:

    python -m bot.undelivered list [--conversation ID]     one line per item, oldest first
    python -m bot.undelivered replay [--conversation ID]   move the items back to their outbox (after a fix)

A replayed item is sent by the Rasa server's bridge like any item of the outbox: a handoff request reaches the
team and the customer is told where it stands; a survey answer is stored. Reads REDIS_URL (the run command's
Redis: ``.run/run.json`` says which).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from typing import List, Optional

import redis

from common.redis_config import RedisMismatch, outbox_redis_url
from common.undelivered import OUTBOXES, UNDELIVERED, describe

# Move one entry back to its outbox, atomically: it is in exactly one of the two lists at any moment.
REPLAY = """
if redis.call('LREM', KEYS[1], 1, ARGV[1]) == 1 then redis.call('RPUSH', KEYS[2], ARGV[2]) return 1 end
return 0
"""


def entries(client: "redis.Redis", conversation: Optional[str] = None) -> List[str]:
    """The raw entries, oldest first; only those of `conversation` (or of its escalation) when given."""
    raw = client.lrange(UNDELIVERED, 0, -1)
    if conversation is None:
        return raw
    return [r for r in raw if conversation in (describe(r).get("conversation_id"), describe(r).get("escalation"))]


def replay(client: "redis.Redis", conversation: Optional[str] = None) -> int:
    """Move the entries (of `conversation`) back to their outbox; how many were moved."""
    script = client.register_script(REPLAY)
    moved = 0
    for raw in entries(client, conversation):
        entry = json.loads(raw)
        if entry.get("kind") in OUTBOXES and isinstance(entry.get("item"), dict):
            moved += script(keys=[UNDELIVERED, OUTBOXES[entry["kind"]]], args=[raw, json.dumps(entry["item"])])
    return moved


def line(raw: str) -> str:
    d = describe(raw)
    who = d.get("conversation_id") or d.get("escalation") or "?"
    return f"{d.get('at', '?')}  {d.get('kind', '?'):8} {who}  {d.get('status')}  {d.get('error', '')}"


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
    client = redis.Redis.from_url(url, decode_responses=True)
    if args.command == "list":
        found = entries(client, args.conversation)
        for raw in found:
            print(line(raw))
        print(f"{len(found)} undelivered item(s) in {UNDELIVERED}", file=sys.stderr)
        return 0
    moved = replay(client, args.conversation)
    print(f"moved {moved} item(s) back to the outbox; the Rasa server's bridge sends them now", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
