"""Whether an agent's token still counts, answered per process without Redis on almost every request.

A token counts while its account exists, is not disabled, has the epoch the token carries (disabling
gives the account a new one, so enabling it again does not bring old tokens back; a removed and re-added
account gets a new one at its first login), and the token was not logged out. Each process keeps what
decides this per agent (``AccountAccess``: one small pipeline of two reads) for at most ``ttl`` seconds;
every change (``agent_access``, ``token_revoked``) is an event on the stream every process already
reads, and ``on_event`` drops the agent's entry at once, so the next request reads the new state. A
request then costs the JWT check and a dictionary lookup; Redis is read once per agent per ``ttl`` per
process, or after a change. The ``ttl`` bounds how long a change is missed if an event were lost.
While Redis cannot be reached, the last state read is used (no change can be made without Redis; an
agent with none read yet gets the 503).
"""
from __future__ import annotations

import time
from typing import Any, Callable, Dict, Mapping, Optional, Tuple, Type

from handoff.account_steps import AccountAccess
from handoff.auth import Caller, Forbidden, Unauthorized
from handoff.store import Store

EVENTS = ("agent_access", "token_revoked")


class Access:
    def __init__(self, store: Store, ttl: float = 5.0, clock: Callable[[], float] = time.monotonic,
                 wall: Callable[[], float] = time.time, unavailable: Tuple[Type[BaseException], ...] = ()) -> None:
        self.store = store
        self.unavailable = unavailable
        self.ttl = ttl
        self.clock = clock
        self.wall = wall
        self._cache: Dict[str, Tuple[float, Optional[AccountAccess]]] = {}

    async def check(self, caller: Caller) -> None:
        """Unauthorized (removed account, another epoch, logged out) or Forbidden (disabled account);
        nothing for the bot's token."""
        if caller.kind != "agent" or caller.agent_id is None:
            return
        now = self.clock()
        hit = self._cache.get(caller.agent_id)
        if hit is None or now - hit[0] > self.ttl:
            try:
                hit = (now, await self.store.account_access(caller.agent_id, self.wall()))
            except self.unavailable:
                if hit is None:
                    raise
            else:
                self._cache[caller.agent_id] = hit
        access = hit[1]
        if access is None:
            raise Unauthorized("this agent account no longer exists")
        if access.disabled:
            raise Forbidden("this agent account is disabled: ask a supervisor")
        if caller.epoch != access.epoch:
            raise Unauthorized("this session was ended (the account was disabled, or the token predates it): "
                               "log in again")
        if caller.jti in access.revoked:
            raise Unauthorized("logged out: log in again")

    def forget(self, agent_id: str) -> None:
        self._cache.pop(agent_id, None)

    def on_event(self, data: Mapping[str, Any]) -> Optional[Tuple[str, int, str, Optional[str]]]:
        """For an access event: forget the agent's entry and say which of their WebSockets to close:
        (agent, close code, message, token id or None for all of them). None for any other event, and for
        an account enabled again (its sessions ended when it was disabled)."""
        if data.get("type") not in EVENTS or not data.get("agent"):
            return None
        agent_id = str(data["agent"])
        self.forget(agent_id)
        if data["type"] == "token_revoked":
            return agent_id, 4401, "logged out", str(data.get("jti") or "")
        access = data.get("access")
        if access == "disabled":
            return agent_id, 4403, f"the account was disabled by {data.get('by') or 'a supervisor'}", None
        if access == "removed":
            return agent_id, 4401, "the account was removed", None
        return None
