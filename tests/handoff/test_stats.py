"""The supervisor's numbers (GET /v1/stats/today), the team list, notes and previous conversations, computed by
HandoffService over the in-memory twin with a fake clock, so every figure is known exactly."""
from __future__ import annotations

import pytest

from handoff import stats
from handoff.auth import Caller, Forbidden
from handoff.store import Status
from tests.handoff.requests import handoff_request
from tests.handoff.test_service import env  # noqa: F401  (the fixture)

KEY = "{shop}:stats:conversations:"


def request(conversation_id, customer=None, **kwargs):
    body = handoff_request(conversation_id, **kwargs)
    body["customer"]["id"] = customer
    return body


def test_the_day_in_numbers(env):  # noqa: F811
    service, store, clock, run, agent = env
    clock.now -= 2 * 86400
    old = run(service.create(request("c0", "alice", topics=[]))).escalation  # nobody online: a ticket, 2 days ago
    clock.now += 2 * 86400
    ann = agent("ann", ["general"], max_chats=5)
    bob = agent("bob", ["billing"], max_chats=5)
    t0 = clock.now

    c1 = run(service.create(request("c1", "alice", topics=[], triggers=["explicit_request", "negative_sentiment"])))
    clock.now += 10
    run(service.accept(ann, c1.escalation.id))                      # waited 10 s
    clock.now += 5
    run(service.message(ann, c1.escalation.id, "Hi, I'm Ann"))
    run(service.finish(ann, c1.escalation.id, Status.CLOSED, "answered", {"resolved": True, "wrap_up": "answered"}))
    run(service.survey(c1.escalation.id, {"resolved": True, "rating": 4}))

    c2 = run(service.create(request("c2", "bert", topics=["refund_time"], triggers=["explicit_request"])))
    assert c2.escalation.agent_id == "bob"
    clock.now += 20
    run(service.accept(bob, c2.escalation.id))                      # waited 20 s
    run(service.transfer(bob, c2.escalation.id, "general", None, "not billing after all"))
    run(service.accept(ann, c2.escalation.id))
    run(service.finish(ann, c2.escalation.id, Status.CLOSED, "answered", {"resolved": True, "wrap_up": "answered"}))
    run(service.survey(c2.escalation.id, {"resolved": False, "rating": 2}))  # transferred: not a first-contact one

    c6 = run(service.create(request("c6", None, topics=["refund_time"], triggers=["payment_problem"])))
    clock.now += 60
    run(service.accept(bob, c6.escalation.id))                      # waited 60 s
    run(service.finish(bob, c6.escalation.id, Status.CLOSED, "other", {"resolved": False, "wrap_up": "other"}))
    run(service.survey(c6.escalation.id, {"resolved": False, "rating": None}))  # skipped the rating

    c5 = run(service.create(request("c5", "dora", topics=[])))
    run(service.accept(ann, c5.escalation.id))                      # waited 0 s
    clock.now += 5
    run(service.message(ann, c5.escalation.id, "Hello!"))           # first reply in 5 s: within the target
    clock.now += 100

    run(service.set_status("ann", "away"))                          # the next chats wait
    run(service.set_status("bob", "away"))
    cat = agent("cat", ["general"], max_chats=1)
    c3 = run(service.create(request("c3", "erik", topics=[])))
    assert (c3.escalation.status, c3.escalation.agent_id) == (Status.OFFERED, "cat")
    clock.now += 15
    c4 = run(service.create(request("c4", "finn", topics=[]))).escalation  # waits: cat is full
    assert c4.status == Status.WAITING
    clock.now += 16                                                 # cat accepts c3 after 31 s
    run(service.accept(cat, c3.escalation.id))
    clock.now += 8                                                  # c4 waited 24 s: near; c3 8 s without a reply

    store.conversations.update({KEY + "1970-01-11": {"c0", "c1", "x"}, KEY + "1970-01-12": {"c1", "c2", "c3", "c4",
                                                                                            "c5", "c6", "y", "z"}})
    body = run(service.stats_today(KEY))
    assert body["since"] == stats.iso(stats.window_start(clock.now))
    assert stats.day_keys(KEY, clock.now) == [KEY + "1970-01-11", KEY + "1970-01-12"]
    assert (body["handoffs"], body["conversations"], body["handoff_rate"]) == (6, 10, 0.6)  # c0 is 2 days old
    assert (body["wait_p50_seconds"], body["wait_p90_seconds"]) == (20.0, 48.4)  # waits 10, 20, 60, 0, 31
    assert body["first_contact_resolution"] == 0.3333                        # c1 of c1, c2, c6
    assert body["satisfaction"] == {"responses": 3, "average_rating": 3.0, "resolved_share": 0.3333}
    assert body["top_reasons"] == [{"name": "explicit_request", "count": 5}, {"name": "negative_sentiment", "count": 1},
                                   {"name": "payment_problem", "count": 1}]
    assert body["top_topics"] == [{"name": "refund_time", "count": 2}]
    assert len(body["hourly"]) == 24 and sum(h["handoffs"] for h in body["hourly"]) == 6
    assert body["hourly"][0]["hour"] == body["since"]
    assert body["outcomes"] == {"waiting": 1, "offered": 0, "assigned": 2, "released": 0, "closed": 3, "ticket": 0,
                                "abandoned": 0}
    sla = body["sla"]
    assert sla["first_response_target_seconds"] == 30
    assert sla["breaching"] == []                                   # c5's agent replied in 5 s, c3's has had 8 s
    assert sla["near"] == [{"id": c4.id, "conversation_id": "c4", "skill_group": "general", "status": "waiting",
                            "agent_id": None, "waiting_seconds": 24.0, "first_response_seconds": None}]
    clock.now += 22                                                 # c3: 30 s without a reply; c4 waited 46 s
    sla = run(service.stats_today(KEY))["sla"]
    assert [(i["conversation_id"], i["status"], i["agent_id"], i["waiting_seconds"], i["first_response_seconds"])
            for i in sla["breaching"]] == [("c4", "waiting", None, 46.0, None), ("c3", "assigned", "cat", None, 30.0)]
    assert sla["near"] == []
    run(service.message(cat, c3.escalation.id, "Sorry for the wait"))
    clock.now += 100                                                # c3's clock stopped at its reply
    sla = run(service.stats_today(KEY))["sla"]
    assert [(i["conversation_id"], i["first_response_seconds"]) for i in sla["breaching"]][1:] == [("c3", 30.0)]

    clock.now += 2 * 86400                                          # two days on: an empty window
    quiet = run(service.stats_today(KEY))
    assert (quiet["handoffs"], quiet["conversations"], quiet["handoff_rate"]) == (0, 0, None)
    assert (quiet["wait_p50_seconds"], quiet["first_contact_resolution"]) == (None, None)
    assert quiet["satisfaction"] == {"responses": 0, "average_rating": None, "resolved_share": None}
    assert old.id not in [i["id"] for i in quiet["sla"]["breaching"]]  # a ticket is not open


