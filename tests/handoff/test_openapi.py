# Over 400 lines: the OpenAPI document checked route by route against the live app; one table-driven file, long because the API is.
"""The published OpenAPI document (GET /v1/openapi.json) against the running service.

1. Real escalations go through their lives (create, retry, read, accept, messages, transfer, close,
   survey, release, abandon, waiting, ticket), and so do real tickets (create, retry, list, search, page,
   claim, assign, reply, the customer's answer, note, to another team and back, merge, states, the bot's
   lookup; a ticket from a chat, a message left in the queue); every live response is validated against the
   document, so the 200/201 schemas are checked on real data (generated ids mostly give 404).
2. Malformed JSON gives 400 and a body that breaks its schema 422, with an error naming the field.
3. Schemathesis generates positive and negative cases for every operation in the document and checks
   each response: no 5xx, a documented status code and content type, a body matching its schema.
   Operations on one escalation get a live id, and those on one ticket a live label or id, most of the time;
   positive cases name known agents, groups, tickets and customers some of the time.
4. With Redis down every operation that needs it answers 503, as documented.

The tests share one service (the module's ``service`` fixture) and run in file order: the explicit
tests first, on a quiet service, then the generated cases.

Why one file over 400 lines: every generated case, the explicit life cycles and the Redis-down list run against one
module-scoped service and must cover the same operations (test_every_operation_is_covered).
"""
from __future__ import annotations

import re
import time
import uuid
from datetime import datetime
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
from tests.handoff.requests import handoff_request, ticket_request

schemathesis.experimental.OPEN_API_3_1.enable()

CHECKS = (not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance)
POSITIVE, NEGATIVE = DataGenerationMethod.positive, DataGenerationMethod.negative
MAX_EXAMPLES = 30
LABEL = re.compile(r"T-\d+")
LOCAL_TIME = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d")

