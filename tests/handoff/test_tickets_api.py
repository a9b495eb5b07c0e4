"""Tickets through the running service (a real redis-server and a real service process): born from chats,
claimed, answered, sent between teams and back, with who may do what."""
from __future__ import annotations

import concurrent.futures
from typing import Iterator

import pytest
import requests

from tests.handoff.cluster import BOT_TOKEN, Cluster, bearer
from tests.handoff.requests import handoff_request

TEAM = [{"id": "ann", "name": "Ann Li", "skills": ["general", "after_sales"], "max_chats": 3},
        {"id": "amy", "skills": ["after_sales"], "max_chats": 3},
        {"id": "tom", "name": "Tom", "skills": ["technical"], "max_chats": 3},
        {"id": "bob", "skills": ["billing"], "max_chats": 3},
        {"id": "sue", "skills": ["general"], "max_chats": 3, "role": "supervisor"}]


@pytest.fixture(scope="module")
def svc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    cluster = Cluster(tmp_path_factory.mktemp("tickets"))
    try:
        cluster.start_redis()
        cluster.add_agents(TEAM)
        cluster.start_service()
        yield cluster
    finally:
        cluster.stop()


class Api:
    def __init__(self, svc: Cluster) -> None:
        self.base = svc.urls[0]
        self.tokens = {"bot": BOT_TOKEN, **{a["id"]: svc.login(a["id"]) for a in TEAM}}

    def __call__(self, method: str, path: str, who: str, expect: int, **kw):
        r = requests.request(method, self.base + path, headers=bearer(self.tokens[who]), timeout=10, **kw)
        assert r.status_code == expect, (method, path, who, r.status_code, r.text)
        return r.json() if r.content else None


@pytest.fixture(scope="module")
def api(svc: Cluster) -> Api:
    return Api(svc)


def night_ticket(api: Api, conversation: str, group: str = "after_sales", **kw) -> dict:
    """A handoff nobody is online for: the chat becomes a ticket."""
    body = api("POST", "/v1/handoffs", "bot", 201, json=handoff_request(conversation, group, **kw))
    assert body["status"] == "ticket"
    return body["ticket"]


def test_a_chat_nobody_can_take_becomes_a_ticket_with_a_number_and_a_due_time_and_a_retry_makes_no_second(api):
    ticket = night_ticket(api, "night-1")
    again = api("POST", "/v1/handoffs", "bot", 200, json=handoff_request("night-1", "after_sales"))
    assert ticket["label"].startswith("T-") and again["ticket"]["label"] == ticket["label"]
    assert ticket["due_at"] and ticket["due_local"] and ticket["timezone"]
    page = api("GET", f"/v1/tickets/{ticket['label']}", "sue", 200)
    t = page["ticket"]
    assert (t["state"], t["group"], t["source"], t["assignee"]) == ("new", "after_sales", "chat", None)
    assert t["fields"]["order_id"] == "123456" and t["requester"]["conversation_id"] == "night-1"
    assert [m["text"] for m in page["chats"][0]["transcript"]][0] == "where is my order 123456?"
    assert page["chats"][0]["brief"]["summary"].startswith("Customer asks where order 123456 is")
    assert [e["kind"] for e in page["timeline"]] == ["created", "linked"]
    lookup = api("GET", "/v1/tickets/lookup", "bot", 200, params={"conversation_id": "night-1"})
    assert [x["label"] for x in lookup["tickets"]] == [ticket["label"]]


def test_of_two_agents_claiming_at_once_exactly_one_wins(api):
    label = night_ticket(api, "night-race")["label"]
    paths = [("ann", f"/v1/tickets/{label}/claim"), ("amy", f"/v1/tickets/{label}/claim")] * 4
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(lambda p: requests.post(api.base + p[1], headers=bearer(api.tokens[p[0]]),
                                                      timeout=10), paths))
    winners = {who for (who, _), r in zip(paths, codes) if r.status_code == 200}
    assert len(winners) == 1 and {r.status_code for r in codes} <= {200, 409}
    conflict = next(r for r in codes if r.status_code == 409).json()["error"]["message"]
    assert conflict == f"{label} is already with {winners.pop()}"


