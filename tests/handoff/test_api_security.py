"""Every agent operation refuses callers without a valid agent token, or with another agent's chat:
401 (no token, expired, forged) or 403 (foreign chat, bot token acting as an agent), and changes nothing.
The bot's operations refuse callers without a valid token (401) and agents' tokens (403) alike."""
from __future__ import annotations

import time
import uuid

import jwt
import pytest
import requests

from tests.handoff.cluster import BOT_TOKEN, TOKEN_SECRET, bearer
from tests.handoff.requests import handoff_request

BOT = bearer(BOT_TOKEN)


def expired_token(agent_id: str) -> str:
    now = int(time.time())
    return jwt.encode({"sub": agent_id, "role": "agent", "iat": now - 7200, "exp": now - 60, "typ": "agent"},
                      TOKEN_SECRET, algorithm="HS256")


def forged_token(agent_id: str) -> str:
    return jwt.encode({"sub": agent_id, "role": "supervisor", "exp": int(time.time()) + 600, "typ": "agent"},
                      "not-the-secret-not-the-secret-not-the-secret", algorithm="HS256")


@pytest.fixture(scope="module")
def chat(service):
    """A chat assigned to ann (bob and the bot must not act on it as an agent)."""
    url = service.urls[0]
    ann = bearer(service.login("ann"))
    assert requests.put(f"{url}/v1/agents/me/status", json={"status": "online"}, headers=ann).status_code == 200
    created = requests.post(f"{url}/v1/handoffs", json=handoff_request(f"sec-{uuid.uuid4().hex[:6]}"), headers=BOT)
    assert created.status_code == 201, created.text
    eid = created.json()["id"]
    assert created.json()["status"] == "offered"
    assert requests.post(f"{url}/v1/handoffs/{eid}/accept", headers=ann).status_code == 200
    return eid


@pytest.fixture(scope="module")
def closed(service, chat):
    """A chat ann accepted and closed: the one place a survey would change something."""
    url = service.urls[0]
    ann = bearer(service.login("ann"))
    created = requests.post(f"{url}/v1/handoffs", json=handoff_request(f"sec-{uuid.uuid4().hex[:6]}"), headers=BOT)
    eid = created.json()["id"]
    assert requests.post(f"{url}/v1/handoffs/{eid}/accept", headers=ann).status_code == 200
    r = requests.post(f"{url}/v1/handoffs/{eid}/close", json={"resolved": True, "wrap_up": "answered"}, headers=ann)
    assert r.status_code == 200, r.text
    return eid


def snapshot(url: str, eid: str):
    record = requests.get(f"{url}/v1/handoffs/{eid}", headers=BOT).json()
    return (record["status"], record["agent_id"], record["skill_group"], len(record["history"]),
            len(record["messages"]), len(record["notes"]), record["outcome"])


AGENT_OPERATIONS = [
    ("GET", "/v1/handoffs/{id}", None),
    ("POST", "/v1/handoffs/{id}/accept", None),
    ("POST", "/v1/handoffs/{id}/messages", {"text": "hello from someone else"}),
    ("POST", "/v1/handoffs/{id}/notes", {"text": "a note from someone else"}),
    ("POST", "/v1/handoffs/{id}/transfer", {"skill_group": "billing", "reason": "hijack"}),
    ("POST", "/v1/handoffs/{id}/release", {"reason": "hijack"}),
    ("POST", "/v1/handoffs/{id}/close", {"resolved": True, "wrap_up": "answered"}),
    ("GET", "/v1/agents/me", None),
    ("PUT", "/v1/agents/me/status", {"status": "online"}),
    ("GET", "/v1/agents/me/handoffs", None),
    ("GET", "/v1/queues", None),
    ("GET", "/v1/meta", None),
    ("GET", "/v1/agents", None),
    ("GET", "/v1/stats/today", None),
]
SUPERVISOR_ONLY = [("GET", "/v1/agents", None), ("GET", "/v1/stats/today", None)]
ON_A_CHAT = [op for op in AGENT_OPERATIONS if "{id}" in op[1]]
AGENT_ONLY = [op for op in AGENT_OPERATIONS if op[1] not in ("/v1/handoffs/{id}", "/v1/handoffs/{id}/messages",
                                                               "/v1/queues")]
BOT_ONLY = [
    ("POST", "/v1/handoffs", handoff_request("sec-made-by-someone-else")),
    ("POST", "/v1/handoffs/{id}/abandon", None),
    ("POST", "/v1/handoffs/{id}/survey", {"resolved": False, "rating": 1, "comment": "not the customer"}),
]
CREDENTIALS = ["none", "expired", "forged", "garbage", "basic"]


def bad_credentials(kind: str):
    return {"none": {}, "expired": bearer(expired_token("ann")), "forged": bearer(forged_token("ann")),
            "garbage": bearer("not-a-token"), "basic": {"Authorization": "Basic YW5uOnB3"}}[kind]


def call(url, method, path, body, eid, headers):
    return requests.request(method, url + path.format(id=eid), json=body, headers=headers, timeout=10)


@pytest.mark.parametrize("method,path,body", AGENT_OPERATIONS, ids=[f"{m} {p}" for m, p, _ in AGENT_OPERATIONS])
@pytest.mark.parametrize("credentials", CREDENTIALS)
def test_no_valid_token_is_401_and_changes_nothing(service, chat, method, path, body, credentials):
    url = service.urls[0]
    before = snapshot(url, chat)
    r = call(url, method, path, body, chat, bad_credentials(credentials))
    assert r.status_code == 401, r.text
    assert r.json()["error"]["code"] == "unauthorized"
    if credentials == "expired":
        assert "expired" in r.json()["error"]["message"]
    assert snapshot(url, chat) == before


