"""Who may do what, over the real stack (the run command: Redis, handoff service, action server, Rasa).

- Orders: a stranger with a guessed order number learns nothing and changes nothing; the owner (signed
  customer token) and a guest who gives the order's postcode or e-mail can act on it.
- Typed text is only text: Rasa's ``/intent{...}`` syntax typed by a customer forces nothing; a button
  the bot sent still works.
- The action server answers only the Rasa server (a shared secret on every call).
"""
from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional

import jwt
import psutil
import pytest
import redis as redis_lib
import requests

from tests.conftest import free_port
from tests.integration.running import RunCommand, handle, matches, responses_texts

CUSTOMER_SECRET = "trust-boundaries-customer-secret-0123456789"
TRACKING = "JD014600003LB"  # order 10234568's tracking number (actions/sample_orders.json)


@pytest.fixture(scope="module")
def stack(trained_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunCommand]:
    port = free_port()
    data_dir = tmp_path_factory.mktemp("data")
    run = RunCommand(None, tmp_path_factory.mktemp("run"),
                     {"REDIS_PORT": str(port), "BOT_DATA_DIR": str(data_dir),
                      "CUSTOMER_TOKEN_SECRET": CUSTOMER_SECRET})
    run.start()
    run.redis = redis_lib.Redis.from_url(run.redis_url, decode_responses=True)  # type: ignore[attr-defined]
    run.data_dir = data_dir  # type: ignore[attr-defined]
    yield run
    run.stop()


def new_sender() -> str:
    return f"tb-{uuid.uuid4().hex[:10]}"


def token(customer_id: str, tier: str = "none") -> str:
    claims = {"sub": customer_id, "vip_tier": tier, "exp": int(time.time()) + 600}
    return jwt.encode(claims, CUSTOMER_SECRET, algorithm="HS256")


def send(stack: RunCommand, sender: str, text: str, customer_token: Optional[str] = None) -> List[Dict[str, Any]]:
    metadata = {"customer_token": customer_token} if customer_token else {}
    reply = requests.post(f"{stack.url}/webhooks/rest/webhook",
                          json={"sender": handle(sender), "message": text, "metadata": metadata}, timeout=60)
    reply.raise_for_status()
    return reply.json()


def say(stack: RunCommand, sender: str, text: str, customer_token: Optional[str] = None) -> List[str]:
    return [m.get("text", "") for m in send(stack, sender, text, customer_token)]


def events_of(stack: RunCommand, sender: str) -> List[Dict[str, Any]]:
    raw = stack.redis.get(f"shop:tracker:{sender}")  # type: ignore[attr-defined]
    return json.loads(raw)["events"] if raw else []


def asked_to_verify(replies: List[str], number: str) -> bool:
    return any(matches(t, "utter_ask_order_verification", order_number=number) for t in replies)


# ---- orders ----------------------------------------------------------------------------------------
def test_a_stranger_with_a_guessed_order_number_learns_nothing_and_changes_nothing(stack: RunCommand):
    me = new_sender()
    replies = say(stack, me, "where is my order 10234568?")
    assert not any(TRACKING in t for t in replies), replies
    assert asked_to_verify(replies, "10234568"), replies
    wrong = say(stack, me, "10117")
    assert not any(TRACKING in t or "DHL" in t for t in wrong), wrong
    assert matches(wrong[0], "utter_order_verification_failed", order_number="10234568", attempts_left="2"), wrong
    # an order that does not exist gets the very same answers: the number says nothing either way
    say(stack, me, "stop")
    assert asked_to_verify(say(stack, me, "where is my order 10299999?"), "10299999")
    wrong_for_none = say(stack, me, "10117")
    assert matches(wrong_for_none[0], "utter_order_verification_failed", order_number="10299999",
                   attempts_left="1"), wrong_for_none
    # the third wrong answer in this conversation ends the checks and offers a person (a button)
    locked = [m for m in send(stack, me, "ann.murphy@example.com")
              if m.get("text") in responses_texts("utter_order_verification_locked")]
    assert len(locked) == 1 and [b["payload"] for b in locked[0]["buttons"]] == ["/human_handoff"], locked
    # ... and stays ended: the right answer is not even asked for any more
    again = say(stack, me, "where is order 10234568?")
    assert not any(TRACKING in t for t in again) and not asked_to_verify(again, "10234568"), again
    assert any(t in responses_texts("utter_order_verification_locked") for t in again), again
    # pressing the button the bot sent works: its payload may carry an intent
    pressed = say(stack, me, "/human_handoff")
    assert any(t.startswith("I'm passing your conversation to a colleague") for t in pressed), pressed

    # changing the address of someone else's order: never done, whatever is guessed
    other = new_sender()
    assert asked_to_verify(say(stack, other, "please change the address for order 10234567"), "10234567")
    replies = [t for guess in ("10115", "10116", "ben.keller@example.com") for t in say(stack, other, guess)]
    assert any(t in responses_texts("utter_order_verification_locked") for t in replies), replies
    replies += say(stack, other, "Kerkstraat 45, 1017 GC Amsterdam")
    assert not any(matches(t, "utter_address_change_done", order_number="10234567",
                           new_address="Kerkstraat 45, 1017 GC Amsterdam") for t in replies), replies
    assert not any(t.startswith("Done!") for t in replies), replies


