"""The published OpenAPI document (GET /v1/openapi.json) against the running service.

1. Real escalations go through their lives (create, retry, read, accept, messages, transfer, close,
   survey, release, abandon, waiting, ticket) and every live response is validated against the document, so
   the 200/201 schemas are checked on real data (generated ids mostly give 404).
2. Malformed JSON gives 400 and a body that breaks its schema 422, with an error naming the field.
3. Schemathesis generates positive and negative cases for every operation in the document and checks
   each response: no 5xx, a documented status code and content type, a body matching its schema.
   Operations on one escalation get a live id half of the time.

The tests share one service (the module's ``service`` fixture) and run in file order: the explicit
tests first, on a quiet service, then the generated cases.
"""
from __future__ import annotations

import uuid
from typing import Any, Dict, Iterator, List, Optional, Tuple

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import DataGenerationMethod
from schemathesis.checks import not_a_server_error
from schemathesis.exceptions import SkipTest
from schemathesis.specs.openapi.checks import (content_type_conformance, response_schema_conformance,
                                               status_code_conformance)

from tests.handoff.cluster import BOT_TOKEN, PASSWORD, Cluster, bearer, small_team_service
from tests.handoff.requests import handoff_request

schemathesis.experimental.OPEN_API_3_1.enable()

CHECKS = (not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance)
POSITIVE, NEGATIVE = DataGenerationMethod.positive, DataGenerationMethod.negative
MAX_EXAMPLES = 30

# Who calls each operation in the generated cases: the bot, a supervisor (sue), or nobody. In the order
# the generated cases run: what acts on live escalations before what ends them, and the survey after
# that (it needs a closed chat: the generated cases close some).
AUTH: Dict[str, Optional[str]] = {
    "getHandoff": "supervisor", "postMessage": "bot", "postNote": "supervisor", "acceptHandoff": "supervisor",
    "transferHandoff": "supervisor", "closeHandoff": "supervisor", "releaseHandoff": "supervisor",
    "abandonHandoff": "bot", "submitSurvey": "bot", "createHandoff": "bot", "getQueues": "supervisor", "getMe": "supervisor",
    "getMyHandoffs": "supervisor", "setStatus": "supervisor", "getMeta": "supervisor", "listAgents": "supervisor",
    "getStatsToday": "supervisor", "getUndelivered": "supervisor", "disableAgent": "supervisor",
    "enableAgent": "supervisor", "removeAgent": "supervisor", "logout": "own", "login": None, "health": None,
    "metrics": None,
}
# "own": a token of sue's own, logged in for the test (logging out voids it, not the one the others share).
# No parameters, no body, no security: nothing to negate, so schemathesis has no negative cases for them.
POSITIVE_ONLY = {"health", "metrics"}


# -- fixtures ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """conftest's service, with room for the generated login cases' failures: they all come from one address."""
    with small_team_service(tmp_path_factory.mktemp("handoff"), HANDOFF_LOGIN_MAX_FAILURES_PER_ADDRESS="100000") as c:
        yield c


@pytest.fixture(scope="module")
def base(service: Cluster) -> str:
    return service.urls[0]


@pytest.fixture(scope="module")
def schema(base: str) -> Any:
    return schemathesis.from_uri(base + "/v1/openapi.json", base_url=base,
                                 data_generation_methods=[POSITIVE, NEGATIVE])


@pytest.fixture(scope="module")
def operations(schema: Any) -> Dict[str, Any]:
    out = {}
    for result in schema.get_all_operations():
        operation = result.ok()  # raises if the document has an operation schemathesis cannot load
        out[operation.definition.raw["operationId"]] = operation
    return out


@pytest.fixture(scope="module")
def session() -> Iterator[requests.Session]:
    with requests.Session() as s:
        yield s