# Who calls each operation in the generated cases: the bot, a supervisor (sue), or nobody. In the order
# the generated cases run: what acts on live escalations before what ends them, and the survey after
# that (it needs a closed chat: the generated cases close some); on live tickets, what changes them before
# what solves, closes and merges them.
AUTH: Dict[str, Optional[str]] = {
    "getHandoff": "supervisor", "postMessage": "bot", "postNote": "supervisor", "acceptHandoff": "supervisor",
    "ticketFromChat": "supervisor", "transferHandoff": "supervisor", "closeHandoff": "supervisor",
    "releaseHandoff": "supervisor", "leaveMessage": "bot", "abandonHandoff": "bot", "submitSurvey": "bot",
    "createHandoff": "bot", "getQueues": "supervisor", "getMe": "supervisor",
    "getMyHandoffs": "supervisor", "setStatus": "supervisor", "getMeta": "supervisor", "listAgents": "supervisor",
    "getStatsToday": "supervisor", "getUndelivered": "supervisor", "disableAgent": "supervisor",
    "enableAgent": "supervisor", "removeAgent": "supervisor", "logout": "own", "login": None, "health": None,
    "metrics": None,
    "createTicket": "bot", "listTickets": "supervisor", "lookupTickets": "bot", "getTicket": "supervisor",
    "claimTicket": "supervisor", "assignTicket": "supervisor", "replyTicket": "supervisor",
    "ticketCustomerMessage": "bot", "noteTicket": "supervisor", "sendTicket": "supervisor",
    "setTicketState": "supervisor", "mergeTicket": "supervisor", "ticketSurvey": "bot",
    "reportSummary": "supervisor", "reportWeekly": "supervisor", "reportExport": "supervisor",
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

    def case(self, operation_id: str, id: Optional[str] = None, body: Any = None,
             query: Optional[Dict[str, str]] = None) -> Any:
        """``id``: the path's one parameter (an escalation or agent id, or a ticket's ref)."""
        operation = self.operations[operation_id]
        name = "ref" if "{ref}" in operation.path else "id"
        kwargs: Dict[str, Any] = {"path_parameters": {name: id} if id is not None else None, "query": query}
        if body is not None:
            kwargs.update(body=body, media_type="application/json")
        return operation.make_case(**kwargs)

    def call(self, operation_id: str, who: Optional[str], expect: int, id: Optional[str] = None,
             body: Any = None, checks: Tuple[Any, ...] = CHECKS, query: Optional[Dict[str, str]] = None,
             **kwargs: Any) -> requests.Response:
        case = self.case(operation_id, id, body, query)
        headers = {**(bearer(self.tokens[who]) if who else {}), **kwargs.pop("headers", {})}
        response = case.call(base_url=self.base, session=self.session, headers=headers, timeout=10, **kwargs)
        case.validate_response(response, checks=checks)
        assert response.status_code == expect, (operation_id, response.status_code, response.text)
        return response

    def __call__(self, operation_id: str, who: Optional[str], expect: int, id: Optional[str] = None,
                 body: Any = None, query: Optional[Dict[str, str]] = None) -> Any:
        return self.call(operation_id, who, expect, id, body, query=query).json()

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


def _instant(text: str) -> float:
    """Epoch seconds of an ISO 8601 time the service wrote (UTC, with a Z)."""
    assert text.endswith("Z"), text
    return datetime.fromisoformat(text[:-1] + "+00:00").timestamp()


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
    # What the bot tells the customer: the ticket's number and when the answer is due (business hours, in the
    # team's time zone: the service works the hours out, so only the shape and the order of times are checked).
    told = ticket["ticket"]
    assert LABEL.fullmatch(told["label"]) and told["timezone"] and LOCAL_TIME.fullmatch(told["due_local"])
    due, reply_by = _instant(told["due_at"]), _instant(told["reply_by"])
    assert due > time.time() and abs(due - reply_by) < 60
    outcome = api("getHandoff", "bot", 200, id=ticket["id"])["outcome"]
    assert (outcome["reply_by"], outcome["timezone"]) == (told["reply_by"], told["timezone"])
    page = api("getTicket", "sue", 200, id=told["label"])
    assert (page["ticket"]["id"], page["ticket"]["state"], page["ticket"]["due_at"]) == (told["id"], "new",
                                                                                          told["due_at"])
    assert [c["escalation_id"] for c in page["chats"]] == [ticket["id"]]


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
    assert {"id": "billing", "name": "Billing", "names": {"zh": "支付与账务"}} in meta["skill_groups"] and meta["wrap_up_codes"] == api.wrap_up
    assert meta["first_response_target_seconds"] == 30 and meta["reservation_seconds"] == 30
    canned = {c["id"]: c for c in meta["canned_responses"]}
    assert {"greeting", "ask_order_number", "goodbye"} <= set(canned) and canned["greeting"]["groups"]
    names = {a["id"]: a for a in meta["agents"]}  # the names the pages show instead of ids
    assert {"ann", "bob", "sue"} <= set(names) and names["ann"]["skills"] == ["general", "after_sales"]
    assert names["ann"]["languages"] == ["en"]  # an account saved without languages reads English
    assert all(set(a) == {"id", "name", "skills", "languages"} and a["name"] for a in meta["agents"])  # no password hash
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
    # a ticket's reply the mail relay never took (handoff/tickets/mail_queue.py parks it so)
    r.rpush("{ho}:mail:dead", json.dumps({"id": "3-0", "ticket": "T-10077", "to": "li@example.com", "message_id": "<m@x>",
                                         "error": "550 no such user", "tries": 1, "at": 1_700_000_002,
                                         "mail": "Subject: secret"}))
    try:
        shown = api("getUndelivered", "sue", 200)  # validated against the document
        assert shown["total"] == 6 and sorted(i["kind"] for i in shown["items"]) == [
            "event", "event", "handoff", "mail", "survey", "unreadable"]
        mail = next(i for i in shown["items"] if i["kind"] == "mail")
        assert (mail["ticket"], mail["error"], mail["attempts"]) == ("T-10077", "550 no such user", 1)
        assert "to" not in mail and "mail" not in mail  # never the address or the mail itself
        metrics = api.call("metrics", None, 200).text
        assert "handoff_undelivered_items 6.0" in metrics
    finally:
        r.delete(UNDELIVERED, DEAD_EVENTS, "{ho}:mail:dead")


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


# -- a real ticket, every response validated ------------------------------------------------------
def test_life_of_a_ticket(quiet: Api) -> None:
    api = quiet
    key = uuid.uuid4().hex[:12]
    request = ticket_request(key, request_key=f"mail:{key}")
    response = api.call("createTicket", "bot", 201, body=request)
    t = response.json()
    label, tid = t["label"], t["id"]
    assert LABEL.fullmatch(label) and t["number"] == int(label[2:]) and response.headers["Location"] == \
        f"/v1/tickets/{label}"
    assert (t["state"], t["group"], t["owner_group"], t["source"], t["assignee"], t["priority"]) == \
        ("new", "after_sales", "after_sales", "api", None, 20)
    assert t["fields"]["order_id"] == f"ord-{key}" and t["requester"]["email"] == f"Kim.{key}@Example.com"
    assert _instant(t["due_at"]) > time.time() and t["overdue"] is False
    assert api("createTicket", "bot", 200, body=request)["id"] == tid  # a retry: the same ticket
    api("createTicket", "bot", 403, body={"subject": "from a chat", "escalation_id": "e-1"})  # the agent's

    def listed(who: str, **query: str) -> List[str]:
        return [x["label"] for x in api("listTickets", who, 200, query=query)["tickets"]]

    assert label in listed("ann", view="groups") and label not in listed("ann", view="mine")
    assert label not in listed("bob", view="groups") and label in listed("sue", view="all")
    assert label not in listed("ann", view="overdue") and label in listed("ann", state="new", view="groups")
    listed("ann", view="due")
    assert listed("ann", view="groups", skill_group="billing") == []
    for q in (label, label.lower().replace("-", ""), f"ord-{key}", f"kim.{key}@example.com", f"cust-{key}"):
        assert listed("ann", q=q) == [label], q
    assert listed("bob", q=label) == []  # not his group's
    api("listTickets", "ann", 403, query={"view": "all"})
    api("listTickets", "bot", 403)
    api("listTickets", None, 401)
    assert "view" in api.call("listTickets", "ann", 422, query={"view": "everything"}).text

    page = api("getTicket", "ann", 200, id=label)
    assert page["ticket"]["id"] == tid and page["chats"] == []
    assert [e["kind"] for e in page["timeline"]] == ["created"]
    assert api("getTicket", "sue", 200, id=tid)["ticket"]["label"] == label  # by id too
    api("getTicket", "bob", 403, id=label)
    api("getTicket", "bot", 403, id=label)
    missing = api("getTicket", "sue", 404, id="T-99999")
    assert missing["error"]["message"] == "no such ticket: T-99999"
    api("claimTicket", "ann", 404, id="no-such-ticket")

    claimed = api("claimTicket", "ann", 200, id=label)
    assert (claimed["state"], claimed["assignee"], claimed["owner_agent"]) == ("open", "ann", "ann")
    assert api("claimTicket", "ann", 200, id=label)["assignee"] == "ann"  # hers already: no change
    second = api("claimTicket", "sue", 409, id=label)
    assert second["error"]["message"] == f"{label} is already with ann"
    api("claimTicket", "bob", 403, id=label)
    assert label in listed("ann", view="mine")

    replied = api("replyTicket", "ann", 200, id=label, body={"text": "Which firmware does it show?",
                                                              "message_id": f"r-{key}"})
    assert (replied["state"], replied["due_at"]) == ("pending", None)
    api("replyTicket", "bot", 403, id=label, body={"text": "the bot does not reply on tickets"})
    answer = {"text": "Firmware 1.9", "via": "email", "message_id": f"m-{key}"}
    answered = api("ticketCustomerMessage", "bot", 200, id=label, body=answer)
    assert answered["state"] == "open" and answered["due_at"]
    assert api("ticketCustomerMessage", "bot", 200, id=tid, body=answer)["updated_at"] == answered["updated_at"]
    api("ticketCustomerMessage", "ann", 403, id=label, body={"text": "agents reply, they do not answer"})
    noted = api("noteTicket", "ann", 200, id=label, body={"text": "1.9 has the E42 bug"})
    assert noted["state"] == "open"
    api("noteTicket", "bob", 403, id=label, body={"text": "not my team's"})

    sent = api("sendTicket", "ann", 200, id=label, body={"skill_group": "technical", "note": "E42 on 1.9: flash?"})
    assert (sent["state"], sent["group"], sent["owner_group"], sent["assignee"]) == \
        ("on_hold", "technical", "after_sales", None)
    assert label not in listed("ann", view="mine") and label in listed("ann", view="groups")  # still her team's
    api("sendTicket", "sue", 409, id=label, body={"skill_group": "technical", "note": "there already"})
    api("sendTicket", "sue", 409, id=label, body={"next_step": True, "note": "it follows no flow"})
    back = api("sendTicket", "sue", 200, id=label, body={"skill_group": "after_sales", "note": "flashed 2.1"})
    assert (back["state"], back["group"], back["assignee"]) == ("open", "after_sales", "ann")
    assert set(back["team_seconds"]) == {"after_sales", "technical"}

    assert api("assignTicket", "sue", 200, id=label, body={"agent_id": "bob"})["assignee"] == "bob"
    assert api("getTicket", "bob", 200, id=label)["ticket"]["assignee"] == "bob"  # his now, though not his team's
    api("assignTicket", "ann", 403, id=label, body={"agent_id": "ann"})
    api("assignTicket", "sue", 422, id=label, body={"agent_id": "nobody"})
    api("assignTicket", "sue", 200, id=label, body={"agent_id": "ann"})

    duplicate = api("createTicket", "bot", 201, body=ticket_request(key, subject="Kettle again"))
    merged = api("mergeTicket", "ann", 200, id=duplicate["id"], body={"into": label})
    assert merged["id"] == tid and merged["state"] == "open"
    gone = api("getTicket", "ann", 200, id=duplicate["label"])["ticket"]
    assert (gone["state"], gone["merged_into"]) == ("closed", label)
    api("mergeTicket", "ann", 409, id=label, body={"into": duplicate["label"]})  # closed
    api("mergeTicket", "ann", 409, id=label, body={"into": tid})  # itself
    api("mergeTicket", "ann", 404, id=label, body={"into": "T-99999"})

    on_hold = api("setTicketState", "ann", 200, id=label, body={"state": "on_hold", "reason": "parts ordered"})
    assert on_hold["state"] == "on_hold"
    solved = api("setTicketState", "ann", 200, id=label, body={"state": "solved", "reason": "fixed"})
    assert solved["state"] == "solved" and solved["solved_at"] and solved["due_at"] is None
    refused = api("setTicketState", "ann", 409, id=label, body={"state": "pending"})
    assert refused["error"]["message"] == f"{label} cannot go from solved to pending"
    api("replyTicket", "ann", 409, id=label, body={"text": "one more thing"})
    reopened = api("ticketCustomerMessage", "bot", 200, id=label, body={"text": "It broke again", "via": "chat"})
    assert reopened["state"] == "open" and reopened["solved_at"] is None
    api("replyTicket", "ann", 200, id=label, body={"text": "Replaced under warranty", "state": "solved"})
    assert api("setTicketState", "ann", 200, id=label, body={"state": "closed"})["state"] == "closed"
    late = api("ticketCustomerMessage", "bot", 409, id=label, body={"text": "thanks!"})
    assert late["error"]["message"] == f"{label} is closed: a new message needs a new ticket"
    api("setTicketState", "ann", 409, id=label, body={"state": "open"})
    surveyed = api("ticketSurvey", "bot", 200, id=label, body={"resolved": True, "rating": 5})
    assert surveyed["survey"]["rating"] == 5 and surveyed["follow_up"] is None
    api("ticketSurvey", "bot", 409, id=label, body={"resolved": False, "rating": 1})  # answered already

    timeline = api("getTicket", "sue", 200, id=label)["timeline"]
    assert [e["seq"] for e in timeline] == list(range(1, len(timeline) + 1))
    said = [(e["kind"], e["by"], e["text"], e["public"]) for e in timeline if "text" in e]
    assert said == [("reply", "ann", "Which firmware does it show?", True), ("customer", "customer", "Firmware 1.9", True),
                    ("note", "ann", "1.9 has the E42 bug", False), ("note", "ann", "E42 on 1.9: flash?", False),
                    ("note", "sue", "flashed 2.1", False), ("customer", "customer", "It broke again", True),
                    ("reply", "ann", "Replaced under warranty", True)]
    states = [(e["from"], e["to"]) for e in timeline if e["kind"] == "state"]
    assert states == [("new", "open"), ("open", "pending"), ("pending", "open"), ("open", "on_hold"),
                      ("on_hold", "open"), ("open", "on_hold"), ("on_hold", "solved"), ("solved", "open"),
                      ("open", "solved"), ("solved", "closed")]
    assert [(e["from"], e["to"]) for e in timeline if e["kind"] == "team"] == [("after_sales", "technical"),
                                                                                ("technical", "after_sales")]
    assert [e["from"] for e in timeline if e["kind"] == "merged"] == [duplicate["label"]]

    mine = api("lookupTickets", "bot", 200, query={"conversation_id": f"conv-{key}"})["tickets"]
    assert [(x["label"], x["state"]) for x in mine] == [(duplicate["label"], "closed"), (label, "closed")]
    by_number = api("lookupTickets", "bot", 200, query={"email": f"kim.{key}@example.com", "number": label})
    assert [x["id"] for x in by_number["tickets"]] == [tid]
    assert api("lookupTickets", "bot", 200, query={"customer_id": "someone-else", "number": label}) == {"tickets": []}
    api("lookupTickets", "bot", 422, query={"number": label})  # whose tickets?
    api("lookupTickets", "ann", 403, query={"conversation_id": f"conv-{key}"})


def test_a_ticket_from_a_chat_and_a_message_left_in_the_queue(quiet: Api) -> None:
    api = quiet
    api.status(ann="online")
    offered = api.create()["id"]
    api("acceptHandoff", "ann", 200, id=offered)
    made = api("ticketFromChat", "ann", 201, id=offered, body={"note": "call back tomorrow"})
    assert (made["source"], made["assignee"], made["state"], made["escalations"]) == ("agent", "ann", "open",
                                                                                     [offered])
    assert api("ticketFromChat", "ann", 200, id=offered)["id"] == made["id"]  # one per chat; no body is fine
    api("ticketFromChat", "bob", 403, id=offered)
    api("ticketFromChat", "bot", 403, id=offered)
    api("ticketFromChat", "sue", 404, id="no-such-escalation")
    page = api("getTicket", "ann", 200, id=made["label"])
    assert page["chats"][0]["escalation_id"] == offered and page["chats"][0]["transcript"]

    chats = [api.create()["id"] for _ in range(3)]  # ann has 3 chats at most: the third waits
    waiting = api("getHandoff", "sue", 200, id=chats[-1])
    assert waiting["status"] == "waiting"
    api("leaveMessage", "ann", 403, id=chats[-1])
    left = api("leaveMessage", "bot", 200, id=chats[-1])
    assert left["status"] == "ticket" and LABEL.fullmatch(left["ticket"]["label"]) and left["ticket"]["due_local"]
    api("leaveMessage", "bot", 409, id=chats[-1])
    api("leaveMessage", "bot", 404, id="no-such-escalation")
    api("closeHandoff", "ann", 200, id=offered, body={"resolved": False, "wrap_up": api.wrap_up[0]})
    for chat in chats[:-1]:
        api("abandonHandoff", "bot", 200, id=chat)


# -- bad bodies: 400 and 422 -----------------------------------------------------------------------
@pytest.fixture(scope="module")
def chat(api: Api) -> str:
    return api.create(skill_group="billing")["id"]  # nobody online: a ticket, but any id will do


@pytest.fixture(scope="module")
def ticket(api: Api) -> str:
    return api("createTicket", "bot", 201, body=ticket_request(uuid.uuid4().hex[:12]))["label"]


def _path_id(api: Api, operation_id: str, chat: str, ticket: str) -> Optional[str]:
    path = api.operations[operation_id].path
    return ticket if "{ref}" in path else chat if "{id}" in path else None


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
        ("createTicket", "bot", {}, "subject"),
        ("createTicket", "bot", {"subject": ""}, "subject"),
        ("createTicket", "bot", {"subject": "x", "skill_group": "nowhere"}, "skill_group"),
        ("createTicket", "bot", {"subject": "x", "requester": {"email": "not an address"}}, "requester.email"),
        ("createTicket", "bot", {"subject": "x", "requester": {"phone": "123"}}, "phone"),
        ("createTicket", "bot", {"subject": "x", "priority": -1}, "priority"),
        ("createTicket", "bot", {"subject": "x", "tags": [""]}, "tags.0"),
        ("createTicket", "bot", {"subject": "x", "fields": {"colour": "red"}}, "colour"),
        ("createTicket", "bot", {"subject": "x", "request_key": "a key with spaces"}, "request_key"),
        ("createTicket", "bot", {"subject": "x", "flow": "no_such_flow"}, "flow"),
        ("assignTicket", "sue", {"agent_id": "Not An Id"}, "agent_id"),
        ("assignTicket", "sue", {"agent_id": "nobody"}, "agent_id"),
        ("assignTicket", "sue", {}, "agent_id"),
        ("replyTicket", "sue", {"text": ""}, "text"),
        ("replyTicket", "sue", {"text": "hi", "state": "closed"}, "state"),
        ("replyTicket", "sue", {"text": "hi", "message_id": "has spaces"}, "message_id"),
        ("replyTicket", "sue", {"text": "hi", "public": False}, "public"),
        ("noteTicket", "sue", {"text": ""}, "text"),
        ("noteTicket", "sue", {}, "text"),
        ("setTicketState", "sue", {"state": "done"}, "state"),
        ("setTicketState", "sue", {}, "state"),
        ("setTicketState", "sue", {"state": "open", "reason": "x" * 501}, "reason"),
        ("sendTicket", "sue", {"note": "x"}, "skill_group or next_step"),
        ("sendTicket", "sue", {"skill_group": "nowhere", "note": "x"}, "skill_group"),
        ("sendTicket", "sue", {"next_step": False, "note": "x"}, "next_step"),
        ("sendTicket", "sue", {"skill_group": "technical"}, "note"),
        ("mergeTicket", "sue", {}, "into"),
        ("mergeTicket", "sue", {"into": ""}, "into"),
        ("ticketCustomerMessage", "bot", {"text": ""}, "text"),
        ("ticketCustomerMessage", "bot", {"text": "hi", "via": "sms"}, "via"),
        ("ticketCustomerMessage", "bot", {"via": "chat"}, "text"),
        ("ticketFromChat", "sue", {"skill_group": "nowhere"}, "skill_group"),
        ("ticketFromChat", "sue", {"subject": "x" * 201}, "subject"),
        ("ticketFromChat", "sue", {"flow": "no_such_flow"}, "flow"),
        ("ticketFromChat", "sue", {"assignee": "ann"}, "assignee"),
    ]


