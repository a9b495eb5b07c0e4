"""A Rasa lock store whose tickets are taken, checked and returned atomically in Redis.

Why: Rasa 3.6's ``RedisLockStore`` keeps a conversation's ticket queue as one JSON string and changes it with a
read-modify-write from the Rasa process (GET, change in Python, SET). Two Rasa servers that receive messages of
one conversation at the same instant can both read the empty queue and both take ticket 0, and so process the
two messages together (one reply is computed without the other message; one tracker save can overwrite the
other). Its release (remove my ticket, "anyone waiting?", DEL) and its waiters' clean-up of expired tickets are
read-modify-writes too: a waiter's ticket can be deleted (the waiter gives up with a LockError), or a released
ticket written back (the next message waits for that ticket to expire, 60 s).

Here each conversation's queue is ONE Redis hash, changed only by Lua scripts (atomic in Redis, one key per
script, so they also run on a Redis Cluster):

- ``<prefix>:ticketlock:<conversation id>``: field ``n`` = the last ticket number issued; one field per ticket
  waiting or served, ``<number> -> expiry`` (Unix ms, from Redis' own clock: every server agrees on it).
- issue: drop expired tickets, ``HINCRBY n``, add the ticket, keep the key alive as long as its newest ticket.
  Numbers follow the order in which the tickets reached Redis, and the lowest live ticket is served: arrival
  order. A new queue starts numbering at the current time in ms: a waiter whose ticket expired got it at least
  one lifetime ago, so its number is below every number of a queue started since (unless that old queue issued
  more tickets than the lifetime has ms), and it is refused rather than served.
- turn: drop expired tickets; -1 if my ticket is gone (expired: LockError, as in Rasa), else how many tickets are
  ahead of mine (0: mine to serve).
- release: remove my ticket and expired ones; delete the key when no ticket is left.

Waiting polls the turn script, starting at 2 ms and doubling up to 20 ms (never more than the caller's
``wait_time_in_seconds``), rather than Rasa's fixed 1 s: a customer's second quick message waits for the first
one, not for a second more. A separate key name (``ticketlock``, not Rasa's ``lock``) so that this store and
Rasa's never read each other's keys (a hash vs a JSON string) during a rolling upgrade.

Configured in endpoints.yml as ``lock_store: type: bot.lock_store.AtomicRedisLockStore`` with Rasa's Redis
settings (url, port, db, username, password, use_ssl, ssl_*, key_prefix, socket_timeout).
"""
from __future__ import annotations

import asyncio
import logging
import math
from collections import deque
from typing import Any, Optional

import redis
from rasa.core.lock import Ticket, TicketLock
from rasa.core.lock_store import (DEFAULT_SOCKET_TIMEOUT_IN_SECONDS, LOCK_LIFETIME, LockError, LockStore)
from rasa.utils.endpoints import EndpointConfig

from common.redis_config import cluster_enabled, redis_client, url_of

logger = logging.getLogger(__name__)

KEY_PART = "ticketlock:"
FIRST_POLL_SECONDS = 0.002
MAX_POLL_SECONDS = 0.02

