"""The Redis keys the parts of the bridge share: which conversations a person has or gets, what their customers
were last told, and the leader lock. Each part's own keys live beside it (bot/bridge/forwarding.py,
bot/bridge/outbox.py, bot/bridge/tickets.py, bot/bridge/surveys.py, bot/bridge/presence.py)."""
from __future__ import annotations

ACTIVE = "{shop}:handoff:active"  # hash conversation id -> escalation id, while a person has or gets the chat
PENDING = "pending"  # ACTIVE's value while the handoff request waits in the outbox (actions/delivery.py)
POSITION = "{shop}:handoff:position"  # hash conversation id -> the queue position the customer was last told
LEFT = "{shop}:handoff:left"  # zset conversation id -> when its last web-chat socket went away
AGENT_NAMES = "{shop}:handoff:agent_names"  # hash conversation id -> {"id", "name"} of the agent who has the chat
LEADER = "{shop}:handoff:bridge"  # the lock of the one bridge (of all the Rasa servers') that does the work
CONVERSATIONS_PER_DAY = "{shop}:stats:conversations:"  # + UTC day: HyperLogLog of the conversations customers wrote in