def _error(response: requests.Response) -> str:
    error = response.json()["error"]
    assert set(error) >= {"code", "message"} and isinstance(error["message"], str)
    return error["message"]


# Not JSON, or JSON that Python's json reads but that could not be stored or sent on as JSON (each was a 500).
MALFORMED = [b"{not json", b"\xff\xfe", b'{"text": "unterminated', b'{"text": NaN}', b'{"text": -Infinity}',
             b'{"text": "\\ud800"}', b'{"agent_id": "\\udfff", "password": "x", "status": "\\ud83d"}',
             b"[" * 5000 + b"]" * 5000]


TICKET_BODIES = [("createTicket", "bot"), ("assignTicket", "sue"), ("replyTicket", "sue"), ("noteTicket", "sue"),
                 ("setTicketState", "sue"), ("sendTicket", "sue"), ("mergeTicket", "sue"),
                 ("ticketCustomerMessage", "bot"), ("ticketSurvey", "bot")]


@pytest.mark.parametrize("operation_id,who", [("createHandoff", "bot"), ("postMessage", "bot"), ("postNote", "sue"),
                                              ("closeHandoff", "sue"), ("transferHandoff", "sue"),
                                              ("releaseHandoff", "sue"), ("setStatus", "sue"),
                                              ("submitSurvey", "bot"), ("login", None), *TICKET_BODIES,
                                              ("ticketFromChat", "sue")])
