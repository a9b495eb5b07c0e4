"""The service's clock: the wall clock, or, for drills and end-to-end tests, the wall clock moved by an offset.

``HANDOFF_CLOCK_FILE`` names a file holding a number of seconds (e.g. ``25200`` for seven hours on): every
service process adds it to the time the service reasons with (queues, offers, tickets, due times, business
hours), so a test can play "the next morning" against real processes. The file is read again when it changes.
Never set it in production: every due time and statistic would be off by the offset.
"""
from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Callable, List, Optional

log = logging.getLogger(__name__)


def make_clock(path: Optional[Path]) -> Callable[[], float]:
    if path is None:
        return time.time
    log.warning("simulated clock: the time is moved by the seconds in %s (HANDOFF_CLOCK_FILE); not for production",
                path)
    cache: List[float] = [-1.0, 0.0]  # mtime, offset

    def clock() -> float:
        try:
            mtime = os.stat(path).st_mtime_ns
            if mtime != cache[0]:
                cache[0], cache[1] = mtime, float(path.read_text().strip() or 0)
        except (OSError, ValueError):
            pass  # keep the last offset read
        return time.time() + cache[1]

    return clock
