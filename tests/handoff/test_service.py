"""HandoffService over the in-memory twin: routing, overflow, tickets, reservation timeouts, estimates."""
from __future__ import annotations

import asyncio

import pytest

from common.routing import SkillGroups
from handoff.auth import Caller, Forbidden
from handoff.errors import Invalid
from handoff.memory_store import MemoryStore
from handoff.metrics import Metrics
from handoff.service import HandoffService
from handoff.store import Conflict, Status
from tests.handoff.requests import handoff_request
from tests.handoff.stores import Clock


@pytest.fixture
def env():
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    clock = Clock()
    store = MemoryStore()
    service = HandoffService(store, SkillGroups.load(), Metrics(), reservation_seconds=30.0, clock=clock)

    def run(coro):
        return loop.run_until_complete(coro)

    def agent(agent_id, skills, max_chats=2, status="online", role="agent"):
        run(store.save_account(agent_id, {"id": agent_id, "name": agent_id.title(), "role": role,
                                          "skills": ",".join(skills), "max_chats": str(max_chats)}))
        run(service.set_status(agent_id, status))
        return Caller("agent", agent_id, role)

    yield service, store, clock, run, agent
    loop.close()


def test_routes_by_the_tables_and_offers_to_the_longest_idle_free_agent(env):
    service, store, clock, run, agent = env
    agent("ann", ["billing"])
    clock.now += 5
    agent("bob", ["billing"])
    created = run(service.create(handoff_request("c1", categories={"double_charge": "charged twice"},
                                                 triggers=["payment_problem"])))
    e = created.escalation
    assert (e.skill_group, e.status, e.agent_id) == ("billing", Status.OFFERED, "ann")
    assert e.priority == 20  # base 10 + payment problem 10
    record = run(service.record(e))
    assert record["routing"]["reason"] == "routing rule 3: category double charge"
    assert record["routing"]["priority_reasons"] == ["base 10", "+10 payment problem"]
    assert record["transcript"][0]["text"] == "where is my order 123456?"
    assert created.as_dict()["estimated_wait_seconds"] == 0


def test_a_retry_returns_the_same_escalation(env):
    service, store, clock, run, agent = env
    first = run(service.create(handoff_request("c1")))
    again = run(service.create(handoff_request("c1")))
    assert again.escalation.id == first.escalation.id and (first.created, again.created) == (True, False)
    assert first.escalation.status == Status.TICKET  # nobody online: a retry must not make a second ticket
    agent("gil", ["general", "after_sales"])
    later = handoff_request("c1")
    later["created_at"] = "2026-11-24T11:00:00Z"  # a new request in the same conversation
    new = run(service.create(later))
    assert new.created and new.escalation.id != first.escalation.id and new.escalation.agent_id == "gil"


def test_no_agent_in_the_group_overflows_to_its_fallback(env):
    service, store, clock, run, agent = env
    agent("gil", ["general"])
    created = run(service.create(handoff_request("c1", tier="gold", topics=["order_status"])))
    e = created.escalation
    assert (e.skill_group, e.agent_id) == ("general", "gil")  # vip -> after_sales -> general
    routing = run(service.record(e))["routing"]
    assert routing["overflow"] == ["no agent online in vip", "no agent online in after_sales"]


def test_nobody_online_makes_a_ticket_with_a_reply_time(env):
    service, store, clock, run, agent = env
    agent("away", ["general", "billing"], status="away")
    created = run(service.create(handoff_request("c1", categories={"fraud": "not my order"})))
    body = created.as_dict()
    assert body["status"] == "ticket" and body["queue_position"] is None
    assert body["ticket"]["reply_within_hours"] == 24
    assert body["ticket"]["reply_by"].startswith("1970-01-") or body["ticket"]["reply_by"].endswith("Z")
    assert created.escalation.history[-1]["detail"] == "nobody online in billing -> general"