def test_malformed_json_is_400(api: Api, chat: str, ticket: str, operation_id: str, who: Optional[str]) -> None:
    id = _path_id(api, operation_id, chat, ticket)
    for raw in MALFORMED:
        response = api.call(operation_id, who, 400, id=id, data=raw, headers={"Content-Type": "application/json"})
        assert response.json()["error"]["code"] == "bad_request"
        assert "not valid JSON" in _error(response)


@pytest.mark.parametrize("operation_id,who,body,field", bad_bodies(),
                         ids=[f"{b[0]}-{b[3]}" for b in bad_bodies()])
def test_schema_violation_is_422(api: Api, chat: str, ticket: str, operation_id: str, who: str, body: Any,
                                 field: str) -> None:
    id = _path_id(api, operation_id, chat, ticket)
    response = api.call(operation_id, who, 422, id=id, body=body)
    assert response.json()["error"]["code"] == "invalid"
    assert field in _error(response)


@pytest.mark.parametrize("operation_id,who", [("createHandoff", "bot"), ("postMessage", "bot"), ("postNote", "sue"),
                                              ("closeHandoff", "sue"), ("transferHandoff", "sue"),
                                              ("setStatus", "sue"), ("submitSurvey", "bot"), ("login", None),
                                              *TICKET_BODIES, ("ticketFromChat", "sue")])