# Shared head of every script: Redis' clock in ms (effects replication, so that TIME may precede writes on
# Redis < 7; Redis 7 always replicates effects), and the removal of expired tickets. Leaves `now`.
_PURGE = """
if redis.replicate_commands then redis.replicate_commands() end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local fields = redis.call('HGETALL', KEYS[1])
local live = {}
for i = 1, #fields, 2 do
  if fields[i] ~= 'n' then
    if tonumber(fields[i + 1]) <= now then
      redis.call('HDEL', KEYS[1], fields[i])
    else
      live[#live + 1] = tonumber(fields[i])
    end
  end
end
"""
# KEYS lock; ARGV lifetime in ms -> the new ticket's number
ISSUE = _PURGE + """
local lifetime = tonumber(ARGV[1])
if redis.call('HEXISTS', KEYS[1], 'n') == 0 then
  redis.call('HSET', KEYS[1], 'n', now)
end
local number = redis.call('HINCRBY', KEYS[1], 'n', 1)
redis.call('HSET', KEYS[1], number, now + lifetime)
if redis.call('PTTL', KEYS[1]) < lifetime then
  redis.call('PEXPIRE', KEYS[1], lifetime)
end
return number
"""
# KEYS lock; ARGV ticket -> -1 when the ticket is gone (expired), else the number of live tickets before it
TURN = _PURGE + """
local mine = tonumber(ARGV[1])
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then
  return -1
end
local ahead = 0
for _, number in ipairs(live) do
  if number < mine then ahead = ahead + 1 end
end
return ahead
"""
# KEYS lock; ARGV ticket -> the number of tickets left
RELEASE = _PURGE + """
local left = #live
if redis.call('HDEL', KEYS[1], ARGV[1]) == 1 then left = left - 1 end
if left <= 0 then redis.call('DEL', KEYS[1]) end
return left
"""


def lock_key(key_prefix: Optional[str], conversation_id: str) -> str:
    """The conversation's key: ``<prefix>:ticketlock:<id>`` (Rasa's rule: a non-alphanumeric prefix is ignored)."""
    if key_prefix and str(key_prefix).isalnum():
        return f"{key_prefix}:{KEY_PART}{conversation_id}"
    return KEY_PART + conversation_id


def poll_intervals(wait_time_in_seconds: float) -> Any:
    """Pauses between two looks at the queue: 2 ms doubling to 20 ms, never above the caller's wait time."""
    pause = FIRST_POLL_SECONDS
    while True:
        yield min(pause, wait_time_in_seconds)
        pause = min(pause * 2, MAX_POLL_SECONDS)


def connect(host: str = "localhost", port: Any = 6379, db: Any = 0, username: Optional[str] = None,
            password: Optional[str] = None, use_ssl: bool = False, ssl_certfile: Optional[str] = None,
            ssl_keyfile: Optional[str] = None, ssl_ca_certs: Optional[str] = None,
            socket_timeout: float = DEFAULT_SOCKET_TIMEOUT_IN_SECONDS) -> "redis.Redis[bytes]":
    """The Redis client, from Rasa's lock store settings (empty strings from unset variables count as unset); with
    REDIS_CLUSTER=1 a Redis Cluster client (common/redis_config.py): each conversation's queue is one key and
    each script touches that key only, so it runs on the key's master."""
    if cluster_enabled():
        return redis_client(url_of(host, port, username, password, bool(use_ssl)), cluster=True,
                            socket_timeout=float(socket_timeout))
    return redis.Redis(host=host or "localhost", port=int(port or 6379), db=int(db or 0),
                       username=username or None, password=password or None, ssl=bool(use_ssl),
                       ssl_certfile=ssl_certfile, ssl_keyfile=ssl_keyfile, ssl_ca_certs=ssl_ca_certs,
                       socket_timeout=float(socket_timeout))