def test_previous_conversations_of_the_same_customer_newest_first(env):  # noqa: F811
    service, store, clock, run, agent = env
    ann = agent("ann", ["general"], max_chats=5)
    made = []
    for i, customer in enumerate(["alice", "bert", "alice", None, "alice"]):
        clock.now += 60
        created = run(service.create(request(f"c{i}", customer, topics=[]))).escalation
        run(service.accept(ann, created.id))
        run(service.finish(ann, created.id, Status.CLOSED, "answered", {"resolved": True, "wrap_up": "answered"}))
        made.append(created)
    clock.now += 60
    later = request("c3", None, topics=[])
    later["created_at"] = "2026-11-24T11:00:00Z"                    # a new handoff of conversation c3
    again = run(service.create(later)).escalation                   # no customer id: the same conversation counts
    record = run(service.record(run(store.get(made[4].id))))
    assert [p["id"] for p in record["previous"]] == [made[2].id, made[0].id]
    assert record["previous"][0] == {"id": made[2].id, "conversation_id": "c2", "created_at": record["previous"][0][
        "created_at"], "status": "closed", "skill_group": "general",
        "outcome": {"resolved": True, "wrap_up": "answered"}}
    assert [p["id"] for p in run(service.record(run(store.get(made[0].id))))["previous"]] == []
    assert [p["id"] for p in run(service.record(again))["previous"]] == [made[3].id]
    for i in range(12):
        clock.now += 60
        e = run(service.create(request(f"more{i}", "alice", topics=[]))).escalation
        run(service.accept(ann, e.id))
        run(service.finish(ann, e.id, Status.RELEASED, "bot"))
    assert len(run(service.record(e))["previous"]) == 10