def test_an_ignored_offer_moves_on_to_the_next_agent_after_the_reservation_time(env):
    service, store, clock, run, agent = env
    agent("ann", ["general"], max_chats=1)
    clock.now += 1
    agent("bob", ["general"], max_chats=1)
    clock.now += 1
    e = run(service.create(handoff_request("c1", topics=[]))).escalation
    assert e.agent_id == "ann"
    run(store.set_agent(run(store.get_agent("bob")), clock.now))
    clock.now += 29
    run(service.sweep())
    assert run(store.get(e.id)).agent_id == "ann"          # still within 30 s
    clock.now += 1
    run(service.sweep())
    after = run(store.get(e.id))
    assert (after.status, after.agent_id) == (Status.OFFERED, "bob")
    assert "offer not accepted in time" in [h["detail"] for h in after.history]


def test_waiting_chats_overflow_when_their_group_goes_offline_and_become_tickets_when_all_do(env):
    service, store, clock, run, agent = env
    ann = agent("ann", ["after_sales"], max_chats=1)
    agent("gil", ["general"], max_chats=1)
    first = run(service.create(handoff_request("c1"))).escalation        # offered to ann
    second = run(service.create(handoff_request("c2"))).escalation       # waits in after_sales
    assert run(store.get(second.id)).status == Status.WAITING
    run(service.set_status("ann", "offline"))
    run(service.sweep())
    moved = run(store.get(second.id))
    assert (moved.skill_group, moved.status, moved.agent_id) == ("general", Status.OFFERED, "gil")
    third = run(service.create(handoff_request("c3", topics=[]))).escalation  # general, gil is full
    run(service.set_status("gil", "offline"))
    run(service.sweep())
    assert run(store.get(third.id)).status == Status.TICKET
    assert run(store.get(first.id)).status == Status.OFFERED and ann.agent_id == "ann"


def test_estimated_wait_counts_the_chats_ahead_and_the_groups_handling_time(env):
    service, store, clock, run, agent = env
    agent("ann", ["technical"], max_chats=1)
    run(service.create(handoff_request("c0", categories={"system_error": "error 500"})))
    waits = []
    for i in range(1, 4):
        clock.now += 1
        waits.append(run(service.create(handoff_request(f"c{i}", categories={"system_error": "error"}))).as_dict())
    assert [w["queue_position"] for w in waits] == [1, 2, 3]
    assert [w["estimated_wait_seconds"] for w in waits] == [480, 960, 1440]  # technical: 480 s a chat


def test_agents_act_only_on_their_chats_and_supervisors_on_all(env):
    service, store, clock, run, agent = env
    ann = agent("ann", ["general"])
    bob = agent("bob", ["billing"])
    sue = agent("sue", ["billing"], role="supervisor")
    e = run(service.create(handoff_request("c1", topics=[]))).escalation
    with pytest.raises(Forbidden):
        run(service.accept(bob, e.id))
    run(service.accept(ann, e.id))
    with pytest.raises(Forbidden):
        run(service.message(bob, e.id, "hi"))
    with pytest.raises(Invalid):
        run(service.transfer(ann, e.id, "nonexistent", None, "why not"))
    with pytest.raises(Invalid):
        run(service.finish(ann, e.id, Status.CLOSED, outcome={"resolved": True, "wrap_up": "made_up"}))
    moved = run(service.transfer(sue, e.id, None, "bob", "billing question"))
    assert (moved.status, moved.agent_id) == (Status.OFFERED, "bob")
    assert run(store.get_agent("ann")).load == 0
    run(service.accept(bob, e.id))
    done = run(service.finish(bob, e.id, Status.CLOSED, "refund_issued",
                              {"resolved": True, "wrap_up": "refund_issued"}))
    assert done.outcome["wrap_up"] == "refund_issued" and run(store.get_agent("bob")).load == 0


def sample(service, name, **labels):
    return service.metrics.registry.get_sample_value(name, labels) or 0.0