def test_a_ticket_goes_to_technical_and_back_and_the_timeline_has_every_change(api):
    label = night_ticket(api, "night-repair")["label"]
    api("POST", f"/v1/tickets/{label}/claim", "ann", 200)
    assert label in [t["label"] for t in api("GET", "/v1/tickets", "ann", 200, params={"view": "mine"})["tickets"]]
    replied = api("POST", f"/v1/tickets/{label}/replies", "ann", 200, json={"text": "Which model is it?"})
    assert replied["state"] == "pending"
    answered = api("POST", f"/v1/tickets/{label}/customer_messages", "bot", 200,
                   json={"text": "Model K-200, error E42", "via": "chat", "message_id": "m1"})
    assert answered["state"] == "open"
    api("GET", f"/v1/tickets/{label}", "tom", 403)  # not technical's yet
    sent = api("POST", f"/v1/tickets/{label}/send", "ann", 200,
               json={"skill_group": "technical", "note": "E42 on a K-200: firmware?"})
    assert (sent["state"], sent["group"], sent["owner_group"], sent["assignee"]) == \
        ("on_hold", "technical", "after_sales", None)
    queue = api("GET", "/v1/tickets", "tom", 200, params={"view": "groups"})["tickets"]
    assert label in [t["label"] for t in queue]
    page = api("GET", f"/v1/tickets/{label}", "tom", 200)  # technical sees the whole history and brief
    assert "Model K-200, error E42" in [e.get("text") for e in page["timeline"]]
    assert page["chats"][0]["brief"]["summary"]
    api("POST", f"/v1/tickets/{label}/claim", "tom", 200)
    api("POST", f"/v1/tickets/{label}/notes", "tom", 200, json={"text": "flashed 2.1, fixed"})
    back = api("POST", f"/v1/tickets/{label}/send", "tom", 200,
               json={"skill_group": "after_sales", "note": "firmware updated, please confirm with the customer"})
    assert (back["state"], back["group"], back["assignee"]) == ("open", "after_sales", "ann")
    solved = api("POST", f"/v1/tickets/{label}/state", "ann", 200, json={"state": "solved", "reason": "fixed"})
    assert solved["state"] == "solved" and set(solved["team_seconds"]) == {"after_sales", "technical"}
    timeline = api("GET", f"/v1/tickets/{label}", "sue", 200)["timeline"]
    states = [(e["from"], e["to"]) for e in timeline if e["kind"] == "state"]
    assert states == [("new", "open"), ("open", "pending"), ("pending", "open"), ("open", "on_hold"),
                      ("on_hold", "open"), ("open", "solved")]
    teams = [(e["from"], e["to"]) for e in timeline if e["kind"] == "team"]
    assert teams == [("after_sales", "technical"), ("technical", "after_sales")]
    assert all(e["seconds"] >= 0 for e in timeline if e["kind"] == "team")
    assert [e["by"] for e in timeline if e["kind"] == "assigned"] == ["ann", "tom"]


def test_who_may_act_on_a_ticket(api):
    label = night_ticket(api, "night-auth", "billing", topics=["invoice"])["label"]
    api("POST", f"/v1/tickets/{label}/claim", "ann", 403)  # not in billing
    api("GET", "/v1/tickets", "bot", 403)
    api("GET", "/v1/tickets", "ann", 403, params={"view": "all"})
    assert label in [t["label"] for t in api("GET", "/v1/tickets", "sue", 200, params={"view": "all"})["tickets"]]
    api("GET", "/v1/tickets/lookup", "ann", 403, params={"conversation_id": "night-auth"})
    api("POST", f"/v1/tickets/{label}/assign", "bob", 403, json={"agent_id": "bob"})
    assert api("POST", f"/v1/tickets/{label}/assign", "sue", 200, json={"agent_id": "bob"})["assignee"] == "bob"
    missing = api("GET", "/v1/tickets/T-99999", "sue", 404)
    assert missing["error"]["message"] == "no such ticket: T-99999"
    bad = api("POST", f"/v1/tickets/{label}/state", "bob", 409, json={"state": "closed"})
    assert bad["error"]["message"] == f"{label} cannot go from open to closed"
    api("POST", f"/v1/tickets/{label}/send", "bob", 422, json={"skill_group": "nowhere", "note": "x"})