def test_notes_by_the_chats_agent_and_supervisors_only_and_never_a_message(env):  # noqa: F811
    service, store, clock, run, agent = env
    ann = agent("ann", ["general"])
    bob = agent("bob", ["billing"])
    sue = agent("sue", ["general"], role="supervisor", status="away")
    e = run(service.create(request("c1", "alice", topics=[]))).escalation
    start = run(store.last_event_id())
    note = run(service.add_note(ann, e.id, "offered, not yet accepted: a note is fine"))
    assert (note["id"], note["author"]) == (1, "ann")
    with pytest.raises(Forbidden):
        run(service.add_note(bob, e.id, "not my chat"))
    with pytest.raises(Forbidden):
        run(service.add_note(Caller("bot"), e.id, "the bot cannot"))
    run(service.add_note(sue, e.id, "supervisor: VIP, be quick"))
    record = run(service.record(e))
    assert [n["text"] for n in record["notes"]] == ["offered, not yet accepted: a note is fine",
                                                    "supervisor: VIP, be quick"]
    assert record["messages"] == []
    events = run(store.events(start, 0))
    assert [ev.data["type"] for ev in events] == ["note", "note"] and all(ev.to == ["ann"] for ev in events)


def test_the_team_list_has_every_account_with_status_load_and_chats(env):  # noqa: F811
    service, store, clock, run, agent = env
    ann = agent("ann", ["general", "billing"], max_chats=3)
    agent("sue", ["general"], role="supervisor", status="offline")
    run(store.save_account("zed", {"id": "zed", "name": "Zed", "role": "agent", "skills": "billing",
                                   "max_chats": "2"}))                # never online
    e = run(service.create(request("c1", None, topics=[]))).escalation
    run(service.accept(ann, e.id))
    team = run(service.agents())
    assert team == [
        {"id": "ann", "name": "Ann", "role": "agent", "skills": ["general", "billing"], "languages": ["en"],
         "max_chats": 3, "status": "online", "status_reason": "", "load": 1, "disabled": False, "chats": [e.id]},
        {"id": "sue", "name": "Sue", "role": "supervisor", "skills": ["general"], "languages": ["en"],
         "max_chats": 2, "status": "offline", "status_reason": "", "load": 0, "disabled": False, "chats": []},
        {"id": "zed", "name": "Zed", "role": "agent", "skills": ["billing"], "languages": ["en"], "max_chats": 2,
         "status": "offline",
         "status_reason": "", "load": 0, "disabled": False, "chats": []}]


def test_percentiles_interpolate_and_the_window_is_whole_hours():
    assert stats.percentile([], 0.5) is None
    assert stats.percentile([7], 0.9) == 7
    assert stats.percentile([0, 10, 20, 31, 60], 0.5) == 20
    assert stats.percentile([0, 10, 20, 31, 60], 0.9) == 48.4
    assert stats.window_start(3600 * 100 + 59) == 3600 * 77
    assert stats.facets_of({"customer": {"id": None}, "decision": {"triggers": [{"name": "a"}, {"name": "a"}]},
                            "case_brief": {"topics": ["x", "y", "x"]}}, "conv-9") == {
        "customer": "conv:conv-9", "triggers": ["a"], "topics": ["x", "y"]}