class Api:
    """Calls operations by operationId and validates every response against the document."""

    def __init__(self, service: Cluster, operations: Dict[str, Any], session: requests.Session) -> None:
        self.base = service.urls[0]
        self.service = service
        self.operations = operations
        self.session = session
        self.tokens = {"bot": BOT_TOKEN, **{a: service.login(a) for a in ("ann", "bob", "sue")},
                       "own": service.login("sue")}
        self.wrap_up = operations["closeHandoff"].schema.raw_schema["components"]["schemas"]["WrapUpCode"]["enum"]

    def case(self, operation_id: str, id: Optional[str] = None, body: Any = None) -> Any:
        kwargs: Dict[str, Any] = {"path_parameters": {"id": id} if id is not None else None}
        if body is not None:
            kwargs.update(body=body, media_type="application/json")
        return self.operations[operation_id].make_case(**kwargs)

    def call(self, operation_id: str, who: Optional[str], expect: int, id: Optional[str] = None,
             body: Any = None, checks: Tuple[Any, ...] = CHECKS, **kwargs: Any) -> requests.Response:
        case = self.case(operation_id, id, body)
        headers = {**(bearer(self.tokens[who]) if who else {}), **kwargs.pop("headers", {})}
        response = case.call(base_url=self.base, session=self.session, headers=headers, timeout=10, **kwargs)
        case.validate_response(response, checks=checks)
        assert response.status_code == expect, (operation_id, response.status_code, response.text)
        return response

    def __call__(self, operation_id: str, who: Optional[str], expect: int, id: Optional[str] = None,
                 body: Any = None) -> Any:
        return self.call(operation_id, who, expect, id, body).json()

    def status(self, **statuses: str) -> None:
        for agent, status in statuses.items():
            assert self("setStatus", agent, 200, body={"status": status})["status"] == status

    def create(self, expect: int = 201, **kwargs: Any) -> Dict[str, Any]:
        return self("createHandoff", "bot", expect, body=handoff_request(f"conv-{uuid.uuid4().hex[:12]}", **kwargs))


@pytest.fixture(scope="module")
def api(service: Cluster, operations: Dict[str, Any], session: requests.Session) -> Api:
    return Api(service, operations, session)


@pytest.fixture
def quiet(api: Api) -> Iterator[Api]:
    """Everybody offline before and after the test."""
    api.status(ann="offline", bob="offline", sue="offline")
    yield api
    api.status(ann="offline", bob="offline", sue="offline")


# -- the document --------------------------------------------------------------------------------
def test_every_operation_is_covered(operations: Dict[str, Any]) -> None:
    assert set(operations) == set(AUTH)
    for operation_id in POSITIVE_ONLY:
        definition = operations[operation_id].definition.raw
        assert not definition.get("parameters") and "requestBody" not in definition
        assert definition.get("security") == []