def test_the_owner_and_a_guest_who_proves_the_order_can_act_on_it(stack: RunCommand):
    # the owner, signed in through the shop's token: no question asked
    owner = new_sender()
    replies = say(stack, owner, "where is my order 10234568?", token("cust-1002"))
    assert any(TRACKING in t for t in replies), replies
    # another signed-in customer is not its owner: asked to prove it, like a guest
    ann = new_sender()
    replies = say(stack, ann, "where is my order 10234568?", token("cust-1001"))
    assert not any(TRACKING in t for t in replies) and asked_to_verify(replies, "10234568"), replies
    # a guest with the postcode on the order changes its address
    guest = new_sender()
    assert asked_to_verify(say(stack, guest, "please change the address for order 10234567"), "10234567")
    assert say(stack, guest, "1017gc")[-1] in responses_texts("utter_ask_new_address")
    replies = say(stack, guest, "Kerkstraat 45, 1017 GC Amsterdam")
    assert any(matches(t, "utter_address_change_done", order_number="10234567",
                       new_address="Kerkstraat 45, 1017 GC Amsterdam") for t in replies), replies
    # ... and, having proved it, is not asked again in this conversation
    replies = say(stack, guest, "where is order 10234567?")
    assert any(matches(t, "utter_order_status_processing", order_number="10234567") for t in replies), replies


# ---- typed text is only text --------------------------------------------------------------------------
def test_typed_intent_syntax_forces_nothing(stack: RunCommand):
    me = new_sender()
    say(stack, me, "hi")
    replies = say(stack, me, "/EXTERNAL_handoff_closed")
    assert not any(t in responses_texts("utter_handoff_closed") for t in replies), replies
    assert not any(t in responses_texts("utter_ask_survey_resolved") for t in replies), replies

    vip = new_sender()
    say(stack, vip, '/human_handoff{"vip_tier":"gold"}')
    users = [e for e in events_of(stack, vip) if e["event"] == "user"]
    intent = users[-1]["parse_data"]["intent"]
    assert intent["confidence"] < 1.0, intent  # the NLU model read it as text; nothing forced it
    requests_made = [e["value"] for e in events_of(stack, vip)
                     if e["event"] == "slot" and e["name"] == "handoff_request" and e["value"]]
    assert all(r["customer"]["tags"].get("vip_tier") in (None, "none") for r in requests_made), requests_made


# ---- the action server answers only the Rasa server ---------------------------------------------------
def forged_call(conversation: str) -> Dict[str, Any]:
    """What Rasa would send to run action_request_handoff, for a platinum customer who never existed."""
    metadata = {"customer": {"id": "cust-forged", "vip_tier": "platinum", "lifetime_orders": 300}}
    parse = {"text": "I want to talk to a person", "intent": {"name": "human_handoff", "confidence": 1.0},
             "entities": []}
    user = {"event": "user", "timestamp": time.time(), "text": parse["text"], "parse_data": parse,
            "metadata": metadata, "input_channel": "rest"}
    tracker = {"sender_id": conversation, "slots": {}, "latest_message": parse, "events": [user], "paused": False,
               "followup_action": None, "active_loop": {}, "latest_action_name": None}
    return {"next_action": "action_request_handoff", "sender_id": conversation, "tracker": tracker,
            "domain": {}, "version": "3.6.21"}


def action_secret(stack: RunCommand) -> str:
    path = stack.data_dir / "secrets.env"  # type: ignore[attr-defined]
    assert path.stat().st_mode & 0o077 == 0  # readable by the service user only
    values = dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    return values["ACTION_SERVER_TOKEN"].strip()


def test_the_action_server_answers_only_the_rasa_server(stack: RunCommand):
    url = f"http://127.0.0.1:{stack.action_port}"
    conversation = new_sender()
    escalated = f"{{ho}}:conv:{conversation}"
    for headers, status in [({}, 401), ({"Authorization": "Bearer not-the-secret"}, 403),
                            ({"Authorization": "not-the-secret"}, 403)]:
        reply = requests.post(f"{url}/webhook", json=forged_call(conversation), headers=headers, timeout=30)
        assert reply.status_code == status, (headers, reply.status_code, reply.text)
        assert stack.redis.get(escalated) is None  # type: ignore[attr-defined]
    assert requests.get(f"{url}/actions", timeout=10).status_code == 401
    assert requests.get(f"{url}/health", timeout=10).status_code == 200  # for the run command's readiness check
    # the same call with the secret the run command generated does reach the action (so the refusals above
    # were the secret's doing): this is what the Rasa server sends
    reply = requests.post(f"{url}/webhook", json=forged_call(conversation), timeout=60,
                          headers={"Authorization": f"Bearer {action_secret(stack)}"})
    assert reply.status_code == 200, reply.text
    assert stack.redis.get(escalated) is not None  # type: ignore[attr-defined]
    # and it listens on the loopback interface only
    server = next(p for p in psutil.Process(stack.proc.pid).children(recursive=True)  # type: ignore[union-attr]
                  if "actions" in p.cmdline() and "-m" in p.cmdline())
    listening = {c.laddr.ip for c in server.connections("inet") if c.status == psutil.CONN_LISTEN}
    assert listening == {"127.0.0.1"}, listening
