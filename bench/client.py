"""The scale-out benchmarks' REST client: bench/latency.py's script and conversation loop, with outcomes kept apart.

bench/latency.py counts an empty reply as an error and stops on the first connection error. Against the stock
`rasa init` bot an empty reply is normal (it answers nothing to "10234568", one message in nine of the script), and
under an overload ramp (bench/capacity.py) a refused or timed-out request is a result to count, not a crash. So
this module sends the same messages (latency.SCRIPT, handles signed with bot.identity.sign, one POST per message
to the REST webhook) and records each message as ok, empty (HTTP 200, no reply) or error (any other status,
timeout or connection failure), with the time it was sent.
"""
from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass, field
from typing import List, Tuple

import aiohttp

from bench.latency import SCRIPT, percentile
from bot.identity import sign

OK, EMPTY, ERROR = "ok", "empty", "error"


@dataclass
class Tally:
    """Every message sent: (monotonic send time, milliseconds to the reply, outcome)."""

    samples: List[Tuple[float, float, str]] = field(default_factory=list)

    def count(self, outcome: str, since: float = 0.0) -> int:
        return sum(1 for t, _, o in self.samples if o == outcome and t >= since)

    def window(self, start: float, end: float) -> "Tally":
        return Tally([s for s in self.samples if start <= s[0] < end])

    def latencies(self) -> List[float]:
        """Answered messages (ok or empty): a failed request has no latency to speak of."""
        return [ms for _, ms, o in self.samples if o != ERROR]

    def p(self, pct: float) -> float:
        values = self.latencies()
        return percentile(values, pct) if values else float("nan")


def new_sender(prefix: str = "bench") -> str:
    return sign(f"{prefix}-{uuid.uuid4().hex[:12]}")  # a conversation handle (bot/identity.py)


async def send(session: aiohttp.ClientSession, url: str, sender: str, text: str, tally: Tally) -> str:
    """One message; its outcome is recorded in tally and returned."""
    sent = time.monotonic()
    t0 = time.perf_counter()
    try:
        async with session.post(url, json={"sender": sender, "message": text}) as resp:
            body = await resp.json(content_type=None)
            outcome = ERROR if resp.status != 200 else (OK if body else EMPTY)
    except (aiohttp.ClientError, asyncio.TimeoutError, ValueError):
        outcome = ERROR
    tally.samples.append((sent, (time.perf_counter() - t0) * 1000, outcome))
    return outcome


async def scripted_conversation(session: aiohttp.ClientSession, url: str, turns: int, tally: Tally) -> None:
    """bench/latency.py's conversation: the script's messages in order, each sent when the last was answered."""
    sender = new_sender()
    for i in range(turns):
        await send(session, url, sender, SCRIPT[i % len(SCRIPT)], tally)