# -- real escalations, every response validated ----------------------------------------------------
def test_life_of_an_escalation(quiet: Api) -> None:
    api = quiet
    api.status(ann="online", bob="online")
    request = handoff_request(f"conv-{uuid.uuid4().hex[:12]}")  # order_status: after_sales, ann's skill
    created = api("createHandoff", "bot", 201, body=request)
    hid = created["id"]
    assert (created["status"], created["skill_group"], created["created"]) == ("offered", "after_sales", True)
    assert created["queue_position"] is None and created["estimated_wait_seconds"] == 0
    retry = api("createHandoff", "bot", 200, body=request)
    assert (retry["id"], retry["created"]) == (hid, False)

    record = api("getHandoff", "bot", 200, id=hid)
    assert (record["status"], record["agent_id"], record["skill_group_name"]) == ("offered", "ann", "After-sales")
    assert record["offer_deadline"] and record["transcript"] == request["transcript"]
    assert [h["id"] for h in api("getMyHandoffs", "ann", 200)["handoffs"]] == [hid]
    assert api("getMe", "ann", 200)["load"] == 1
    queues = {q["skill_group"]: q for q in api("getQueues", "sue", 200)["queues"]}
    assert queues["after_sales"]["agents_online"] == 1
    api("getHandoff", "bob", 403, id=hid)

    accepted = api("acceptHandoff", "ann", 200, id=hid)
    assert (accepted["status"], accepted["agent_id"], accepted["offer_deadline"]) == ("assigned", "ann", None)
    api("acceptHandoff", "ann", 409, id=hid)
    early = api.call("submitSurvey", "bot", 409, id=hid, body={"resolved": True, "rating": 5})
    assert "not closed" in early.json()["error"]["message"]
    customer = api("postMessage", "bot", 201, id=hid, body={"text": "hello?"})
    assert (customer["seq"], customer["speaker"], customer.get("author")) == (1, "customer", None)
    reply = api("postMessage", "ann", 201, id=hid, body={"text": "Hi, I am Ann."})
    assert (reply["seq"], reply["speaker"], reply["author"]) == (2, "agent", "ann")
    assert [m["text"] for m in api("getHandoff", "ann", 200, id=hid)["messages"]] == ["hello?", "Hi, I am Ann."]
    note = api("postNote", "ann", 201, id=hid, body={"text": "wants a refund, not a replacement"})
    assert (note["id"], note["author"], note["text"]) == (1, "ann", "wants a refund, not a replacement")
    api("postNote", "bob", 403, id=hid, body={"text": "not my chat"})
    api("postNote", "bot", 403, id=hid, body={"text": "the bot writes messages, not notes"})
    api("postNote", "sue", 404, id="no-such-escalation", body={"text": "x"})
    record = api("getHandoff", "sue", 200, id=hid)
    assert [n["text"] for n in record["notes"]] == ["wants a refund, not a replacement"]
    assert len(record["messages"]) == 2 and record["previous"] == []

    moved = api("transferHandoff", "ann", 200, id=hid, body={"agent_id": "bob", "reason": "a billing question"})
    assert (moved["status"], moved["agent_id"]) == ("offered", "bob")
    api("acceptHandoff", "bob", 200, id=hid)
    api("postMessage", "ann", 403, id=hid, body={"text": "still here?"})
    closed = api("closeHandoff", "bob", 200, id=hid,
                 body={"resolved": True, "wrap_up": api.wrap_up[0], "note": "refund explained"})
    assert closed["status"] == "closed"
    assert closed["outcome"] == {"resolved": True, "wrap_up": api.wrap_up[0], "closed_by": "bob",
                                 "note": "refund explained"}
    record = api("getHandoff", "sue", 200, id=hid)
    assert [h["status"] for h in record["history"]] == ["waiting", "offered", "assigned", "offered", "assigned",
                                                         "closed"]
    api("postMessage", "bot", 409, id=hid, body={"text": "anyone?"})
    api("closeHandoff", "sue", 409, id=hid, body={"resolved": False, "wrap_up": api.wrap_up[0]})
    api("abandonHandoff", "bot", 409, id=hid)
    api("getHandoff", "sue", 404, id="no-such-escalation")

    api("submitSurvey", "bob", 403, id=hid, body={"resolved": True, "rating": 5})  # the bot's, not the agent's
    surveyed = api("submitSurvey", "bot", 200, id=hid, body={"resolved": True, "rating": 5, "comment": "Bob sorted it"})
    survey = surveyed["outcome"]["survey"]
    assert surveyed["status"] == "closed" and surveyed["outcome"]["wrap_up"] == api.wrap_up[0]
    assert (survey["resolved"], survey["rating"], survey["comment"]) == (True, 5, "Bob sorted it")
    assert survey["at"].endswith("Z")
    again = api.call("submitSurvey", "bot", 409, id=hid, body={"resolved": False, "rating": None})
    assert "survey already answered" in again.json()["error"]["message"]
    record = api("getHandoff", "bob", 200, id=hid)
    assert record["outcome"]["survey"] == survey and record["status"] == "closed"
    assert (record["history"][-1]["status"], record["history"][-1]["detail"]) == ("closed", "survey: resolved, 5/5")
    api("submitSurvey", "bot", 404, id="no-such-escalation", body={"resolved": True, "rating": None})


