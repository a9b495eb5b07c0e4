"""End-to-end handoff stories (tests/data/handoff_stories.yml) against the running assistant.

Real processes: the run command's Redis, action server and Rasa. Each story is a conversation over
the REST channel; customer tags travel as a signed token in the message metadata, as from the shop
page. The test reads what the customer is told, and the request recorded in the conversation's
tracker (in Redis), and checks it against the JSON Schema.
"""
from __future__ import annotations

import json
import re
import stat
import time
import uuid
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional

import jwt
import pytest
import redis
import requests
import yaml

from common.config import validate
from tests.conftest import ROOT, free_port
from tests.integration.running import RunCommand, handle, responses_texts

SECRET = "integration-test-secret-0123456789abcdef"
STORIES = yaml.safe_load((ROOT / "tests/data/handoff_stories.yml").read_text())["stories"]
GROUP_NAMES = {k: v["name"] for k, v in yaml.safe_load((ROOT / "policy/skill_groups.yml").read_text())["groups"].items()}
HANDOFF_REPLIES = [re.compile(re.escape(v).replace(re.escape("{group_name}"), "(?P<group>.+?)") + "$")
                   for v in responses_texts("utter_handoff_requested")]


def handoff_group(text: str) -> Optional[str]:
    """The group name in the customer's "passing you to a colleague" message, or None for any other reply."""
    for pattern in HANDOFF_REPLIES:
        m = pattern.match(text)
        if m:
            return m.group("group")
    return None


@pytest.fixture(scope="module")
def stack(trained_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunCommand]:
    port = free_port()
    run_dir = tmp_path_factory.mktemp("run")
    run = RunCommand(None, run_dir,
                     {"REDIS_PORT": str(port), "BOT_DATA_DIR": str(tmp_path_factory.mktemp("data")),
                      "CUSTOMER_TOKEN_SECRET": SECRET})
    run.start()
    run.redis = redis.Redis.from_url(run.redis_url)  # type: ignore[attr-defined]
    yield run
    run.stop()


def say(stack: RunCommand, sender: str, text: str, customer: Optional[Dict[str, Any]]) -> List[str]:
    metadata = {}
    if customer:
        claims = {"sub": f"cust-{sender}", "exp": int(time.time()) + 600, **customer}
        metadata["customer_token"] = jwt.encode(claims, SECRET, algorithm="HS256")
    reply = requests.post(f"{stack.url}/webhooks/rest/webhook",
                          json={"sender": handle(sender), "message": text, "metadata": metadata}, timeout=60)
    reply.raise_for_status()
    return [m.get("text", "") for m in reply.json()]


def recorded_request(stack: RunCommand, sender: str) -> Optional[Dict[str, Any]]:
    raw = stack.redis.get(f"shop:tracker:{sender}")  # type: ignore[attr-defined]
    events = json.loads(raw)["events"] if raw else []
    # the latest request made (the slot is cleared again after a ticket, the request stays in the events)
    values = [e["value"] for e in events if e.get("event") == "slot" and e.get("name") == "handoff_request"
              and e.get("value") is not None]
    return values[-1] if values else None


@pytest.mark.parametrize("story", STORIES, ids=[s["name"] for s in STORIES])
def test_handoff_story(stack: RunCommand, story: Dict[str, Any]):
    sender = f"ht-{uuid.uuid4().hex[:10]}"
    expect = story["expect"]
    handed_off_at = None
    for i, text in enumerate(story["turns"], 1):
        replies = say(stack, sender, text, story.get("customer"))
        told = [g for g in map(handoff_group, replies) if g]
        if told:
            handed_off_at, group_told = i, told[0]
            break
    request = recorded_request(stack, sender)
    if expect is None:
        assert handed_off_at is None and request is None, request and request["decision"]
        return
    assert handed_off_at is not None, f"no handoff; replies ended with {replies}"
    assert request is not None
    validate(request, "handoff_request")
    names = [t["name"] for t in request["decision"]["triggers"]]
    assert expect["trigger"] in names, request["decision"]
    if "at_turn" in expect:
        assert handed_off_at == expect["at_turn"]
    if "group" in expect:
        assert request["routing"]["skill_group"] == expect["group"], request["routing"]
        assert group_told == GROUP_NAMES[expect["group"]]
    if "priority" in expect:
        assert request["routing"]["priority"] == expect["priority"], request["routing"]
    if "vip_tier" in expect:
        assert request["customer"]["tags"]["vip_tier"] == expect["vip_tier"]
    texts = [line["text"] for line in request["transcript"] if line["speaker"] == "customer"]
    assert texts == story["turns"][:handed_off_at]


def test_a_card_number_is_masked_in_the_tracker_the_request_and_every_log(stack: RunCommand):
    sender = f"ht-{uuid.uuid4().hex[:10]}"
    card = "4111 1111 1111 1111"
    say(stack, sender, f"I was charged twice on my card {card}, please help", None)
    raw = stack.redis.get(f"shop:tracker:{sender}").decode()  # type: ignore[attr-defined]
    assert "4111 11** **** 1111" in raw and card not in raw and "4111111111111111" not in raw
    request = recorded_request(stack, sender)
    assert request is not None and {"type": "CARD", "value": "4111 11** **** 1111"} in request["case_brief"]["entities"]
    # Written in uneven groups, with its security code, in another conversation; then a message whose control
    # characters would forge a log line (Rasa's warning about the unknown intent quotes it).
    other = f"ht-{uuid.uuid4().hex[:10]}"
    uneven = "4111 11 11 1111 1111"
    say(stack, other, f"I was charged twice, card {uneven} cvv 123 and also 5555.5555.5555.4444 321", None)
    say(stack, other, "/x\r\nFAKE LINE \x1b[31mred", None)
    raw = stack.redis.get(f"shop:tracker:{other}").decode()  # type: ignore[attr-defined]
    assert "4111 11 ** **** 1111 cvv ***" in raw, raw[:2000]
    assert "5555.55**.****.4444 ***" in raw and uneven not in raw and "cvv 123" not in raw
    other_request = recorded_request(stack, other)
    assert other_request is None or uneven not in json.dumps(other_request)
    logs = sorted((stack.run_dir / "logs").glob("*.log"))  # type: ignore[attr-defined]
    assert logs
    for log in logs:
        text = log.read_text(errors="replace")
        for secret in (card, uneven, "4111111111111111", "cvv 123", "5555.5555.5555.4444"):
            assert secret not in text, (log, secret)
        assert "\x1b" not in text and "\r" not in text, log
        assert not any(line.startswith("FAKE LINE") for line in text.split("\n")), log
    for path in [stack.run_dir, *(stack.run_dir / "logs").iterdir()]:  # type: ignore[attr-defined]
        assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0, path  # the service user's only
