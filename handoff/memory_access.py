"""The in-memory twin of handoff/redis_access.py: account epochs, disabled accounts, logged-out tokens and
login counters, with the same semantics (tests/handoff/test_store_contract.py holds both to them)."""
from __future__ import annotations

import math
from typing import Any, Dict, Optional, Tuple

from handoff.account_steps import AccountAccess, LoginLimits
from handoff.store import Agent


class MemoryAccess:
    """Mixed into MemoryStore: needs its ``_lock``, ``_accounts``, ``_agents`` and ``_emit``."""

    _lock: Any
    _accounts: Dict[str, Dict[str, str]]
    _agents: Dict[str, Agent]
    _revoked: Dict[str, Dict[str, float]]  # agent -> {logged-out token id: expiry}
    _login_counts: Dict[str, Tuple[int, float]]  # counter key -> (failures, window end)

    def _emit(self, to: Optional[str], data: Dict[str, Any]) -> None:  # pragma: no cover - MemoryStore's
        raise NotImplementedError

    async def account_access(self, agent_id: str, now: float) -> Optional[AccountAccess]:
        account = self._accounts.get(agent_id)
        if account is None:
            return None
        revoked = frozenset(j for j, exp in self._revoked.get(agent_id, {}).items() if exp > now)
        return AccountAccess(account.get("epoch", ""), account.get("disabled") == "1", revoked)

    async def start_epoch(self, agent_id: str, epoch: str) -> str:
        account = self._accounts.get(agent_id)
        if account is None:
            return ""
        return account.setdefault("epoch", epoch)

    async def set_disabled(self, agent_id: str, disabled: bool, epoch: str, now: float, by: str) -> bool:
        async with self._lock:
            account = self._accounts.get(agent_id)
            if account is None:
                return False
            if disabled:
                account.update(disabled="1", epoch=epoch)
            else:
                account.pop("disabled", None)
            self._emit(agent_id, {"type": "agent_access", "agent": agent_id,
                                  "access": "disabled" if disabled else "enabled", "by": by, "at": now})
            return True

    async def remove_account(self, agent_id: str, now: float, by: str) -> bool:
        async with self._lock:
            if self._accounts.pop(agent_id, None) is None:
                return False
            self._revoked.pop(agent_id, None)
            if agent_id in self._agents and self._agents[agent_id].status == "offline":
                del self._agents[agent_id]
            self._emit(agent_id, {"type": "agent_access", "agent": agent_id, "access": "removed", "by": by,
                                  "at": now})
            return True

    async def revoke_token(self, agent_id: str, jti: str, expires: float, now: float) -> None:
        async with self._lock:
            revoked = {j: exp for j, exp in self._revoked.get(agent_id, {}).items() if exp > now}
            revoked[jti] = float(expires)
            self._revoked[agent_id] = revoked
            self._emit(agent_id, {"type": "token_revoked", "agent": agent_id, "jti": jti, "at": now})

    def _counters(self, agent_id: str, address: str) -> Tuple[str, str]:
        return f"agent:{agent_id}", f"addr:{address}"

    async def login_attempt(self, agent_id: str, address: str, now: float, limits: LoginLimits) -> int:
        keys = self._counters(agent_id, address)
        live = {k: v for k in keys if (v := self._login_counts.get(k)) and v[1] > now}
        wait = 0
        for key, limit in zip(keys, (limits.per_agent, limits.per_address)):
            if key in live and live[key][0] >= limit:
                wait = max(wait, math.ceil(live[key][1] - now), 1)
        if wait:
            return wait
        for key in keys:
            count, ends = live.get(key, (0, now + limits.window_seconds))
            self._login_counts[key] = (count + 1, ends)
        return 0

    async def login_succeeded(self, agent_id: str, address: str) -> None:
        for key in self._counters(agent_id, address):
            count, ends = self._login_counts.get(key, (0, 0.0))
            if count > 0:
                self._login_counts[key] = (count - 1, ends)