def test_transfer_to_a_group_and_release(quiet: Api) -> None:
    api = quiet
    api.status(ann="online", bob="online")
    hid = api.create()["id"]
    api("acceptHandoff", "ann", 200, id=hid)
    moved = api("transferHandoff", "ann", 200, id=hid, body={"skill_group": "billing", "reason": "a refund"})
    assert (moved["skill_group"], moved["status"], moved["agent_id"]) == ("billing", "offered", "bob")
    api("acceptHandoff", "bob", 200, id=hid)
    released = api("releaseHandoff", "bob", 200, id=hid, body={"reason": "the bot can take it from here"})
    assert (released["status"], released["agent_id"]) == ("released", "bob")

    other = api.create()["id"]  # a supervisor releases it, without a body
    api("acceptHandoff", "ann", 200, id=other)
    api("releaseHandoff", "sue", 200, id=other)
    api("transferHandoff", "sue", 409, id=other, body={"skill_group": "general", "reason": "too late"})
    api("acceptHandoff", "bot", 403, id=other)


def test_waiting_abandoned_and_ticket(quiet: Api) -> None:
    api = quiet
    api.status(ann="online")
    offered = [api.create() for _ in range(3)]  # ann takes 3 chats at most
    assert [c["status"] for c in offered] == ["offered"] * 3
    waiting = api.create()
    assert (waiting["status"], waiting["queue_position"]) == ("waiting", 1)
    assert isinstance(waiting["estimated_wait_seconds"], int) and waiting["estimated_wait_seconds"] > 0
    record = api("getHandoff", "sue", 200, id=waiting["id"])
    assert (record["queue_position"], record["agent_id"], record["offer_deadline"]) == (1, None, None)
    queues = {q["skill_group"]: q for q in api("getQueues", "bot", 200)["queues"]}
    assert (queues["after_sales"]["waiting"], queues["after_sales"]["free_capacity"]) == (1, 0)
    for c in [waiting, *offered]:
        assert api("abandonHandoff", "bot", 200, id=c["id"])["status"] == "abandoned"
    api("abandonHandoff", "bot", 409, id=waiting["id"])
    api("abandonHandoff", "sue", 403, id=waiting["id"])

    api.status(ann="offline")
    ticket = api.create(skill_group="billing")
    assert (ticket["status"], ticket["queue_position"], ticket["estimated_wait_seconds"]) == ("ticket", None, None)
    assert ticket["ticket"]["reply_within_hours"] == 24 and ticket["ticket"]["reply_by"].endswith("Z")
    assert api("getHandoff", "bot", 200, id=ticket["id"])["outcome"]["reply_within_hours"] == 24


def test_previous_conversations_meta_agents_and_stats(quiet: Api) -> None:
    api = quiet
    api.status(ann="online")
    first = handoff_request(f"conv-{uuid.uuid4().hex[:12]}")
    customer = first["customer"]["id"]
    hid = api("createHandoff", "bot", 201, body=first)["id"]
    api("acceptHandoff", "ann", 200, id=hid)
    api("closeHandoff", "ann", 200, id=hid, body={"resolved": True, "wrap_up": api.wrap_up[0]})
    second = handoff_request(f"conv-{uuid.uuid4().hex[:12]}")
    second["customer"]["id"] = customer  # the same customer, another conversation
    again = api("createHandoff", "bot", 201, body=second)["id"]
    previous = api("getHandoff", "ann", 200, id=again)["previous"]
    assert [(p["id"], p["status"], p["outcome"]["resolved"]) for p in previous] == [(hid, "closed", True)]

    meta = api("getMeta", "ann", 200)
    assert {"id": "billing", "name": "Billing"} in meta["skill_groups"] and meta["wrap_up_codes"] == api.wrap_up
    assert meta["first_response_target_seconds"] == 30 and meta["reservation_seconds"] == 30
    canned = {c["id"]: c for c in meta["canned_responses"]}
    assert {"greeting", "ask_order_number", "goodbye"} <= set(canned) and canned["greeting"]["groups"]
    names = {a["id"]: a for a in meta["agents"]}  # the names the pages show instead of ids
    assert {"ann", "bob", "sue"} <= set(names) and names["ann"]["skills"] == ["general", "after_sales"]
    assert all(set(a) == {"id", "name", "skills"} and a["name"] for a in meta["agents"])  # no password hash, no more
    assert api("getMeta", "sue", 200) == meta
    api("getMeta", "bot", 403)

    team = {a["id"]: a for a in api("listAgents", "sue", 200)["agents"]}
    assert set(team) >= {"ann", "bob", "sue"}
    assert (team["ann"]["status"], team["ann"]["chats"], team["ann"]["load"]) == ("online", [again], 1)
    api("listAgents", "ann", 403)
    api("listAgents", "bot", 403)

    day = api("getStatsToday", "sue", 200)
    assert day["handoffs"] >= 2 and len(day["hourly"]) == 24 and day["outcomes"]["closed"] >= 1
    assert day["sla"]["first_response_target_seconds"] == 30
    assert again not in [i["id"] for i in day["sla"]["breaching"]]  # offered a moment ago
    api("getStatsToday", "ann", 403)
    api("getStatsToday", "bot", 403)
    assert api("getUndelivered", "sue", 200) == {"total": 0, "items": []}
    api("getUndelivered", "ann", 403)
    api("getUndelivered", "bot", 403)
    api("abandonHandoff", "bot", 200, id=again)