@pytest.mark.parametrize("method,path,body", ON_A_CHAT, ids=[f"{m} {p}" for m, p, _ in ON_A_CHAT])
def test_another_agents_chat_is_403_and_changes_nothing(service, chat, method, path, body):
    url = service.urls[0]
    bob = bearer(service.login("bob"))
    before = snapshot(url, chat)
    r = call(url, method, path, body, chat, bob)
    assert r.status_code == 403, r.text
    assert r.json()["error"]["code"] == "forbidden"
    assert snapshot(url, chat) == before


@pytest.mark.parametrize("method,path,body", AGENT_ONLY, ids=[f"{m} {p}" for m, p, _ in AGENT_ONLY])
def test_the_bot_token_cannot_act_as_an_agent(service, chat, method, path, body):
    url = service.urls[0]
    before = snapshot(url, chat)
    r = call(url, method, path, body, chat, BOT)
    assert r.status_code == 403, r.text
    assert "cannot act as an agent" in r.json()["error"]["message"]
    assert snapshot(url, chat) == before


@pytest.mark.parametrize("method,path,body", BOT_ONLY, ids=[f"{m} {p}" for m, p, _ in BOT_ONLY])
@pytest.mark.parametrize("who", ["ann", "sue"])  # the chat's own agent, and a supervisor
def test_agents_cannot_use_the_bots_operations(service, chat, closed, method, path, body, who):
    url = service.urls[0]
    token = bearer(service.login(who))
    before = snapshot(url, chat), snapshot(url, closed)
    for eid in (chat, closed):
        r = call(url, method, path, body, eid, token)
        assert r.status_code == 403, r.text
        assert r.json()["error"] == {"code": "forbidden", "message": "only the bot's service token may do this"}
    assert (snapshot(url, chat), snapshot(url, closed)) == before


@pytest.mark.parametrize("method,path,body", BOT_ONLY, ids=[f"{m} {p}" for m, p, _ in BOT_ONLY])
@pytest.mark.parametrize("credentials", CREDENTIALS)
def test_the_bots_operations_without_a_valid_token_are_401_and_change_nothing(service, closed, method, path, body,
                                                                              credentials):
    url = service.urls[0]
    before = snapshot(url, closed)
    r = call(url, method, path, body, closed, bad_credentials(credentials))
    assert r.status_code == 401, r.text
    assert r.json()["error"]["code"] == "unauthorized"
    assert snapshot(url, closed) == before


@pytest.mark.parametrize("method,path,body", SUPERVISOR_ONLY, ids=[f"{m} {p}" for m, p, _ in SUPERVISOR_ONLY])
def test_agents_cannot_use_the_supervisors_views(service, method, path, body):
    r = call(service.urls[0], method, path, body, None, bearer(service.login("ann")))
    assert r.status_code == 403, r.text
    assert r.json()["error"] == {"code": "forbidden", "message": "only supervisors may do this"}
    assert call(service.urls[0], method, path, body, None, bearer(service.login("sue"))).status_code == 200


def test_a_supervisor_sees_and_acts_on_every_chat(service, chat):
    url = service.urls[0]
    sue = bearer(service.login("sue"))
    assert requests.get(f"{url}/v1/handoffs/{chat}", headers=sue).json()["agent_id"] == "ann"


def test_login_refuses_wrong_passwords_and_unknown_agents_alike(service):
    url = service.urls[0]
    wrong = requests.post(f"{url}/v1/agents/login", json={"agent_id": "ann", "password": "wrong password"})
    unknown = requests.post(f"{url}/v1/agents/login", json={"agent_id": "nobody", "password": "wrong password"})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json() == {"error": {"code": "unauthorized",
                                                        "message": "wrong agent id or password"}}


def test_passwords_are_stored_hashed_and_never_logged(service):
    import redis as redis_lib
    from tests.handoff.cluster import PASSWORD
    r = redis_lib.Redis.from_url(service.redis_url, decode_responses=True)
    stored = r.hget("{ho}:cred:ann", "password_hash")
    assert stored.startswith("$argon2id$") and PASSWORD not in stored
    for key in r.scan_iter(count=1000):
        if r.type(key) == "string":
            assert PASSWORD not in (r.get(key) or "")
    for log in service.workdir.glob("*.log"):
        assert PASSWORD not in log.read_text(errors="replace")


def test_websocket_refuses_missing_expired_and_bot_tokens(service):
    import asyncio
    import json
    import websockets

    async def first_message(headers=None, send=None):
        ws_url = service.urls[0].replace("http", "ws") + "/v1/agents/me/stream"
        async with websockets.connect(ws_url, extra_headers=headers or {}) as ws:
            if send is not None:
                await ws.send(send)
            message = json.loads(await asyncio.wait_for(ws.recv(), 5))
            try:
                await asyncio.wait_for(ws.recv(), 2)
            except websockets.ConnectionClosed as closed:
                return message, closed.code
            except asyncio.TimeoutError:
                return message, None  # still open
            return message, None

    assert asyncio.run(first_message(send=json.dumps({"token": expired_token("ann")})))[1] == 4401
    assert asyncio.run(first_message(bearer(BOT_TOKEN)))[1] == 4403
    assert asyncio.run(first_message(send="not json"))[1] == 4401
    message, code = asyncio.run(first_message(bearer(service.login("ann"))))
    assert message["type"] == "snapshot" and message["agent"]["id"] == "ann" and code is None