def test_a_survey_is_stored_once_on_a_closed_chat_and_counted_per_group(env):
    service, store, clock, run, agent = env
    ann = agent("ann", ["general"])
    e = run(service.create(handoff_request("c1", topics=[]))).escalation
    with pytest.raises(Conflict, match="not closed"):
        run(service.survey(e.id, {"resolved": True, "rating": 5}))
    run(service.accept(ann, e.id))
    run(service.finish(ann, e.id, Status.CLOSED, "answered", {"resolved": True, "wrap_up": "answered"}))
    clock.now += 60
    done = run(service.survey(e.id, {"resolved": True, "rating": 4, "comment": "thanks"}))
    assert done.outcome["survey"] == {"resolved": True, "rating": 4, "comment": "thanks", "at": clock.now}
    with pytest.raises(Conflict, match="survey already answered"):
        run(service.survey(e.id, {"resolved": False, "rating": None}))
    record = run(service.record(run(store.get(e.id))))
    assert record["outcome"]["survey"]["at"].endswith("Z")  # times in responses are ISO 8601, as elsewhere
    assert record["history"][-1]["detail"] == "survey: resolved, 4/5" and record["status"] == "closed"
    other = run(service.create(handoff_request("c2", topics=[]))).escalation
    run(service.accept(ann, other.id))
    run(service.finish(ann, other.id, Status.CLOSED, "answered", {"resolved": False, "wrap_up": "answered"}))
    run(service.survey(other.id, {"resolved": False, "rating": None, "comment": ""}))  # rating skipped
    assert run(store.get(other.id)).outcome["survey"] == {"resolved": False, "rating": None, "at": clock.now}
    assert sample(service, "handoff_surveys_total", skill_group="general", resolved="yes") == 1
    assert sample(service, "handoff_surveys_total", skill_group="general", resolved="no") == 1
    assert sample(service, "handoff_survey_rating_count", skill_group="general") == 1
    assert sample(service, "handoff_survey_rating_sum", skill_group="general") == 4


def lost_agent_setup(env):
    """ann (console connected) has accepted a general chat; bob, also general, is online with a free slot."""
    service, store, clock, run, agent = env
    ann = agent("ann", ["general"])
    e = run(service.create(handoff_request("c1", topics=[]))).escalation
    run(service.accept(ann, e.id))
    clock.now += 1
    agent("bob", ["general"])
    run(service.see(["ann", "bob"]))
    return e


def test_an_agent_unseen_past_the_grace_period_is_set_offline_and_their_chat_goes_to_the_next_agent(env):
    service, store, clock, run, agent = env
    e = lost_agent_setup(env)
    start = run(store.last_event_id())
    for _ in range(6):  # ann's console is gone; bob's process keeps seeing bob
        clock.now += 10
        run(service.see(["bob"]))
        run(service.sweep())
    assert run(store.get(e.id)).agent_id == "ann"                            # 60 s: not yet past the grace
    clock.now += 1
    run(service.see(["bob"]))
    run(service.sweep())
    moved = run(store.get(e.id))
    assert (moved.status, moved.agent_id, moved.skill_group) == (Status.OFFERED, "bob", "general")
    assert [(h["status"], h["agent"], h["detail"]) for h in moved.history[-3:]] == [
        ("assigned", "ann", ""), ("waiting", None, "agent disconnected"), ("offered", "bob", "")]
    assert run(store.get_agent("ann")).status == "offline" and run(store.agent_chats("ann")) == []
    assert run(store.get_agent("ann")).load == 0 and run(store.get_agent("bob")).status == "online"
    events = [(ev.data["type"], ev.to) for ev in run(store.events(start, 0))]
    assert ("agent_status", ["ann"]) in events and ("transferred", ["ann"]) in events
    assert ("offered", ["bob"]) in events
    assert sample(service, "handoff_agents_lost_total") == 1
    assert sample(service, "handoff_requeued_total", skill_group="general") == 1
    clock.now += 100
    run(service.see(["bob"]))
    run(service.sweep())                                                     # handled once, not again
    assert sample(service, "handoff_agents_lost_total") == 1 and run(store.get(e.id)).agent_id == "bob"