def test_undelivered_items_of_every_kind_match_the_document(api: Api) -> None:
    import json

    import redis as redis_lib

    from common.undelivered import DEAD_EVENTS, UNDELIVERED, parked

    r = redis_lib.Redis.from_url(api.service.redis_url)
    r.rpush(UNDELIVERED, json.dumps(parked("handoff", {"conversation_id": "conv-1"}, 413, "too long")),
            json.dumps(parked("survey", {"escalation": "e-1"}, None, "refused")), "broken")
    r.rpush(DEAD_EVENTS, json.dumps({"id": "1-0", "event": {"type": "message", "conversation_id": "conv-2",
                                                            "escalation": "e-2", "message": {"text": "hi"}},
                                     "error": "ConnectionError()", "tries": 10, "at": 1_700_000_000.5}),
            json.dumps({"id": "2-0", "event": None, "error": "not a JSON object", "tries": 0, "at": 1_700_000_001}))
    try:
        shown = api("getUndelivered", "sue", 200)  # validated against the document
        assert shown["total"] == 5 and sorted(i["kind"] for i in shown["items"]) == [
            "event", "event", "handoff", "survey", "unreadable"]
    finally:
        r.delete(UNDELIVERED, DEAD_EVENTS)


def test_login_me_health_metrics(api: Api) -> None:
    login = api("login", None, 200, body={"agent_id": "sue", "password": PASSWORD})
    assert (login["agent"]["id"], login["agent"]["role"]) == ("sue", "supervisor")
    api("login", None, 401, body={"agent_id": "sue", "password": "wrong password"})
    api("login", None, 401, body={"agent_id": "nobody", "password": PASSWORD})
    assert api("getMe", "bob", 200)["skills"] == ["billing"]
    api("getMe", "bot", 403)
    api("getMe", None, 401)
    response = api.call("getQueues", None, 401)
    assert response.headers["WWW-Authenticate"] == "Bearer"
    api.call("getQueues", "bot", 401, headers={"Authorization": "Bearer not-a-token"})
    api.call("getQueues", None, 401, headers={"Authorization": b"Bearer \xe9t\xe9"})  # not UTF-8: was a 500
    assert api("health", None, 200) == {"status": "ok", "redis": "ok"}