def test_a_waiting_customer_leaves_a_message_and_an_agent_makes_a_ticket_from_a_chat(api, svc):
    api("PUT", "/v1/agents/me/status", "bob", 200, json={"status": "online"})
    try:
        api("PUT", "/v1/agents/me/status", "bob", 200, json={"status": "away"})
        waiting = api("POST", "/v1/handoffs", "bot", 201, json=handoff_request("queue-1", "general"))
        assert waiting["status"] == "ticket"  # nobody online in general
        api("PUT", "/v1/agents/me/status", "ann", 200, json={"status": "online"})
        api("POST", "/v1/handoffs/" + api("POST", "/v1/handoffs", "bot", 201,
                                          json=handoff_request("queue-2", "general"))["id"] + "/accept", "ann", 200)
        second = api("POST", "/v1/handoffs", "bot", 201, json=handoff_request("queue-3", "general"))
        left = api("POST", f"/v1/handoffs/{second['id']}/leave_message", "bot", 200)
        assert second["status"] == "offered"  # to ann, who has room
        assert left["status"] == "ticket" and left["ticket"]["label"].startswith("T-") and left["ticket"]["due_local"]
        api("POST", f"/v1/handoffs/{second['id']}/leave_message", "bot", 409)
        chat = api("GET", "/v1/agents/me/handoffs", "ann", 200)["handoffs"][0]["id"]
        made = api("POST", f"/v1/handoffs/{chat}/ticket", "ann", 201, json={"note": "call back tomorrow"})
        again = api("POST", f"/v1/handoffs/{chat}/ticket", "ann", 200, json={})
        assert made["label"] == again["label"] and made["assignee"] == "ann" and made["source"] == "agent"
        api("POST", f"/v1/handoffs/{chat}/ticket", "bob", 403)
    finally:
        api("PUT", "/v1/agents/me/status", "ann", 200, json={"status": "offline"})
        api("PUT", "/v1/agents/me/status", "bob", 200, json={"status": "offline"})


def test_a_repair_follows_its_flow_after_sales_technical_after_sales_with_due_times_per_step(api):
    created = api("POST", "/v1/tickets", "bot", 201, json={
        "subject": "Kettle K-200 does not heat", "flow": "repair", "request_key": "repair-1",
        "requester": {"email": "li@example.com", "channel": "api"},
        "fields": {"product_model": "K-200", "fault_description": "no heat", "error_codes": ["E42"]}})
    label = created["label"]
    assert (created["group"], created["flow"]["steps"], created["flow"]["step"]) == \
        ("after_sales", ["after_sales", "technical", "after_sales"], 0)
    api("POST", f"/v1/tickets/{label}/claim", "amy", 200)
    step1 = api("POST", f"/v1/tickets/{label}/send", "amy", 200, json={"next_step": True, "note": "E42: firmware?"})
    assert (step1["group"], step1["flow"]["step"], step1["state"]) == ("technical", 1, "on_hold")
    assert step1["due_at"] and step1["fields"]["error_codes"] == ["E42"]
    api("POST", f"/v1/tickets/{label}/claim", "tom", 200)
    step2 = api("POST", f"/v1/tickets/{label}/send", "tom", 200, json={"next_step": True, "note": "reflashed"})
    assert (step2["group"], step2["flow"]["step"], step2["state"], step2["assignee"]) == \
        ("after_sales", 2, "open", "amy")
    last = api("POST", f"/v1/tickets/{label}/send", "amy", 409, json={"next_step": True, "note": "again?"})
    assert last["error"]["message"] == f"{label} is at the last step of the flow 'repair': solve it"
    unknown = api("POST", "/v1/tickets", "bot", 422, json={"subject": "x", "flow": "nope"})
    assert "unknown ticket flow 'nope'" in unknown["error"]["message"]