def test_an_agent_seen_again_within_the_grace_period_keeps_their_chat(env):
    service, store, clock, run, agent = env
    e = lost_agent_setup(env)
    clock.now += 50
    run(service.see(["ann", "bob"]))                                         # ann reconnected
    clock.now += 50                                                          # 100 s since the first sighting
    run(service.sweep())
    kept = run(store.get(e.id))
    assert (kept.status, kept.agent_id) == (Status.ASSIGNED, "ann")
    assert "agent disconnected" not in [h["detail"] for h in kept.history]
    assert run(store.get_agent("ann")).status == "online" and sample(service, "handoff_agents_lost_total") == 0


def test_api_only_agents_are_never_requeued_and_going_offline_keeps_the_chats(env):
    service, store, clock, run, agent = env
    carl = agent("carl", ["general"])                                       # never opens a WebSocket
    e = run(service.create(handoff_request("c1", topics=[]))).escalation
    run(service.accept(carl, e.id))
    run(service.see(["dora"]))
    agent("dora", ["billing"])
    run(service.set_status("dora", "offline"))                               # no chats: forgotten at once
    assert run(store.lost_agents(clock.now + 1)) == []
    clock.now += 3600
    run(service.sweep())
    assert run(store.get(e.id)).agent_id == "carl" and run(store.get_agent("carl")).status == "online"

    ann = agent("ann", ["general"])
    chat = run(service.create(handoff_request("c2", topics=[]))).escalation
    assert chat.agent_id == "ann"
    run(service.accept(ann, chat.id))
    run(service.see(["ann"]))
    run(service.set_status("ann", "offline"))                                # holding a chat: it stays hers
    clock.now += 30
    run(service.sweep())
    assert run(store.get(chat.id)).agent_id == "ann" and run(store.get(chat.id)).status == Status.ASSIGNED
    clock.now += 31                                                          # and then her console went away
    run(service.sweep())
    back = run(store.get(chat.id))
    assert (back.status, back.agent_id) == (Status.OFFERED, "carl")          # carl has a free slot
    assert back.history[-2]["detail"] == "agent disconnected"
    assert sample(service, "handoff_agents_lost_total") == 1


def test_a_lapsed_offer_goes_to_the_colleague_with_room_and_two_lapses_set_the_agent_away(env):
    service, store, clock, run, agent = env
    service.max_missed_offers = 2
    agent("ann", ["general"], max_chats=3, status="offline")
    bob = agent("bob", ["general"], max_chats=3)
    held = run(service.create(handoff_request("c0", topics=[]))).escalation
    run(service.accept(bob, held.id))                                      # bob: load 1 of 3
    clock.now += 1
    agent("ann", ["general"], max_chats=3)                                  # ann: load 0
    start = run(store.last_event_id())
    for conversation in ("c1", "c2"):
        e = run(service.create(handoff_request(conversation, topics=[]))).escalation
        assert e.agent_id == "ann"
        clock.now += 30
        run(service.sweep())
        after = run(store.get(e.id))
        assert (after.status, after.agent_id) == (Status.OFFERED, "bob")    # not back to ann
    ann = next(a for a in run(service.agents()) if a["id"] == "ann")
    assert (ann["status"], ann["status_reason"]) == ("away", "missed 2 offers in a row")
    events = [ev.data for ev in run(store.events(start, 0)) if ev.data["type"] == "agent_status"]
    assert events[-1]["agent"] == "ann" and events[-1]["reason"] == "missed 2 offers in a row"
    assert service.metrics.agents_away.labels("missed_offers")._value.get() == 1
    c3 = run(service.create(handoff_request("c3", topics=[]))).escalation
    assert (c3.status, c3.agent_id) == (Status.WAITING, None)                # bob is full, ann away: not hers