def test_logout_disable_enable_remove(api: Api) -> None:
    api.service.add_agents([{"id": "doc", "skills": ["general"], "max_chats": 2}])
    api.tokens["doc"] = api.service.login("doc")
    disabled = api("disableAgent", "sue", 200, id="doc")
    assert disabled["disabled"] is True
    api("getMe", "doc", 403)
    api("login", None, 403, body={"agent_id": "doc", "password": PASSWORD})
    assert api("enableAgent", "sue", 200, id="doc")["disabled"] is False
    api("getMe", "doc", 401)                                              # tokens from before stay void
    api.tokens["doc"] = api.service.login("doc")
    api.call("logout", "doc", 204)
    api("getMe", "doc", 401)
    api("disableAgent", "sue", 409, id="sue")
    api("disableAgent", "ann", 403, id="doc")
    api("enableAgent", "sue", 404, id="nobody")
    api.call("removeAgent", "sue", 204, id="doc")
    api.call("removeAgent", "sue", 404, id="doc")
    api.call("logout", "bot", 403)
    api.call("logout", None, 401)
    assert "handoff_escalations_total" in api.call("metrics", None, 200).text


# -- bad bodies: 400 and 422 -----------------------------------------------------------------------
@pytest.fixture(scope="module")
def chat(api: Api) -> str:
    return api.create(skill_group="billing")["id"]  # nobody online: a ticket, but any id will do


def bad_bodies() -> List[Tuple[str, str, Any, str]]:
    """(operationId, who, body breaking the schema, the field the error must name)."""
    def request(**changes: Any) -> Dict[str, Any]:
        body = handoff_request("conv-invalid")
        for path, value in changes.items():
            *parents, leaf = path.split("__")
            node = body
            for p in parents:
                node = node[p] if not p.isdigit() else node[int(p)]
            if value is None:
                del node[leaf]
            else:
                node[leaf] = value
        return body

    return [
        ("createHandoff", "bot", request(language="english"), "language"),
        ("createHandoff", "bot", request(case_brief__summary=None), "summary"),
        ("createHandoff", "bot", request(transcript__0__speaker="robot"), "transcript.0.speaker"),
        ("createHandoff", "bot", request(routing__priority=-1), "routing.priority"),
        ("createHandoff", "bot", request(routing__skill_group="nonexistent"), "routing.skill_group"),
        ("postMessage", "bot", {"text": ""}, "text"),
        ("postMessage", "bot", {"text": "hi", "from": "me"}, "from"),
        ("closeHandoff", "sue", {"resolved": "yes", "wrap_up": "answered"}, "resolved"),
        ("closeHandoff", "sue", {"resolved": True, "wrap_up": "shrug"}, "wrap_up"),
        ("closeHandoff", "sue", {"resolved": True}, "wrap_up"),
        ("transferHandoff", "sue", {"reason": "x", "skill_group": "nowhere"}, "skill_group"),
        ("transferHandoff", "sue", {"reason": "x", "agent_id": "Not An Id"}, "agent_id"),
        ("transferHandoff", "sue", {"reason": "x"}, "skill_group or agent_id"),
        ("transferHandoff", "sue", {"skill_group": "billing"}, "reason"),
        ("submitSurvey", "bot", {"resolved": True, "rating": 0}, "rating"),
        ("submitSurvey", "bot", {"resolved": True, "rating": 6}, "rating"),
        ("submitSurvey", "bot", {"resolved": True, "rating": 4.5}, "rating"),
        ("submitSurvey", "bot", {"resolved": True}, "rating"),
        ("submitSurvey", "bot", {"resolved": "yes", "rating": 3}, "resolved"),
        ("submitSurvey", "bot", {"rating": 3}, "resolved"),
        ("submitSurvey", "bot", {"resolved": True, "rating": 3, "comment": "x" * 1001}, "comment"),
        ("submitSurvey", "bot", {"resolved": True, "rating": 3, "stars": 3}, "stars"),
        ("postNote", "sue", {"text": ""}, "text"),
        ("postNote", "sue", {"text": "x" * 2001}, "text"),
        ("postNote", "sue", {"text": "hi", "private": True}, "private"),
        ("postNote", "sue", {}, "text"),
        ("setStatus", "sue", {"status": "busy"}, "status"),
        ("setStatus", "sue", {}, "status"),
    ]


