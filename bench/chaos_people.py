"""The people of the soak with faults (bench/chaos.py): web-chat customers that behave as our widget does
(bench/chaos_customer.py, as bot/web/widget.js) and agents that behave as the agent console does
(bench/chaos_agent.py, as handoff/web/console.js). Each records exactly what it sent and what it was shown, by
the unique id in every message text; bench/chaos_report.py turns that into the soak's verdict.

A customer message reads "[c7-k2-m3/5] ..." (customer 7, conversation 2, message 3 of 5); the agent's answer to
it "[a:c7-k2-m3/5] ...". Nothing else is counted.
"""
from __future__ import annotations

import re
from typing import Optional, Tuple

TAG = re.compile(r"\[(a:)?(c\d+-k\d+-m\d+/\d+)\]")


def tag_of(text: str) -> Tuple[bool, Optional[str]]:
    """(is an agent's answer, the customer message id) of a counted message; (False, None) otherwise."""
    found = TAG.search(text or "")
    return (bool(found.group(1)), found.group(2)) if found else (False, None)