def test_not_an_object_or_no_body_is_422(api: Api, chat: str, ticket: str, operation_id: str,
                                         who: Optional[str]) -> None:
    id = _path_id(api, operation_id, chat, ticket)
    optional = not api.operations[operation_id].definition.raw["requestBody"].get("required")
    for raw in (b"[]", b'"text"', b"null") if optional else (b"", b"[]", b'"text"', b"null"):
        response = api.call(operation_id, who, 422, id=id, data=raw, headers={"Content-Type": "application/json"})
        assert _error(response)


# -- generated cases -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def live(api: Api) -> List[str]:
    """Escalations for the generated cases to act on: sue online with three chats offered, three waiting."""
    api.status(ann="offline", bob="offline", sue="online")
    return [api.create(topics=[])["id"] for _ in range(6)]


@pytest.fixture(scope="module")
def live_tickets(api: Api) -> List[Dict[str, Any]]:
    """Tickets for the generated cases to act on, one in each team, each with its own customer, e-mail address,
    conversation and order number (so searches and the bot's lookups find something)."""
    groups = api.operations["createTicket"].schema.raw_schema["components"]["schemas"]["SkillGroup"]["enum"]
    return [api("createTicket", "bot", 201, body=ticket_request(f"gen{n}-{uuid.uuid4().hex[:8]}", skill_group=g))
            for n, g in enumerate(groups)]