def _error(response: requests.Response) -> str:
    error = response.json()["error"]
    assert set(error) >= {"code", "message"} and isinstance(error["message"], str)
    return error["message"]


# Not JSON, or JSON that Python's json reads but that could not be stored or sent on as JSON (each was a 500).
MALFORMED = [b"{not json", b"\xff\xfe", b'{"text": "unterminated', b'{"text": NaN}', b'{"text": -Infinity}',
             b'{"text": "\\ud800"}', b'{"agent_id": "\\udfff", "password": "x", "status": "\\ud83d"}',
             b"[" * 5000 + b"]" * 5000]


@pytest.mark.parametrize("operation_id,who", [("createHandoff", "bot"), ("postMessage", "bot"), ("postNote", "sue"),
                                              ("closeHandoff", "sue"), ("transferHandoff", "sue"),
                                              ("releaseHandoff", "sue"), ("setStatus", "sue"),
                                              ("submitSurvey", "bot"), ("login", None)])
def test_malformed_json_is_400(api: Api, chat: str, operation_id: str, who: Optional[str]) -> None:
    id = chat if "{id}" in api.operations[operation_id].path else None
    for raw in MALFORMED:
        response = api.call(operation_id, who, 400, id=id, data=raw, headers={"Content-Type": "application/json"})
        assert response.json()["error"]["code"] == "bad_request"
        assert "not valid JSON" in _error(response)


@pytest.mark.parametrize("operation_id,who,body,field", bad_bodies(),
                         ids=[f"{b[0]}-{b[3]}" for b in bad_bodies()])
def test_schema_violation_is_422(api: Api, chat: str, operation_id: str, who: str, body: Any,
                                 field: str) -> None:
    id = chat if "{id}" in api.operations[operation_id].path else None
    response = api.call(operation_id, who, 422, id=id, body=body)
    assert response.json()["error"]["code"] == "invalid"
    assert field in _error(response)


@pytest.mark.parametrize("operation_id,who", [("createHandoff", "bot"), ("postMessage", "bot"), ("postNote", "sue"),
                                              ("closeHandoff", "sue"), ("transferHandoff", "sue"),
                                              ("setStatus", "sue"), ("submitSurvey", "bot"), ("login", None)])
def test_not_an_object_or_no_body_is_422(api: Api, chat: str, operation_id: str, who: Optional[str]) -> None:
    id = chat if "{id}" in api.operations[operation_id].path else None
    for raw in (b"", b"[]", b'"text"', b"null"):
        response = api.call(operation_id, who, 422, id=id, data=raw, headers={"Content-Type": "application/json"})
        assert _error(response)


# -- generated cases -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def live(api: Api) -> List[str]:
    """Escalations for the generated cases to act on: sue online with three chats offered, three waiting."""
    api.status(ann="offline", bob="offline", sue="online")
    return [api.create(topics=[])["id"] for _ in range(6)]


def _with_live_id(operation: Any, strategy: st.SearchStrategy, live: List[str]) -> st.SearchStrategy:
    if "{id}" not in operation.path:
        return strategy

    def use(pair: Tuple[Any, Optional[str]]) -> Any:
        case, id = pair
        if id is not None:
            case.path_parameters = {**(case.path_parameters or {}), "id": id}
        return case

    return st.tuples(strategy, st.sampled_from([None, *live])).map(use)


def _with_known_names(operation: Any, strategy: st.SearchStrategy) -> st.SearchStrategy:
    """Positive cases naming skill groups and agents the service knows some of the time: random names give
    422 (unknown skill group in a handoff request, unknown agent in a transfer) before anything happens."""
    operation_id = operation.definition.raw["operationId"]
    if operation_id == "createHandoff":
        names = operation.schema.raw_schema["components"]["schemas"]["SkillGroup"]["enum"]
    elif operation_id == "transferHandoff":
        names = ["ann", "bob", "sue", None]
    else:
        return strategy

    def use(pair: Tuple[Any, Optional[str]]) -> Any:
        case, name = pair
        body = case.body
        if operation_id == "createHandoff" and isinstance(body, dict) and isinstance(body.get("routing"), dict):
            body["routing"]["skill_group"] = name
        if operation_id == "transferHandoff" and isinstance(body, dict) and "agent_id" in body and name:
            body["agent_id"] = name
        return case

    return st.tuples(strategy, st.sampled_from(names)).map(use)


