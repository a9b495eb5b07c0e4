"""The in-memory twin of the Redis timer store (tests, one-process demos): the same steps, under one lock.

A mixin of handoff.memory_store.MemoryStore (its ``_emit``). ``timer_clock`` is the server time it reports
(``time.time`` unless a test sets another)."""
from __future__ import annotations

import asyncio
import copy
import time
import uuid
from typing import Any, Callable, Dict, List, Optional

from handoff.clocks.timers import Fired, Timer, TimerStore


class MemoryTimers(TimerStore):
    timer_clock: Callable[[], float] = staticmethod(time.time)  # type: ignore[assignment]

    def _timer_state(self) -> Dict[str, Any]:
        if not hasattr(self, "_tm"):
            # timers: key -> dict(kind, due, payload, attempt, lease, lease_until); logs: subject -> entries
            self._tm: Dict[str, Any] = {"timers": {}, "logs": {}, "once": set(), "lock": asyncio.Lock()}
        return self._tm

    async def timer_now(self) -> float:
        return self.timer_clock()

    def _put(self, key: str, kind: str, due: float, payload: Dict[str, Any]) -> None:
        self._timer_state()["timers"][key] = {"kind": kind, "due": float(due), "payload": copy.deepcopy(payload),
                                              "attempt": 0, "lease": "", "lease_until": None}

    async def schedule_timer(self, key: str, kind: str, due: float, payload: Dict[str, Any],
                             once: bool = False) -> bool:
        s = self._timer_state()
        async with s["lock"]:
            if once:
                if key in s["once"]:
                    return False
                s["once"].add(key)
            self._put(key, kind, due, payload)
            return True

    async def cancel_timer(self, key: str) -> bool:
        async with self._timer_state()["lock"]:
            return self._timer_state()["timers"].pop(key, None) is not None

    @staticmethod
    def _timer(key: str, t: Dict[str, Any]) -> Timer:
        return Timer(key, t["kind"], t["due"], copy.deepcopy(t["payload"]), t["attempt"], t["lease"])

    async def get_timer(self, key: str) -> Optional[Timer]:
        t = self._timer_state()["timers"].get(key)
        return self._timer(key, t) if t else None

    async def claim_timers(self, now: float, lease_seconds: float, limit: int) -> List[Timer]:
        s = self._timer_state()
        async with s["lock"]:
            # as the Redis script: lapsed leases first (by lease deadline), then scheduled timers by due time
            lapsed = sorted((t["lease_until"], key) for key, t in s["timers"].items()
                            if t["lease"] and t["lease_until"] <= now)
            due = sorted((t["due"], key) for key, t in s["timers"].items() if not t["lease"] and t["due"] <= now)
            out = []
            for _, key in (lapsed + due)[:limit]:
                t = s["timers"][key]
                t["lease"], t["lease_until"] = uuid.uuid4().hex, now + lease_seconds
                t["attempt"] += 1
                out.append(self._timer(key, t))
            return out

    async def complete_timer(self, timer: Timer, fired: Fired) -> bool:
        s = self._timer_state()
        async with s["lock"]:
            t = s["timers"].get(timer.key)
            if t is None or not timer.lease or t["lease"] != timer.lease:
                return False
            del s["timers"][timer.key]
            for to, event in fired.events:
                self._emit(to, copy.deepcopy(event))  # type: ignore[attr-defined]
            for subject, entry in fired.log:
                s["logs"].setdefault(subject, []).append(copy.deepcopy(entry))
            for nxt in fired.schedule:
                self._put(nxt.key, nxt.kind, nxt.due, nxt.payload)
            return True

    async def retry_timer(self, timer: Timer, due: float) -> bool:
        s = self._timer_state()
        async with s["lock"]:
            t = s["timers"].get(timer.key)
            if t is None or not timer.lease or t["lease"] != timer.lease:
                return False
            t["due"], t["lease"], t["lease_until"] = float(due), "", None
            return True

    async def timer_counts(self, now: float) -> Dict[str, int]:
        timers = self._timer_state()["timers"].values()
        return {"scheduled": sum(1 for t in timers if not t["lease"]),
                "due": sum(1 for t in timers if not t["lease"] and t["due"] <= now),
                "leased": sum(1 for t in timers if t["lease"])}

    async def clock_log(self, subject: str) -> List[Dict[str, Any]]:
        return copy.deepcopy(self._timer_state()["logs"].get(subject, []))
