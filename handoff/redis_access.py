"""The Redis side of account access (handoff/access.py): epochs, disabled accounts, logged-out tokens and
login counters. Each state change is one Lua script run after redis_store's PRELUDE (its ``emit``), so the
event every service process reads is written in the same atomic step.

Keys (under the store's prefix):
  cred:<id>           hash    the account; fields ``epoch`` (tokens carry it) and ``disabled`` ("1") here
  revoked:<id>        zset    the agent's logged-out token ids by expiry (pruned on each logout)
  login:agent:<id>    string  failed logins of the agent id in the current window (expires with it)
  login:addr:<addr>   string  failed logins from the client address in the current window
"""
from __future__ import annotations

from typing import Any, Optional

from handoff.account_steps import AccountAccess, LoginLimits

SET_DISABLED = """
local aid, disabled, epoch, now, by = ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]
local ck = P .. 'cred:' .. aid
if redis.call('EXISTS', ck) == 0 then return 0 end
if disabled == '1' then
  redis.call('HSET', ck, 'disabled', '1', 'epoch', epoch)
else
  redis.call('HDEL', ck, 'disabled')
end
emit(aid, {type = 'agent_access', agent = aid, access = disabled == '1' and 'disabled' or 'enabled', by = by,
           at = tonumber(now)})
return 1
"""

REMOVE_ACCOUNT = """
local aid, now, by = ARGV[2], ARGV[3], ARGV[4]
local ck = P .. 'cred:' .. aid
if redis.call('EXISTS', ck) == 0 then return 0 end
redis.call('DEL', ck, P .. 'revoked:' .. aid)
redis.call('SREM', P .. 'accounts', aid)
if redis.call('HGET', P .. 'agent:' .. aid, 'status') == 'offline' then redis.call('DEL', P .. 'agent:' .. aid) end
emit(aid, {type = 'agent_access', agent = aid, access = 'removed', by = by, at = tonumber(now)})
return 1
"""

REVOKE_TOKEN = """
local aid, jti, expires, now = ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local rk = P .. 'revoked:' .. aid
redis.call('ZREMRANGEBYSCORE', rk, '-inf', now)
redis.call('ZADD', rk, expires, jti)
local last = redis.call('ZRANGE', rk, -1, -1, 'WITHSCORES')
redis.call('EXPIREAT', rk, math.ceil(tonumber(last[2])) + 1)
emit(aid, {type = 'token_revoked', agent = aid, jti = jti, at = tonumber(now)})
return 1
"""

START_EPOCH = """
local ck = P .. 'cred:' .. ARGV[2]
if redis.call('EXISTS', ck) == 0 then return '' end
redis.call('HSETNX', ck, 'epoch', ARGV[3])
return redis.call('HGET', ck, 'epoch')
"""

# KEYS: the agent's and the address's counters. ARGV: max per agent, max per address, window seconds.
LOGIN_ATTEMPT = """
local wait = 0
for i = 1, 2 do
  local n = tonumber(redis.call('GET', KEYS[i]) or '0')
  if n >= tonumber(ARGV[i]) then wait = math.max(wait, redis.call('TTL', KEYS[i]), 1) end
end
if wait > 0 then return wait end
for i = 1, 2 do
  if redis.call('INCR', KEYS[i]) == 1 then redis.call('EXPIRE', KEYS[i], ARGV[3]) end
end
return 0
"""

LOGIN_SUCCEEDED = """
for i = 1, 2 do
  if tonumber(redis.call('GET', KEYS[i]) or '0') > 0 then redis.call('DECR', KEYS[i]) end
end
return 1
"""

# Run after redis_store's PRELUDE (P, emit).
SCRIPTS = {"set_disabled": SET_DISABLED, "remove_account": REMOVE_ACCOUNT, "revoke_token": REVOKE_TOKEN,
           "start_epoch": START_EPOCH}
# Stand-alone (KEYS and ARGV only).
PLAIN = {"login_attempt": LOGIN_ATTEMPT, "login_succeeded": LOGIN_SUCCEEDED}


class RedisAccess:
    """Mixed into RedisStore: needs ``self.r``, ``self.p``, ``self._run`` and ``self._plain``."""

    r: Any
    p: str
    _plain: Any

    async def _run(self, name: str, *args: Any) -> Any:  # pragma: no cover - RedisStore's
        raise NotImplementedError

    async def account_access(self, agent_id: str, now: float) -> Optional[AccountAccess]:
        async with self.r.pipeline(transaction=False) as pipe:
            pipe.hmget(f"{self.p}cred:{agent_id}", "epoch", "disabled", "role")
            pipe.zrangebyscore(f"{self.p}revoked:{agent_id}", f"({now!r}", "+inf")
            (epoch, disabled, role), revoked = await pipe.execute()
        if role is None:
            return None
        return AccountAccess(epoch or "", disabled == "1", frozenset(revoked))

    async def start_epoch(self, agent_id: str, epoch: str) -> str:
        return await self._run("start_epoch", agent_id, epoch)

    async def set_disabled(self, agent_id: str, disabled: bool, epoch: str, now: float, by: str) -> bool:
        return bool(int(await self._run("set_disabled", agent_id, "1" if disabled else "0", epoch, repr(now), by)))

    async def remove_account(self, agent_id: str, now: float, by: str) -> bool:
        return bool(int(await self._run("remove_account", agent_id, repr(now), by)))

    async def revoke_token(self, agent_id: str, jti: str, expires: float, now: float) -> None:
        await self._run("revoke_token", agent_id, jti, repr(float(expires)), repr(now))

    def _login_keys(self, agent_id: str, address: str) -> list:
        return [f"{self.p}login:agent:{agent_id}", f"{self.p}login:addr:{address}"]

    async def login_attempt(self, agent_id: str, address: str, now: float, limits: LoginLimits) -> int:
        return int(await self._plain["login_attempt"](keys=self._login_keys(agent_id, address),
                                                      args=[limits.per_agent, limits.per_address,
                                                            limits.window_seconds]))

    async def login_succeeded(self, agent_id: str, address: str) -> None:
        await self._plain["login_succeeded"](keys=self._login_keys(agent_id, address), args=[])