# Names of the store's keys under the tickets' prefix that are not tickets (each ref was a 500).
STORE_KEYS = ["count", "numbers", "ix:all"]


def _refs(tickets: List[Dict[str, Any]]) -> List[str]:
    """The ways a path names a ticket: its label (T-10042) and its id."""
    return [ref for t in tickets for ref in (t["label"], t["id"])]


def _with_live_id(operation: Any, strategy: st.SearchStrategy, live: List[str],
                  tickets: List[Dict[str, Any]]) -> st.SearchStrategy:
    name = "ref" if "{ref}" in operation.path else "id" if "{id}" in operation.path else None
    if name is None:
        return strategy
    ids = [*_refs(tickets), *STORE_KEYS] if name == "ref" else live

    def use(pair: Tuple[Any, Optional[str]]) -> Any:
        case, id = pair
        if id is not None:
            case.path_parameters = {**(case.path_parameters or {}), name: id}
        return case

    return st.tuples(strategy, st.sampled_from([None, *ids])).map(use)


def _known_names(operation: Any, tickets: List[Dict[str, Any]]) -> Dict[str, List[Any]]:
    """operationId -> what to put in a generated case some of the time (see _with_known_names)."""
    groups = operation.schema.raw_schema["components"]["schemas"]["SkillGroup"]["enum"]
    requesters = [t["requester"] for t in tickets]
    return {
        "createHandoff": groups, "transferHandoff": ["ann", "bob", "sue", None],
        "assignTicket": ["ann", "bob", "sue"], "mergeTicket": _refs(tickets),
        "createTicket": [True, False], "ticketFromChat": [True, False],
        "listTickets": [None, *({"skill_group": g} for g in groups), *({"q": t["label"]} for t in tickets),
                        *({"q": t["fields"]["order_id"]} for t in tickets), *({"q": r["email"]} for r in requesters)],
        "lookupTickets": [None, *({"conversation_id": r["conversation_id"]} for r in requesters),
                          *({"customer_id": r["customer_id"], "number": t["label"]}
                            for r, t in zip(requesters, tickets)),
                          *({"email": r["email"]} for r in requesters)],
    }