def test_billing_tickets_go_by_themselves_to_the_online_agent_with_the_fewest_open_tickets(api, svc):
    svc.add_agents([{"id": "bev", "skills": ["billing"], "max_chats": 1}])
    api.tokens["bev"] = svc.login("bev")
    api("PUT", "/v1/agents/me/status", "bob", 200, json={"status": "online"})
    api("PUT", "/v1/agents/me/status", "bev", 200, json={"status": "online"})
    try:
        before = {a: len(api("GET", "/v1/tickets", a, 200, params={"view": "mine"})["tickets"]) for a in ("bob", "bev")}
        labels = [api("POST", "/v1/tickets", "bot", 201, json={"subject": f"invoice {i}", "skill_group": "billing",
                                                              "request_key": f"auto-{i}"})["label"]
                  for i in range(4)]
        import time
        deadline = time.monotonic() + 10
        while True:
            mine = {a: [t["label"] for t in api("GET", "/v1/tickets", a, 200, params={"view": "mine"})["tickets"]]
                    for a in ("bob", "bev")}
            if sum(len(set(m) & set(labels)) for m in mine.values()) == 4 or time.monotonic() > deadline:
                break
            time.sleep(0.3)
        got = {a: len(set(m) & set(labels)) for a, m in mine.items()}
        assert sum(got.values()) == 4
        assert abs((before["bob"] + got["bob"]) - (before["bev"] + got["bev"])) <= 1  # the loads even out
    finally:
        for a in ("bob", "bev"):
            api("PUT", "/v1/agents/me/status", a, 200, json={"status": "offline"})


def test_a_ref_naming_another_store_key_is_no_such_ticket(api):
    """A ref is a label or a ticket id: the names of the store's other keys under the tickets' prefix (the number
    counter, the number table, an index, a timeline, a request key) were read as tickets (500)."""
    made = api("POST", "/v1/tickets", "bot", 201, json={"subject": "keys", "request_key": "ref-keys-1"})
    for ref in ("count", "numbers", "ix:all", f"{made['id']}:tl", "key:ref-keys-1"):
        missing = api("GET", f"/v1/tickets/{ref}", "sue", 404)
        assert missing["error"]["message"] == f"no such ticket: {ref}"
        api("POST", f"/v1/tickets/{ref}/claim", "sue", 404)
        api("POST", f"/v1/tickets/{ref}/customer_messages", "bot", 404, json={"text": "hello?"})
        api("POST", f"/v1/tickets/{made['label']}/merge", "sue", 404, json={"into": ref})
    assert api("GET", f"/v1/tickets/{made['id']}", "sue", 200)["ticket"]["label"] == made["label"]


def test_the_message_ids_a_ticket_remembers_are_not_among_its_fields(api):
    """The customer's message ids (kept so a sender's retry is added once) are the service's own: the ticket's
    fields show what is known about the case (order, product, fault), in answers and on the page."""
    label = night_ticket(api, "night-ids")["label"]
    answer = {"text": "It is a K-200", "via": "chat", "message_id": "night-ids-1"}
    first = api("POST", f"/v1/tickets/{label}/customer_messages", "bot", 200, json=answer)
    again = api("POST", f"/v1/tickets/{label}/customer_messages", "bot", 200, json=answer)
    page = api("GET", f"/v1/tickets/{label}", "sue", 200)
    for shown in (first["fields"], again["fields"], page["ticket"]["fields"]):
        assert shown == {"order_id": "123456"}
    assert [e["text"] for e in page["timeline"] if e["kind"] == "customer"] == ["It is a K-200"]