class AtomicRedisLockStore(LockStore):
    """Rasa's ticket lock (one message of a conversation at a time, in arrival order) over Redis scripts that
    issue, check and return tickets atomically. Rasa builds it from endpoints.yml:
    ``AtomicRedisLockStore(endpoint_config=...)``; tests may pass ``client`` directly."""

    def __init__(self, endpoint_config: Optional[EndpointConfig] = None, client: Optional[redis.Redis] = None,
                 key_prefix: Optional[str] = None, **settings: Any) -> None:
        if endpoint_config is not None:
            settings = {**endpoint_config.kwargs, **settings}
            settings.setdefault("host", endpoint_config.url)
            key_prefix = key_prefix or settings.pop("key_prefix", None)
        settings.pop("key_prefix", None)
        self.red = client if client is not None else connect(**settings)
        self.key_prefix = key_prefix
        self._issue = self.red.register_script(ISSUE)
        self._turn = self.red.register_script(TURN)
        self._release = self.red.register_script(RELEASE)
        super().__init__()

    def key(self, conversation_id: str) -> str:
        return lock_key(self.key_prefix, conversation_id)

    # -- the three operations Rasa's `lock()` context manager uses ------------------------------------------
    def issue_ticket(self, conversation_id: str, lock_lifetime: float = LOCK_LIFETIME) -> int:
        """A ticket behind every live ticket of the conversation, valid for ``lock_lifetime`` seconds."""
        try:
            return int(self._issue(keys=[self.key(conversation_id)], args=[max(1, int(lock_lifetime * 1000))]))
        except redis.RedisError as e:
            raise LockError(f"Error while acquiring lock. Error:\n{e}") from e

    def tickets_ahead(self, conversation_id: str, ticket: int) -> int:
        """How many live tickets come before ``ticket`` (0: its turn); -1 when it has expired."""
        return int(self._turn(keys=[self.key(conversation_id)], args=[ticket]))

    async def _acquire_lock(self, conversation_id: str, ticket: int, wait_time_in_seconds: float) -> TicketLock:
        for pause in poll_intervals(wait_time_in_seconds):
            ahead = self.tickets_ahead(conversation_id, ticket)
            if ahead == 0:
                logger.debug(f"Acquired lock for conversation '{conversation_id}'.")
                # Rasa's callers ignore the lock they get: not read back (one round trip less per message)
                return TicketLock(conversation_id, deque([Ticket(ticket, math.inf)]))
            if ahead < 0:
                break
            await asyncio.sleep(pause)
        raise LockError(f"Could not acquire lock for conversation_id '{conversation_id}'.")

    def cleanup(self, conversation_id: str, ticket_number: int) -> None:
        """Return the ticket; the key goes when no ticket is left."""
        left = int(self._release(keys=[self.key(conversation_id)], args=[ticket_number]))
        if left == 0:
            self._log_deletion(conversation_id, True)

    # -- the rest of Rasa's LockStore interface, for callers that inspect or clear a queue --------------------
    def finish_serving(self, conversation_id: str, ticket_number: int) -> None:
        self.cleanup(conversation_id, ticket_number)

    def update_lock(self, conversation_id: str) -> None:
        """Expired tickets are dropped by every script; nothing else to do."""
        self.tickets_ahead(conversation_id, -1)

    def get_lock(self, conversation_id: str) -> Optional[TicketLock]:
        """The live tickets as Rasa's TicketLock (expiry in seconds), or None when there are none."""
        fields = self.red.hgetall(self.key(conversation_id))
        tickets = sorted((int(k), int(v) / 1000.0) for k, v in fields.items() if k not in (b"n", "n"))
        lock = TicketLock(conversation_id, deque(Ticket(n, expires) for n, expires in tickets))
        lock.remove_expired_tickets()
        return lock if lock.tickets else None

    def is_someone_waiting(self, conversation_id: str) -> bool:
        return self.get_lock(conversation_id) is not None

    def delete_lock(self, conversation_id: str) -> None:
        self._log_deletion(conversation_id, bool(self.red.delete(self.key(conversation_id))))

    def save_lock(self, lock: TicketLock) -> None:
        """Replace the conversation's queue with ``lock``'s tickets (one transaction on one key); the numbering
        continues after ``lock``'s last ticket. Rasa's own ``lock()`` never calls this here."""
        key = self.key(lock.conversation_id)
        with self.red.pipeline(transaction=True) as pipe:
            pipe.delete(key)
            if lock.tickets:
                pipe.hset(key, mapping={"n": lock.last_issued,
                                        **{str(t.number): int(t.expires * 1000) for t in lock.tickets}})
                pipe.pexpireat(key, int(max(t.expires for t in lock.tickets) * 1000))
            pipe.execute()