@pytest.mark.parametrize("operation_id,method", [(op, m) for op in AUTH for m in (POSITIVE, NEGATIVE)
                                                 if not (m is NEGATIVE and op in POSITIVE_ONLY)],
                         ids=lambda v: getattr(v, "value", v))
def test_generated_cases(operation_id: str, method: DataGenerationMethod, api: Api, live: List[str],
                         base: str, session: requests.Session) -> None:
    operation = api.operations[operation_id]
    who = AUTH[operation_id]
    if who == "own":
        api.tokens["own"] = api.service.login("sue")
    headers = bearer(api.tokens[{"supervisor": "sue", "own": "own"}.get(who, "bot")]) if who else {}
    strategy = _with_live_id(operation, operation.as_strategy(data_generation_method=method), live)
    if method is POSITIVE:
        strategy = _with_known_names(operation, strategy)

    @settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True, database=None,
              phases=[Phase.explicit, Phase.generate], print_blob=False,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large])
    @given(case=strategy)
    def run(case: Any) -> None:
        response = case.call(base_url=base, session=session, headers=headers, timeout=10)
        case.validate_response(response, checks=CHECKS)

    try:
        run()
    except SkipTest as e:  # nothing to negate: not expected for any operation outside POSITIVE_ONLY
        pytest.fail(str(e))


# -- Redis down: 503 where the document says so ----------------------------------------------------
def test_redis_down_is_503(service: Cluster, api: Api, live: List[str]) -> None:
    """Runs last: stops Redis, checks every operation's answer against the document, starts it again."""
    calls = [("createHandoff", "bot", None, handoff_request("conv-redis-down")), ("getHandoff", "sue", live[0], None),
             ("postMessage", "bot", live[0], {"text": "hello?"}), ("acceptHandoff", "sue", live[0], None),
             ("postNote", "sue", live[0], {"text": "noted"}), ("listAgents", "sue", None, None),
             ("getStatsToday", "sue", None, None), ("getUndelivered", "sue", None, None),
             ("transferHandoff", "sue", live[0], {"skill_group": "general", "reason": "x"}),
             ("releaseHandoff", "sue", live[0], None),
             ("closeHandoff", "sue", live[0], {"resolved": True, "wrap_up": api.wrap_up[0]}),
             ("abandonHandoff", "bot", live[0], None),
             ("submitSurvey", "bot", live[0], {"resolved": True, "rating": 4}),
             ("getQueues", "bot", None, None),
             ("login", None, None, {"agent_id": "sue", "password": PASSWORD}), ("getMe", "sue", None, None),
             ("setStatus", "sue", None, {"status": "away"}), ("getMyHandoffs", "sue", None, None),
             ("disableAgent", "sue", "bob", None), ("enableAgent", "sue", "bob", None),
             ("removeAgent", "sue", "bob", None), ("logout", "own", None, None), ("health", None, None, None)]
    api.tokens["own"] = service.login("sue")
    assert {c[0] for c in calls} == set(AUTH) - {"metrics", "getMeta"}  # both answer without Redis
    service.stop_redis()
    try:
        for operation_id, who, id, body in calls:
            response = api.call(operation_id, who, 503, id=id, body=body, checks=CHECKS[1:])  # a 503, documented
            if operation_id != "health":
                assert response.json()["error"]["code"] == "unavailable"
                assert response.headers["Retry-After"] == "1"
        assert "handoff_escalations_total" in api.call("metrics", None, 200).text
        meta = api("getMeta", "sue", 200)
        assert meta["wrap_up_codes"] == api.wrap_up and meta["agents"] == []  # the policy files; no names without Redis
    finally:
        service.start_redis()
    api("health", None, 200)