def test_the_bots_lookup_of_a_number_that_is_not_one_finds_nothing_else(api):
    """Asked about "T-1x" the bot must not be given the customer's other tickets as if they were that one."""
    label = night_ticket(api, "night-lookup")["label"]
    found = api("GET", "/v1/tickets/lookup", "bot", 200, params={"conversation_id": "night-lookup", "number": label})
    assert [t["label"] for t in found["tickets"]] == [label]
    for number in (f"{label}x", "T-", "ticket"):
        bad = api("GET", "/v1/tickets/lookup", "bot", 422, params={"conversation_id": "night-lookup", "number": number})
        assert bad["error"]["message"] == f"number: {number!r} is not a ticket number (T-10042)"


def test_a_listing_with_a_bad_limit_state_or_group_says_which(api):
    """A typo in a filter is a 422 naming it, not an empty list that looks like "no tickets"."""
    for params, field in (({"limit": "ten"}, "limit"), ({"limit": "0"}, "limit"), ({"limit": "201"}, "limit"),
                          ({"state": "opened"}, "state"), ({"skill_group": "tech"}, "skill_group")):
        bad = api("GET", "/v1/tickets", "sue", 422, params={"view": "all", **params})
        assert bad["error"]["message"].startswith(f"{field}: "), bad
    assert api("GET", "/v1/tickets", "sue", 200, params={"view": "all", "limit": "1", "state": "new",
                                                         "skill_group": "after_sales"})["tickets"]


def test_a_request_key_does_not_show_an_agent_a_ticket_of_other_groups(api):
    """A repeated request_key answers the ticket it made: to an agent, only when it is one they may see."""
    body = {"subject": "Refund for order 99", "skill_group": "billing", "request_key": "mail:refund-99.example.com"}
    made = api("POST", "/v1/tickets", "bot", 201, json=body)
    refused = api("POST", "/v1/tickets", "ann", 403, json=body)  # ann is not in billing
    assert refused["error"]["message"] == f"{made['label']} belongs to groups you are not in"
    assert api("POST", "/v1/tickets", "bob", 200, json=body)["id"] == made["id"]
    assert api("POST", "/v1/tickets", "bot", 200, json=body)["id"] == made["id"]


def test_a_chat_record_names_the_ticket_it_became_also_when_it_became_one_at_the_handoff(api):
    created = api("POST", "/v1/handoffs", "bot", 201, json=handoff_request("night-record", "after_sales"))
    record = api("GET", f"/v1/handoffs/{created['id']}", "sue", 200)
    assert [(t["label"], t["state"]) for t in record["tickets"]] == [(created["ticket"]["label"], "new")]


def test_a_supervisor_pages_through_every_ticket_newest_first(api, svc):
    import redis as redis_lib
    made = [api("POST", "/v1/tickets", "bot", 201, json={"subject": f"page {i}", "request_key": f"page-{i}"})["label"]
            for i in range(5)]
    total = redis_lib.Redis.from_url(svc.redis_url).zcard("{ho}:t:ix:all")
    assert total >= 5
    seen, offset = [], 0
    while offset is not None:
        page = api("GET", "/v1/tickets", "sue", 200, params={"view": "all", "limit": 7, "offset": offset})
        seen += [t["label"] for t in page["tickets"]]
        offset = page["next_offset"]
    assert len(seen) == len(set(seen)) == total  # every ticket once, beyond the first page
    assert seen[:5] == list(reversed(made))  # newest first
    bad = api("GET", "/v1/tickets", "sue", 422, params={"view": "all", "offset": "-1"})
    assert bad["error"]["message"] == "offset: a whole number from 0 to 1000000, not '-1'"
    api("GET", "/v1/tickets", "ann", 403, params={"view": "all", "offset": 7})