def _named(operation_id: str, case: Any, name: Any) -> None:
    body = case.body if isinstance(case.body, dict) else {}
    if operation_id == "createHandoff" and isinstance(body.get("routing"), dict):
        body["routing"]["skill_group"] = name
    elif operation_id in ("transferHandoff", "assignTicket") and "agent_id" in body and name:
        body["agent_id"] = name
    elif operation_id == "mergeTicket" and "into" in body:
        body["into"] = name
    elif operation_id in ("createTicket", "ticketFromChat") and name:
        body.pop("flow", None)  # no flows configured: any name is unknown
        body.pop("escalation_id", None)  # the bot's: only agents make tickets from chats
    elif operation_id in ("listTickets", "lookupTickets") and name:
        case.query = {**(case.query or {}), **name}


def _with_known_names(operation: Any, strategy: st.SearchStrategy,
                      tickets: List[Dict[str, Any]]) -> st.SearchStrategy:
    """Positive cases naming skill groups, agents, tickets, customers and flows the service knows some of the
    time: random names give 422 (unknown skill group in a handoff request, unknown agent in a transfer or an
    assignment, unknown flow), 404 (merging into no ticket) or empty lists before anything happens."""
    operation_id = operation.definition.raw["operationId"]
    names = _known_names(operation, tickets).get(operation_id)
    if names is None:
        return strategy

    def use(pair: Tuple[Any, Any]) -> Any:
        case, name = pair
        _named(operation_id, case, name)
        return case

    return st.tuples(strategy, st.sampled_from(names)).map(use)


