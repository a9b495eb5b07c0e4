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


# -- login limits, logout, disabled and removed agents -----------------------------------------------
def _ws_after_snapshot(url: str, token: str, action, wait: float = 5.0):
    """Open the agent stream with ``token``, take the snapshot, run ``action()`` (blocking, in a thread) and
    return (the messages that came after, the close code; None if still open after ``wait`` s)."""
    import asyncio
    import json
    import websockets

    async def scenario():
        async with websockets.connect(url.replace("http", "ws") + "/v1/agents/me/stream",
                                      extra_headers=bearer(token)) as ws:
            assert json.loads(await asyncio.wait_for(ws.recv(), 5))["type"] == "snapshot"
            await asyncio.get_running_loop().run_in_executor(None, action)
            seen = []
            try:
                while True:
                    seen.append(json.loads(await asyncio.wait_for(ws.recv(), wait)))
            except websockets.ConnectionClosed as closed:
                return seen, closed.code
            except asyncio.TimeoutError:
                return seen, None
    return asyncio.run(scenario())


def test_login_is_rate_limited_per_agent_and_per_address_across_processes(tmp_path):
    import http.client
    import json

    from tests.handoff.cluster import PASSWORD, small_team_service
    with small_team_service(tmp_path, HANDOFF_LOGIN_MAX_FAILURES_PER_AGENT="3",
                            HANDOFF_LOGIN_MAX_FAILURES_PER_ADDRESS="5", HANDOFF_LOGIN_WINDOW_SECONDS="60") as c:
        c.start_service()  # a second process: the counts live in Redis

        def login(agent_id, password, n=0):
            return requests.post(f"{c.urls[n % 2]}/v1/agents/login", json={"agent_id": agent_id, "password": password})
        assert login("ann", PASSWORD).status_code == 200   # successes are not counted
        assert login("ann", PASSWORD, 1).status_code == 200
        assert [login("ann", "wrong password", n).status_code for n in range(3)] == [401, 401, 401]
        blocked = login("ann", PASSWORD, 1)                # the right password, but too many failures
        assert blocked.status_code == 429, blocked.text
        assert 1 <= int(blocked.headers["Retry-After"]) <= 60
        assert blocked.json()["error"]["code"] == "too_many_requests"
        assert login("sue", PASSWORD).status_code == 200   # another agent from the same address
        assert [login("sue", "wrong password", n).status_code for n in range(2)] == [401, 401]
        assert login("bob", PASSWORD, 1).status_code == 429  # 5 failures from this address: everyone waits

        def from_other_address():  # 127.0.0.2 is the loopback too, but another client address
            host, port = c.urls[0].rsplit("/", 1)[1].split(":")
            conn = http.client.HTTPConnection(host, int(port), timeout=10, source_address=("127.0.0.2", 0))
            conn.request("POST", "/v1/agents/login", json.dumps({"agent_id": "bob", "password": PASSWORD}),
                         {"Content-Type": "application/json"})
            return conn.getresponse().status
        assert from_other_address() == 200


def test_logout_revokes_that_token_at_once_and_closes_its_websocket(service):
    url = service.urls[0]
    other = bearer(service.login("ann"))
    token = service.login("ann")
    assert requests.get(f"{url}/v1/agents/me", headers=bearer(token)).status_code == 200

    def logout():
        r = requests.post(f"{url}/v1/agents/logout", headers=bearer(token))
        assert r.status_code == 204, r.text
    seen, code = _ws_after_snapshot(url, token, logout)
    assert code == 4401 and seen[-1]["error"]["code"] == 4401
    r = requests.get(f"{url}/v1/agents/me", headers=bearer(token))
    assert r.status_code == 401 and "logged out" in r.json()["error"]["message"]
    assert requests.get(f"{url}/v1/agents/me", headers=other).status_code == 200   # ann's other session stays
    assert requests.post(f"{url}/v1/agents/logout", headers=BOT).status_code == 403


def test_a_disabled_agent_is_locked_out_at_once_and_may_be_enabled_again(service):
    from tests.handoff.cluster import PASSWORD
    url = service.urls[0]
    service.add_agents([{"id": "dan", "skills": ["general"], "max_chats": 2}])
    dan, sue = service.login("dan"), bearer(service.login("sue"))
    assert requests.put(f"{url}/v1/agents/me/status", json={"status": "online"}, headers=bearer(dan)).status_code == 200
    assert requests.post(f"{url}/v1/agents/dan/disable", headers=bearer(dan)).status_code == 403  # not a supervisor

    def disable():
        r = requests.post(f"{url}/v1/agents/dan/disable", headers=sue)
        assert r.status_code == 200, r.text
        assert (r.json()["disabled"], r.json()["status"], r.json()["status_reason"]) == (True, "offline",
                                                                                          "disabled by sue")
    seen, code = _ws_after_snapshot(url, dan, disable)
    assert code == 4403
    r = requests.get(f"{url}/v1/agents/me", headers=bearer(dan))
    assert r.status_code == 403 and "disabled" in r.json()["error"]["message"]
    again = requests.post(f"{url}/v1/agents/login", json={"agent_id": "dan", "password": PASSWORD})
    assert again.status_code == 403 and "disabled" in again.json()["error"]["message"]
    listed = {a["id"]: a for a in requests.get(f"{url}/v1/agents", headers=sue).json()["agents"]}
    assert listed["dan"]["disabled"] is True and listed["dan"]["status"] == "offline"
    assert requests.post(f"{url}/v1/agents/sue/disable", headers=sue).status_code == 409  # not oneself
    assert requests.post(f"{url}/v1/agents/nobody/disable", headers=sue).status_code == 404
    assert requests.post(f"{url}/v1/agents/dan/enable", headers=sue).json()["disabled"] is False
    assert requests.get(f"{url}/v1/agents/me", headers=bearer(dan)).status_code == 401  # the old token stays dead
    assert requests.get(f"{url}/v1/agents/me", headers=bearer(service.login("dan"))).status_code == 200


def test_an_agent_removed_from_the_command_line_loses_their_session_at_once(service):
    import subprocess
    import sys

    from tests.handoff.cluster import ROOT
    url = service.urls[0]
    service.add_agents([{"id": "eve", "skills": ["general"], "max_chats": 2}])
    eve = service.login("eve")

    def remove():
        done = subprocess.run([sys.executable, "-m", "handoff.accounts", "remove", "eve"], cwd=ROOT,
                              env=service.env(0), capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
    seen, code = _ws_after_snapshot(url, eve, remove)
    assert code == 4401
    assert requests.get(f"{url}/v1/agents/me", headers=bearer(eve)).status_code == 401
    sue = bearer(service.login("sue"))
    assert "eve" not in [a["id"] for a in requests.get(f"{url}/v1/agents", headers=sue).json()["agents"]]
    service.add_agents([{"id": "eve", "skills": ["general"], "max_chats": 2}])  # the same id again, anew
    assert requests.get(f"{url}/v1/agents/me", headers=bearer(eve)).status_code == 401  # the old token stays dead
