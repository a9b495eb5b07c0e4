"""The store's steps for agents' accounts and access (part of the Store interface in handoff/store.py): accounts,
account epochs, disabled accounts, logged-out tokens and login limits; handoff/access.py decides with them whether
a token still counts. Implemented by handoff/redis_access.py and handoff/memory_access.py (with the accounts in
handoff/redis_store.py and handoff/memory_agents.py)."""
from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import Dict, FrozenSet, List, Optional


@dataclass(frozen=True)
class AccountAccess:
    """What decides whether an agent's token still counts (handoff/access.py)."""

    epoch: str  # tokens carry the epoch they were issued under; disabling an account gives it a new one
    disabled: bool
    revoked: FrozenSet[str]  # ids of the agent's logged-out tokens that have not expired yet


@dataclass(frozen=True)
class LoginLimits:
    """Failed logins allowed per agent id and per client address in a fixed window of ``window_seconds``."""

    per_agent: int = 5
    per_address: int = 20
    window_seconds: int = 900


class AccountSteps(abc.ABC):
    """The store's account and access steps."""

    @abc.abstractmethod
    async def save_account(self, agent_id: str, account: Dict[str, str]) -> None:
        """Create or replace an agent's account (name, role, password_hash)."""

    @abc.abstractmethod
    async def account(self, agent_id: str) -> Optional[Dict[str, str]]:
        """The agent's account, None if there is none."""

    @abc.abstractmethod
    async def accounts(self) -> List[str]:
        """Every account's agent id, sorted."""

    @abc.abstractmethod
    async def account_access(self, agent_id: str, now: float) -> Optional[AccountAccess]:
        """The account's epoch, disabled flag and logged-out token ids; None when there is no account."""

    @abc.abstractmethod
    async def start_epoch(self, agent_id: str, epoch: str) -> str:
        """The account's epoch, set to ``epoch`` first if it has none; "" when there is no account."""

    @abc.abstractmethod
    async def set_disabled(self, agent_id: str, disabled: bool, epoch: str, now: float, by: str) -> bool:
        """Disable (with the new ``epoch``: every token issued before stops counting) or enable the account,
        and emit an ``agent_access`` event (access disabled | enabled). False when there is no account."""

    @abc.abstractmethod
    async def remove_account(self, agent_id: str, now: float, by: str) -> bool:
        """Delete the account (and the agent's record when offline) and emit an ``agent_access`` event
        (access removed). False when there is no account."""

    @abc.abstractmethod
    async def revoke_token(self, agent_id: str, jti: str, expires: float, now: float) -> None:
        """Remember the token id as logged out until ``expires`` and emit a ``token_revoked`` event."""

    @abc.abstractmethod
    async def login_attempt(self, agent_id: str, address: str, now: float, limits: LoginLimits) -> int:
        """Count a login attempt against the agent id and the client address; 0 when it may go on, else the
        seconds until the window that blocks it ends (and nothing is counted)."""

    @abc.abstractmethod
    async def login_succeeded(self, agent_id: str, address: str) -> None:
        """Take back the count of an attempt that succeeded: only failures count against the limits."""