@pytest.mark.parametrize("operation_id,method", [(op, m) for op in AUTH for m in (POSITIVE, NEGATIVE)
                                                 if not (m is NEGATIVE and op in POSITIVE_ONLY)],
                         ids=lambda v: getattr(v, "value", v))
def test_generated_cases(operation_id: str, method: DataGenerationMethod, api: Api, live: List[str],
                         live_tickets: List[Dict[str, Any]], base: str, session: requests.Session) -> None:
    operation = api.operations[operation_id]
    who = AUTH[operation_id]
    if who == "own":
        api.tokens["own"] = api.service.login("sue")
    headers = bearer(api.tokens[{"supervisor": "sue", "own": "own"}.get(who, "bot")]) if who else {}
    strategy = _with_live_id(operation, operation.as_strategy(data_generation_method=method), live, live_tickets)
    if method is POSITIVE:
        strategy = _with_known_names(operation, strategy, live_tickets)

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
def test_redis_down_is_503(service: Cluster, api: Api, live: List[str], live_tickets: List[Dict[str, Any]]) -> None:
    """Runs last: stops Redis, checks every operation's answer against the document, starts it again."""
    ref = live_tickets[0]["label"]
    queries = {"lookupTickets": {"conversation_id": live_tickets[0]["requester"]["conversation_id"]},
               "listTickets": {"view": "groups"},
               "reportSummary": {"from": "2026-11-30", "to": "2026-12-06"}, "reportWeekly": {"week": "2026-W49"},
               "reportExport": {"kind": "chats", "from": "2026-11-30", "to": "2026-12-06"}}
    calls = [("reportSummary", "sue", None, None), ("reportWeekly", "sue", None, None),
             ("reportExport", "sue", None, None),
             ("createHandoff", "bot", None, handoff_request("conv-redis-down")), ("getHandoff", "sue", live[0], None),
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
             ("removeAgent", "sue", "bob", None), ("logout", "own", None, None), ("health", None, None, None),
             ("createTicket", "bot", None, {"subject": "Redis is down"}), ("listTickets", "sue", None, None),
             ("lookupTickets", "bot", None, None), ("getTicket", "sue", ref, None), ("claimTicket", "sue", ref, None),
             ("assignTicket", "sue", ref, {"agent_id": "ann"}), ("replyTicket", "sue", ref, {"text": "hello"}),
             ("noteTicket", "sue", ref, {"text": "noted"}), ("setTicketState", "sue", ref, {"state": "solved"}),
             ("sendTicket", "sue", ref, {"skill_group": "billing", "note": "yours"}),
             ("mergeTicket", "sue", ref, {"into": live_tickets[1]["label"]}),
             ("ticketCustomerMessage", "bot", ref, {"text": "hello?"}),
             ("ticketSurvey", "bot", ref, {"resolved": True, "rating": 5}),
             ("ticketFromChat", "sue", live[0], {"note": "call back"}), ("leaveMessage", "bot", live[0], None)]
    api.tokens["own"] = service.login("sue")
    assert {c[0] for c in calls} == set(AUTH) - {"metrics", "getMeta"}  # both answer without Redis
    service.stop_redis()
    try:
        for operation_id, who, id, body in calls:
            response = api.call(operation_id, who, 503, id=id, body=body, checks=CHECKS[1:],  # a 503, documented
                                query=queries.get(operation_id))
            if operation_id != "health":
                assert response.json()["error"]["code"] == "unavailable"
                assert response.headers["Retry-After"] == "1"
        assert "handoff_escalations_total" in api.call("metrics", None, 200).text
        meta = api("getMeta", "sue", 200)
        assert meta["wrap_up_codes"] == api.wrap_up and meta["agents"] == []  # the policy files; no names without Redis
    finally:
        service.start_redis()
    api("health", None, 200)
