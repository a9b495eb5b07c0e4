# Over 400 lines: one contract, every step of the store interface, run against both stores (tickets: test_ticket_store.py).
"""The store contract, run against the in-memory twin and the Redis store (a real redis-server)."""
import asyncio
import uuid

import pytest

from handoff.memory_store import MemoryStore
from handoff.store import Agent, Conflict, NotFound, Status
from tests.handoff.stores import store, loop, run  # noqa: F401  (store, loop: fixtures)

SPP = 10.0  # seconds of waiting worth one priority point


def test_create_is_idempotent_per_open_conversation(store):
    e1, created1 = run(store.create("conv-1", "billing", 20, {"x": 1}, 100.0, SPP))
    e2, created2 = run(store.create("conv-1", "billing", 20, {"x": 2}, 101.0, SPP))
    assert (created1, created2) == (True, False) and e1.id == e2.id
    assert e1.status == Status.WAITING and e1.skill_group == "billing" and e1.priority == 20
    assert run(store.document(e1.id)) == {"x": 1}
    assert run(store.waiting("billing")) == [e1.id]
    assert [h["status"] for h in run(store.get(e1.id)).history] == ["waiting"]


def test_queue_order_is_priority_with_ageing(store):
    old_low, _ = run(store.create("a", "general", 10, {}, 0.0, SPP))     # rank 0 - 100 = -100
    new_high, _ = run(store.create("b", "general", 30, {}, 150.0, SPP))  # rank 150 - 300 = -150
    new_low, _ = run(store.create("c", "general", 10, {}, 150.0, SPP))   # rank 50
    assert run(store.waiting("general")) == [new_high.id, old_low.id, new_low.id]
    assert run(store.queue_position(old_low.id, "general")) == 2


def test_offer_goes_to_the_least_loaded_longest_idle_agent_with_the_skill(store):
    run(store.set_agent(Agent("ann", ("billing", "general"), 2, "online"), 1.0))
    run(store.set_agent(Agent("bob", ("billing",), 2, "online"), 2.0))
    run(store.set_agent(Agent("cat", ("technical",), 2, "online"), 0.5))
    run(store.set_agent(Agent("dan", ("billing",), 2, "away"), 0.1))
    e1, _ = run(store.create("c1", "billing", 10, {}, 10.0, SPP))
    e2, _ = run(store.create("c2", "billing", 10, {}, 11.0, SPP))
    e3, _ = run(store.create("c3", "billing", 10, {}, 12.0, SPP))
    assert run(store.offer_next("billing", 20.0, 30.0)) == (e1.id, "ann")   # idle since 1.0
    assert run(store.offer_next("billing", 21.0, 30.0)) == (e2.id, "bob")   # ann has a chat now
    assert run(store.offer_next("billing", 22.0, 30.0)) == (e3.id, "ann")   # both 1 chat; ann's offer is older
    assert run(store.offer_next("billing", 23.0, 30.0)) is None             # queue empty
    offered = run(store.get(e1.id))
    assert (offered.status, offered.agent_id, offered.offer_deadline) == (Status.OFFERED, "ann", 50.0)
    assert run(store.get_agent("ann")).load == 2


def test_full_agents_and_offline_agents_get_nothing(store):
    run(store.set_agent(Agent("ann", ("vip",), 1, "online"), 1.0))
    e1, _ = run(store.create("c1", "vip", 10, {}, 10.0, SPP))
    e2, _ = run(store.create("c2", "vip", 10, {}, 11.0, SPP))
    assert run(store.offer_next("vip", 20.0, 30.0)) == (e1.id, "ann")
    assert run(store.offer_next("vip", 21.0, 30.0)) is None                 # ann is full
    assert run(store.waiting("vip")) == [e2.id]
    run(store.set_agent(Agent("ann", ("vip",), 1, "offline"), 22.0))
    run(store.accept(e1.id, "ann", 23.0))
    run(store.finish(e1.id, "ann", Status.CLOSED, 24.0, "resolved"))
    assert run(store.offer_next("vip", 25.0, 30.0)) is None                 # offline
    run(store.set_agent(Agent("ann", ("vip",), 1, "online"), 26.0))
    assert run(store.offer_next("vip", 27.0, 30.0)) == (e2.id, "ann")


def test_accept_only_by_the_offered_agent_and_only_once(store):
    run(store.set_agent(Agent("ann", ("general",), 3, "online"), 1.0))
    e, _ = run(store.create("c1", "general", 10, {}, 10.0, SPP))
    with pytest.raises(Conflict):
        run(store.accept(e.id, "ann", 11.0))                                # not offered yet
    run(store.offer_next("general", 12.0, 30.0))
    with pytest.raises(Conflict):
        run(store.accept(e.id, "bob", 13.0))
    assert run(store.accept(e.id, "ann", 14.0)).status == Status.ASSIGNED
    with pytest.raises(Conflict):
        run(store.accept(e.id, "ann", 15.0))
    with pytest.raises(NotFound):
        run(store.accept("nope", "ann", 15.0))
    assert [h["status"] for h in run(store.get(e.id)).history] == ["waiting", "offered", "assigned"]


def test_an_ignored_offer_returns_to_its_place_and_frees_the_agent(store):
    run(store.set_agent(Agent("ann", ("general",), 1, "online"), 1.0))
    first, _ = run(store.create("c1", "general", 10, {}, 10.0, SPP))
    later, _ = run(store.create("c2", "general", 10, {}, 20.0, SPP))
    run(store.offer_next("general", 30.0, 30.0))
    assert run(store.expire_offers(59.0, SPP)) == []
    assert run(store.expire_offers(60.0, SPP)) == [(first.id, "ann")]
    e = run(store.get(first.id))
    assert (e.status, e.agent_id, e.offer_deadline) == (Status.WAITING, None, None)
    assert e.history[-1]["detail"] == "offer not accepted in time"
    assert run(store.waiting("general")) == [first.id, later.id]          # kept its place
    assert run(store.get_agent("ann")).load == 0
    with pytest.raises(Conflict):
        run(store.accept(first.id, "ann", 61.0))


def test_finish_frees_the_slot_and_a_new_escalation_may_start(store):
    run(store.set_agent(Agent("ann", ("general",), 1, "online"), 1.0))
    e, _ = run(store.create("c1", "general", 10, {}, 10.0, SPP))
    run(store.offer_next("general", 11.0, 30.0))
    with pytest.raises(Conflict):
        run(store.finish(e.id, "ann", Status.RELEASED, 12.0))               # offered, not assigned
    run(store.accept(e.id, "ann", 12.0))
    with pytest.raises(Conflict):
        run(store.finish(e.id, "bob", Status.RELEASED, 13.0))
    assert run(store.finish(e.id, "ann", Status.RELEASED, 13.0)).status == Status.RELEASED
    assert run(store.get_agent("ann")).load == 0
    again, created = run(store.create("c1", "general", 10, {}, 14.0, SPP))
    assert created and again.id != e.id


def test_concurrent_offers_never_give_a_chat_twice(store):
    async def scenario():
        for i in range(10):
            await store.set_agent(Agent(f"a{i}", ("general",), 3, "online"), float(i))
        ids = [(await store.create(f"c{i}", "general", 10, {}, 100.0 + i, SPP))[0].id for i in range(40)]
        results = await asyncio.gather(*(store.offer_next("general", 200.0, 30.0) for _ in range(60)))
        return ids, [r for r in results if r]
    ids, offers = run(scenario())
    assert len(offers) == 30                                                # 10 agents x 3 chats
    assert len({e for e, _ in offers}) == 30 and {e for e, _ in offers} <= set(ids)
    per_agent = {}
    for _, a in offers:
        per_agent[a] = per_agent.get(a, 0) + 1
    assert set(per_agent.values()) == {3}


def test_a_waiting_chat_becomes_a_ticket_and_an_offered_one_can_be_abandoned(store):
    run(store.set_agent(Agent("ann", ("general",), 1, "online"), 1.0))
    offered, _ = run(store.create("c1", "general", 10, {}, 10.0, SPP))
    waiting, _ = run(store.create("c2", "general", 10, {}, 11.0, SPP))
    run(store.offer_next("general", 12.0, 30.0))
    t = run(store.leave_queue(waiting.id, Status.TICKET, 13.0, "nobody online"))
    assert (t.status, t.history[-1]["detail"]) == (Status.TICKET, "nobody online")
    assert run(store.waiting("general")) == []
    a = run(store.leave_queue(offered.id, Status.ABANDONED, 14.0, "customer left"))
    assert (a.status, a.agent_id) == (Status.ABANDONED, None)
    assert run(store.get_agent("ann")).load == 0
    assert run(store.expire_offers(100.0, SPP)) == []                      # the offer is gone too
    with pytest.raises(Conflict):
        run(store.leave_queue(offered.id, Status.TICKET, 15.0))
    with pytest.raises(ValueError):
        run(store.leave_queue(waiting.id, Status.CLOSED, 15.0))
    again, created = run(store.create("c2", "general", 10, {}, 16.0, SPP))  # a closed case may start anew
    assert created and again.id != waiting.id


def test_transfer_to_a_group_keeps_the_rank_and_to_an_agent_offers_it(store):
    run(store.set_agent(Agent("ann", ("general",), 2, "online"), 1.0))
    run(store.set_agent(Agent("bob", ("billing",), 1, "online"), 2.0))
    e, _ = run(store.create("c1", "general", 10, {}, 10.0, SPP))
    run(store.offer_next("general", 11.0, 30.0))
    run(store.accept(e.id, "ann", 12.0))
    with pytest.raises(Conflict):
        run(store.transfer(e.id, "bob", 13.0, SPP, to_group="billing"))     # not bob's chat
    moved = run(store.transfer(e.id, "ann", 13.0, SPP, to_group="billing", detail="refund question"))
    assert (moved.status, moved.skill_group, moved.agent_id) == (Status.WAITING, "billing", None)
    assert moved.history[-1]["detail"] == "refund question"
    assert run(store.waiting("billing")) == [e.id] and run(store.waiting("general")) == []
    assert run(store.get_agent("ann")).load == 0 and run(store.agent_chats("ann")) == []
    with pytest.raises(NotFound):
        run(store.transfer(e.id, None, 14.0, SPP, to_agent="zed"))
    offered = run(store.transfer(e.id, None, 14.0, SPP, to_agent="bob", reservation_seconds=5.0))
    assert (offered.status, offered.agent_id, offered.offer_deadline) == (Status.OFFERED, "bob", 19.0)
    assert run(store.waiting("billing")) == [] and run(store.agent_chats("bob")) == [e.id]
    second, _ = run(store.create("c2", "general", 10, {}, 15.0, SPP))
    with pytest.raises(Conflict):
        run(store.transfer(second.id, None, 16.0, SPP, to_agent="bob"))    # bob is full
    assert run(store.expire_offers(19.0, SPP)) == [(e.id, "bob")]           # goes back to billing's queue
    assert run(store.waiting("billing")) == [e.id]


def test_messages_are_ordered_and_only_the_assigned_agent_may_write(store):
    run(store.set_agent(Agent("ann", ("general",), 1, "online"), 1.0))
    e, _ = run(store.create("c1", "general", 10, {}, 10.0, SPP))
    assert run(store.add_message(e.id, "customer", "still there?", None, 11.0))["seq"] == 1
    with pytest.raises(Conflict):
        run(store.add_message(e.id, "agent", "hello", "ann", 12.0))        # not assigned yet
    run(store.offer_next("general", 12.0, 30.0))
    run(store.accept(e.id, "ann", 13.0))
    with pytest.raises(Conflict):
        run(store.add_message(e.id, "agent", "hello", "bob", 14.0))
    run(store.add_message(e.id, "agent", "Hi, I'm Ann", "ann", 14.0))
    run(store.add_message(e.id, "customer", "my parcel <b>", None, 15.0))
    msgs = run(store.messages(e.id))
    assert [(m["seq"], m["speaker"], m["text"]) for m in msgs] == [
        (1, "customer", "still there?"), (2, "agent", "Hi, I'm Ann"), (3, "customer", "my parcel <b>")]
    assert msgs[1]["author"] == "ann"
    run(store.finish(e.id, "ann", Status.CLOSED, 16.0, outcome={"resolved": True, "wrap_up": "answered"}))
    assert run(store.get(e.id)).outcome == {"resolved": True, "wrap_up": "answered"}
    with pytest.raises(Conflict):
        run(store.add_message(e.id, "customer", "late", None, 17.0))


def test_queue_stats_count_waiting_oldest_online_and_free_slots(store):
    run(store.set_agent(Agent("ann", ("general", "vip"), 3, "online"), 1.0))
    run(store.set_agent(Agent("bob", ("general",), 2, "away"), 1.0))
    run(store.create("c1", "general", 10, {}, 10.0, SPP))
    run(store.create("c2", "general", 50, {}, 12.0, SPP))
    run(store.offer_next("general", 13.0, 30.0))
    general, vip = run(store.queue_stats(["general", "vip"]))
    assert (general.waiting, general.oldest_since, general.online, general.capacity, general.free) == (1, 10.0, 1, 3, 2)
    assert (vip.waiting, vip.oldest_since, vip.online, vip.free) == (0, None, 1, 2)


def test_every_transition_is_an_event_addressed_to_its_agent(store):
    async def scenario():
        start = await store.last_event_id()
        await store.set_agent(Agent("ann", ("general",), 1, "online"), 1.0)
        e, _ = await store.create("c1", "general", 10, {}, 10.0, SPP)
        await store.offer_next("general", 11.0, 30.0)
        await store.accept(e.id, "ann", 12.0)
        await store.add_message(e.id, "customer", "hi", None, 13.0)
        await store.finish(e.id, "ann", Status.RELEASED, 14.0)
        return e, await store.events(start, 0)
    e, events = run(scenario())
    assert [(ev.data["type"], ev.to) for ev in events] == [
        ("agent_status", ["ann"]), ("created", []), ("offered", ["ann"]), ("assigned", ["ann"]),
        ("message", ["ann"]), ("released", ["ann"])]
    assert events[2].data["conversation_id"] == "c1" and events[4].data["message"]["text"] == "hi"
    assert events[3].data["agent_name"] == "ann"  # no account: the id stands in for the name
    assert run(store.events(events[-1].id, 0)) == []


def test_events_wait_for_the_next_transition(store):
    async def scenario():
        start = await store.last_event_id()
        reader = asyncio.ensure_future(store.events(start, 2000))
        await asyncio.sleep(0.05)
        await store.create("c1", "general", 10, {}, 10.0, SPP)
        return await asyncio.wait_for(reader, 3)
    assert [ev.data["type"] for ev in run(scenario())] == ["created"]


def test_a_retried_request_returns_its_escalation_even_after_it_ended(store):
    e, _ = run(store.create("c1", "general", 10, {}, 10.0, SPP, request_key="2026-11-24T10:00:00Z"))
    run(store.leave_queue(e.id, Status.TICKET, 11.0, "nobody online"))
    again, created = run(store.create("c1", "general", 10, {}, 12.0, SPP, request_key="2026-11-24T10:00:00Z"))
    assert (again.id, created) == (e.id, False)
    new, created = run(store.create("c1", "general", 10, {}, 13.0, SPP, request_key="2026-11-24T10:05:00Z"))
    assert created and new.id != e.id


def test_escalate_offers_at_once_overflows_and_makes_tickets_in_one_step(store):
    ticket = {"reply_by": "2026-11-25T10:00:00.000Z", "reply_within_hours": 24}
    run(store.set_agent(Agent("gil", ("general",), 1, "online"), 1.0))
    first = run(store.escalate("c1", ["vip", "after_sales", "general"], 40, {"d": 1}, 10.0, SPP, "k1", 30.0, ticket))
    e = first.escalation
    assert first.created and (e.status, e.skill_group, e.agent_id) == (Status.OFFERED, "general", "gil")
    assert e.overflow == ["vip", "after_sales"] and run(store.get(e.id)).overflow == ["vip", "after_sales"]
    assert first.queue_position is None and run(store.document(e.id)) == {"d": 1}
    again = run(store.escalate("c1", ["vip"], 40, {"d": 2}, 11.0, SPP, "k1", 30.0, ticket))
    assert (again.escalation.id, again.created) == (e.id, False)
    second = run(store.escalate("c2", ["general"], 10, {}, 12.0, SPP, "k2", 30.0, ticket))  # gil is full
    assert (second.escalation.status, second.queue_position) == (Status.WAITING, 1)
    assert (second.group.online, second.group.capacity, second.group.free) == (1, 1, 0)
    third = run(store.escalate("c3", ["billing"], 10, {}, 13.0, SPP, "k3", 30.0, ticket))
    assert (third.escalation.status, third.escalation.outcome) == (Status.TICKET, ticket)
    assert third.escalation.skill_group == "billing" and run(store.waiting("billing")) == []
    assert run(store.get(third.escalation.id)).history[-1]["detail"] == "nobody online in billing"


def closed_chat(store, conversation_id: str = "c1"):
    """A chat ann took and closed (resolved, answered) at 14.0."""
    run(store.set_agent(Agent("ann", ("general",), 2, "online"), 1.0))
    e, _ = run(store.create(conversation_id, "general", 10, {}, 10.0, SPP))
    run(store.offer_next("general", 11.0, 30.0))
    run(store.accept(e.id, "ann", 12.0))
    run(store.finish(e.id, "ann", Status.CLOSED, 14.0, "answered", {"resolved": True, "wrap_up": "answered"}))
    return e


def test_a_closed_chat_stores_one_survey_with_a_history_entry_and_an_event(store):
    e = closed_chat(store)
    start = run(store.last_event_id())
    done = run(store.set_survey(e.id, {"resolved": True, "rating": 4, "comment": "quick, thanks"}, 20.0))
    survey = {"resolved": True, "rating": 4, "comment": "quick, thanks", "at": 20.0}
    assert done.status == Status.CLOSED and done.outcome == {"resolved": True, "wrap_up": "answered", "survey": survey}
    stored = run(store.get(e.id))
    assert stored.outcome["survey"] == survey and stored.status == Status.CLOSED
    assert stored.history[-1] == {"at": 20.0, "status": "closed", "agent": "ann", "detail": "survey: resolved, 4/5"}
    (event,) = run(store.events(start, 0))
    assert event.to == ["ann"] and event.data == {"type": "survey", "escalation": e.id, "conversation_id": "c1",
                                                  "group": "general", "agent": "ann", "survey": survey, "at": 20.0}
    with pytest.raises(Conflict, match="survey already answered"):
        run(store.set_survey(e.id, {"resolved": False, "rating": 1}, 21.0))
    assert run(store.get(e.id)).outcome["survey"] == survey and len(run(store.get(e.id)).history) == len(stored.history)


def test_a_skipped_rating_is_stored_as_null(store):
    e = closed_chat(store)
    done = run(store.set_survey(e.id, {"resolved": False, "rating": None}, 20.0))
    assert done.outcome["survey"] == {"resolved": False, "rating": None, "at": 20.0}
    assert run(store.get(e.id)).history[-1]["detail"] == "survey: not resolved, no rating"


def test_a_survey_needs_a_closed_chat(store):
    run(store.set_agent(Agent("ann", ("general",), 2, "online"), 1.0))
    waiting, _ = run(store.create("c1", "general", 10, {}, 10.0, SPP))
    with pytest.raises(Conflict, match="waiting, not closed"):
        run(store.set_survey(waiting.id, {"resolved": True, "rating": 5}, 11.0))
    run(store.offer_next("general", 12.0, 30.0))
    run(store.accept(waiting.id, "ann", 13.0))
    with pytest.raises(Conflict, match="assigned, not closed"):
        run(store.set_survey(waiting.id, {"resolved": True, "rating": 5}, 14.0))
    run(store.finish(waiting.id, "ann", Status.RELEASED, 15.0))
    with pytest.raises(Conflict, match="released, not closed"):
        run(store.set_survey(waiting.id, {"resolved": True, "rating": 5}, 16.0))
    assert "survey" not in run(store.get(waiting.id)).outcome
    with pytest.raises(NotFound):
        run(store.set_survey("nope", {"resolved": True, "rating": 5}, 17.0))


def test_presence_lost_agents_are_claimed_once_and_a_fresh_sighting_keeps_them(store):
    run(store.touch_agents([], 5.0))                                        # nothing to record
    run(store.touch_agents(["ann", "bob"], 10.0))
    run(store.touch_agents(["ann"], 20.0))
    assert run(store.lost_agents(10.0)) == []                               # seen at 10.0 is not before 10.0
    assert run(store.lost_agents(15.0)) == ["bob"]
    assert run(store.lost_agents(25.0)) == ["ann", "bob"]
    assert run(store.forget_agent("ann", 15.0)) is False                    # seen again at 20.0: not lost
    assert run(store.forget_agent("bob", 15.0)) is True
    assert run(store.forget_agent("bob", 15.0)) is False                    # another process claimed bob first
    assert run(store.lost_agents(25.0)) == ["ann"]
    run(store.touch_agents(["bob"], 30.0))                                  # bob's console is back
    assert run(store.lost_agents(25.0)) == ["ann"]
    assert run(store.forget_agent("ann")) is True                           # without a time: unconditionally
    assert run(store.forget_agent("zed")) is False
    assert run(store.lost_agents(100.0)) == ["bob"]


def test_concurrent_claims_of_a_lost_agent_have_one_winner(store):
    run(store.touch_agents(["ann"], 10.0))

    async def claims():
        return await asyncio.gather(*(store.forget_agent("ann", 20.0) for _ in range(10)))
    assert sorted(run(claims())) == [False] * 9 + [True]


def test_a_transfer_from_a_named_agent_only_while_the_chat_is_still_theirs(store):
    run(store.set_agent(Agent("ann", ("general",), 2, "online"), 1.0))
    run(store.set_agent(Agent("bob", ("general",), 2, "online"), 2.0))
    e, _ = run(store.create("c1", "general", 10, {}, 10.0, SPP))
    assert run(store.offer_next("general", 11.0, 30.0)) == (e.id, "ann")
    with pytest.raises(Conflict, match="not with bob"):
        run(store.transfer(e.id, None, 12.0, SPP, to_group="general", from_agent="bob"))
    back = run(store.transfer(e.id, None, 12.0, SPP, to_group="general", detail="agent disconnected",
                              from_agent="ann"))                            # its own group: back in the queue
    assert (back.status, back.agent_id, back.skill_group) == (Status.WAITING, None, "general")
    assert back.history[-1]["detail"] == "agent disconnected" and run(store.agent_chats("ann")) == []
    with pytest.raises(Conflict, match="not with ann"):
        run(store.transfer(e.id, None, 13.0, SPP, to_group="general", from_agent="ann"))  # waiting now
    assert run(store.waiting("general")) == [e.id]


def test_notes_are_kept_apart_from_messages_and_go_to_the_chats_agent_as_note_events(store):
    run(store.set_agent(Agent("ann", ("general",), 2, "online"), 1.0))
    e, _ = run(store.create("c1", "general", 10, {}, 10.0, SPP))
    run(store.offer_next("general", 11.0, 30.0))
    run(store.accept(e.id, "ann", 12.0))
    start = run(store.last_event_id())
    first = run(store.add_note(e.id, "customer <b>angry</b>: refund promised", "ann", 13.0))
    second = run(store.add_note(e.id, "checked with the warehouse", "sue", 14.0))
    assert first == {"id": 1, "text": "customer <b>angry</b>: refund promised", "author": "ann", "at": 13.0}
    assert second["id"] == 2 and second["author"] == "sue"
    assert run(store.notes(e.id)) == [first, second]
    assert run(store.messages(e.id)) == []
    events = run(store.events(start, 0))
    assert [(ev.data["type"], ev.to) for ev in events] == [("note", ["ann"]), ("note", ["ann"])]
    assert events[0].data["note"] == first and events[0].data["conversation_id"] == "c1"
    run(store.finish(e.id, "ann", Status.CLOSED, 15.0, "answered", {"resolved": True, "wrap_up": "answered"}))
    assert run(store.add_note(e.id, "follow-up: refund went out", "ann", 16.0))["id"] == 3  # after the close too
    with pytest.raises(NotFound):
        run(store.add_note("no-such-escalation", "x", "ann", 17.0))


def test_a_customers_escalations_are_indexed_newest_first(store):
    ticket = {"reply_by": "x", "reply_within_hours": 24}
    made = []
    for i, (cid, customer) in enumerate([("c1", "id:alice"), ("c2", "id:bob"), ("c3", "id:alice"),
                                         ("c4", "conv:c4"), ("c5", "id:alice")]):
        done = run(store.escalate(cid, ["general"], 10, {}, 10.0 + i, SPP, f"k{i}", 30.0, ticket,
                                  {"customer": customer, "triggers": ["explicit_request"], "topics": ["refund"]}))
        made.append(done.escalation.id)
    assert run(store.customer_escalations("id:alice", 100.0, 10)) == [made[4], made[2], made[0]]
    assert run(store.customer_escalations("id:alice", 12.0, 10)) == [made[2], made[0]]  # up to its creation
    assert run(store.customer_escalations("id:alice", 100.0, 2)) == [made[4], made[2]]
    assert run(store.customer_escalations("conv:c4", 100.0, 10)) == [made[3]]
    assert run(store.customer_escalations("id:nobody", 100.0, 10)) == []
    assert run(store.get(made[0])).facets == {"customer": "id:alice", "triggers": ["explicit_request"],
                                              "topics": ["refund"]}
    again = run(store.escalate("c1", ["general"], 10, {}, 50.0, SPP, "k0", 30.0, ticket, {"customer": "id:alice"}))
    assert not again.created and len(run(store.customer_escalations("id:alice", 100.0, 10))) == 3


def test_creation_and_open_indexes_follow_each_escalations_life(store):
    ticket = {"reply_by": "x", "reply_within_hours": 24}
    run(store.set_agent(Agent("ann", ("general",), 1, "online"), 1.0))
    offered = run(store.escalate("c1", ["general"], 10, {}, 10.0, SPP, "k1", 30.0, ticket)).escalation
    waiting = run(store.escalate("c2", ["general"], 10, {}, 11.0, SPP, "k2", 30.0, ticket)).escalation
    made_ticket = run(store.escalate("c3", ["billing"], 10, {}, 12.0, SPP, "k3", 30.0, ticket)).escalation
    plain, _ = run(store.create("c4", "general", 10, {}, 13.0, SPP))
    assert run(store.created_since(0.0)) == [offered.id, waiting.id, made_ticket.id, plain.id]
    assert run(store.created_since(11.5)) == [made_ticket.id, plain.id]
    assert run(store.open_escalations()) == [offered.id, waiting.id, plain.id]  # a ticket is not open
    run(store.accept(offered.id, "ann", 14.0))
    assert run(store.open_escalations()) == [offered.id, waiting.id, plain.id]
    run(store.finish(offered.id, "ann", Status.CLOSED, 15.0, "done", {"resolved": True}))  # offers c2 to ann
    run(store.leave_queue(plain.id, Status.ABANDONED, 16.0, "left"))
    assert run(store.open_escalations()) == [waiting.id]
    got = run(store.get_many([plain.id, "missing", offered.id]))
    assert [(e.id, e.status) for e in got] == [(plain.id, Status.ABANDONED), (offered.id, Status.CLOSED)]
    assert [h["status"] for h in got[1].history] == ["waiting", "offered", "assigned", "closed"]
    assert got[0].facets == {}


def test_accounts_are_listed_from_their_index(store):
    for agent_id in ("zoe", "ann", "bob"):
        run(store.save_account(agent_id, {"id": agent_id, "name": agent_id.title(), "role": "agent"}))
    run(store.save_account("ann", {"id": "ann", "name": "Ann B.", "role": "supervisor"}))  # replaced, once
    assert run(store.accounts()) == ["ann", "bob", "zoe"]
    assert run(store.account("ann"))["name"] == "Ann B."


def test_conversations_are_counted_once_over_the_days_asked_for(store):
    keys = ["{shop}:test:conversations:2026-11-23", "{shop}:test:conversations:2026-11-24"]
    if isinstance(store, MemoryStore):
        store.conversations.update({keys[0]: {"a", "b"}, keys[1]: {"b", "c"}})
    else:
        prefix = f"{{shop}}:{uuid.uuid4().hex[:8]}:conversations:"  # the bot's tag: one slot on a cluster
        keys = [prefix + "2026-11-23", prefix + "2026-11-24"]
        run(store.r.pfadd(keys[0], "a", "b"))
        run(store.r.pfadd(keys[1], "b", "c"))
    assert run(store.count_conversations(keys)) == 3
    assert run(store.count_conversations(keys[:1])) == 2
    assert run(store.count_conversations([keys[0] + "-none"])) == 0


def _busy_bob_and_idle_ann(store):
    """ann (load 0) and bob (load 1 of 3) online in general: a load ranking offers ann first."""
    run(store.set_agent(Agent("ann", ("general",), 3, "online"), 1.0))
    run(store.set_agent(Agent("bob", ("general",), 3, "online"), 2.0))
    held, _ = run(store.create("c0", "general", 10, {}, 3.0, SPP))
    run(store.transfer(held.id, None, 4.0, SPP, to_agent="bob", reservation_seconds=30.0, detail="set up"))
    run(store.accept(held.id, "bob", 5.0))


def test_a_lapsed_offer_goes_to_the_next_free_agent_not_back_to_the_one_who_let_it_lapse(store):
    _busy_bob_and_idle_ann(store)
    e, _ = run(store.create("c1", "general", 10, {}, 10.0, SPP))
    assert run(store.offer_next("general", 11.0, 30.0)) == (e.id, "ann")    # ann has the lowest load
    assert run(store.expire_offers(41.0, SPP, 2)) == [(e.id, "ann")]
    assert run(store.offer_next("general", 41.5, 30.0)) == (e.id, "bob")   # not ann again: she let it lapse
    assert run(store.get_agent("ann")).status == "online"                  # one lapse: still online
    assert run(store.get_agent("ann")).missed == 1


def test_an_agent_who_lets_n_offers_in_a_row_lapse_is_set_away_with_the_reason(store):
    _busy_bob_and_idle_ann(store)
    for i, at in enumerate((10.0, 50.0)):
        e, _ = run(store.create(f"c{i + 1}", "general", 10, {}, at, SPP))
        assert run(store.offer_next("general", at + 1, 30.0)) == (e.id, "ann")
        assert run(store.expire_offers(at + 31, SPP, 2)) == [(e.id, "ann")]
        assert run(store.offer_next("general", at + 32, 30.0)) == (e.id, "bob")
        run(store.accept(e.id, "bob", at + 33))
    ann = run(store.get_agent("ann"))
    assert (ann.status, ann.reason) == ("away", "missed 2 offers in a row")
    assert run(store.queue_stats(["general"]))[0].online == 1                # bob only
    events = [ev.data for ev in run(store.events("0-0", 0, 1000)) if ev.data["type"] == "agent_status"]
    assert events[-1] == {"type": "agent_status", "agent": "ann", "status": "away",
                          "reason": "missed 2 offers in a row", "at": 81.0}
    run(store.set_agent(Agent("ann", ("general",), 3, "online"), 90.0))     # back by her own choice
    ann = run(store.get_agent("ann"))
    assert (ann.status, ann.reason, ann.missed) == ("online", "", 0)


def test_accepting_an_offer_resets_the_missed_count_and_a_lone_agent_gets_the_chat_again(store):
    run(store.set_agent(Agent("ann", ("general",), 3, "online"), 1.0))
    e1, _ = run(store.create("c1", "general", 10, {}, 10.0, SPP))
    assert run(store.offer_next("general", 11.0, 30.0)) == (e1.id, "ann")
    assert run(store.expire_offers(41.0, SPP, 2)) == [(e1.id, "ann")]
    # Every free agent of the group let it lapse: it cycles back to them (nobody else can take it now).
    assert run(store.offer_next("general", 42.0, 30.0)) == (e1.id, "ann")
    run(store.accept(e1.id, "ann", 43.0))
    assert run(store.get_agent("ann")).missed == 0
    e2, _ = run(store.create("c2", "general", 10, {}, 50.0, SPP))
    assert run(store.offer_next("general", 51.0, 30.0)) == (e2.id, "ann")
    assert run(store.expire_offers(81.0, SPP, 2)) == [(e2.id, "ann")]
    assert run(store.get_agent("ann")).status == "online"                  # 1 in a row since the accept
    assert run(store.expire_offers(81.0, SPP)) == []                       # max_missed 0: never set away


def test_account_access_epoch_disable_remove_and_logged_out_tokens(store):
    from handoff.account_steps import AccountAccess
    T = 1_900_000_000.0  # Redis expires logged-out token ids by the wall clock: times in the future
    assert run(store.account_access("ann", T + 0.0)) is None and run(store.start_epoch("ann", "e1")) == ""
    run(store.save_account("ann", {"id": "ann", "name": "Ann", "role": "agent", "skills": "general",
                                   "max_chats": "2", "password_hash": "x"}))
    assert run(store.start_epoch("ann", "e1")) == "e1" and run(store.start_epoch("ann", "e2")) == "e1"
    run(store.revoke_token("ann", "t1", T + 100.0, T + 10.0))
    run(store.revoke_token("ann", "t2", T + 300.0, T + 150.0))              # t1 expired by then
    assert run(store.account_access("ann", T + 160.0)) == AccountAccess("e1", False, frozenset({"t2"}))
    assert run(store.set_disabled("ann", True, "e3", T + 170.0, "sue"))
    run(store.save_account("ann", {"id": "ann", "name": "Ann B", "role": "agent", "skills": "general",
                                   "max_chats": "2", "password_hash": "x"}))  # a re-seed keeps it disabled
    assert run(store.account_access("ann", T + 171.0)) == AccountAccess("e3", True, frozenset({"t2"}))
    assert run(store.set_disabled("ann", False, "", T + 172.0, "sue"))
    assert run(store.account_access("ann", T + 173.0)) == AccountAccess("e3", False, frozenset({"t2"}))
    assert run(store.remove_account("ann", T + 174.0, "sue"))
    assert not run(store.remove_account("ann", T + 175.0, "sue"))
    assert run(store.account_access("ann", T + 176.0)) is None and run(store.accounts()) == []
    assert not run(store.set_disabled("ann", True, "e4", T + 177.0, "sue"))
    events = [(ev.data["type"], ev.data.get("access"), ev.data.get("jti"), ev.to)
              for ev in run(store.events("0-0", 0, 1000))]
    assert events == [("token_revoked", None, "t1", ["ann"]), ("token_revoked", None, "t2", ["ann"]),
                      ("agent_access", "disabled", None, ["ann"]), ("agent_access", "enabled", None, ["ann"]),
                      ("agent_access", "removed", None, ["ann"])]


def test_failed_logins_are_limited_per_agent_and_per_address_in_a_window(store):
    from handoff.account_steps import LoginLimits
    limits = LoginLimits(per_agent=2, per_address=3, window_seconds=60)
    assert run(store.login_attempt("ann", "10.0.0.1", 0.0, limits)) == 0
    run(store.login_succeeded("ann", "10.0.0.1"))                           # a success is not counted
    assert [run(store.login_attempt("ann", "10.0.0.1", 1.0, limits)) for _ in range(2)] == [0, 0]
    assert 1 <= run(store.login_attempt("ann", "10.0.0.2", 2.0, limits)) <= 60  # ann: 2 failures
    assert run(store.login_attempt("bob", "10.0.0.1", 2.0, limits)) == 0     # the address: 3 now
    assert 1 <= run(store.login_attempt("cat", "10.0.0.1", 2.0, limits)) <= 60
    assert run(store.login_attempt("cat", "10.0.0.3", 2.0, limits)) == 0


def test_a_message_id_is_stored_at_most_once_per_escalation_with_one_event(store):
    """A sender that retries after a crash (the bridge between its POST and its bookkeeping) sends the same
    message_id again: the chat keeps one message, the agent gets one event, the repeat answers the original."""
    async def scenario():
        await store.set_agent(Agent("ann", ("general",), 2, "online"), 1.0)
        e, _ = await store.create("c1", "general", 10, {}, 10.0, SPP)
        other, _ = await store.create("c2", "general", 10, {}, 10.5, SPP)  # behind e in the queue
        start = await store.last_event_id()
        first = await store.add_message(e.id, "customer", "where is my parcel?", None, 11.0, message_id="m-1")
        again = await store.add_message(e.id, "customer", "where is my parcel?", None, 12.0, message_id="m-1")
        later = await store.add_message(e.id, "customer", "hello?", None, 13.0, message_id="m-2")
        plain = [await store.add_message(e.id, "customer", "no id", None, 14.0) for _ in range(2)]
        elsewhere = await store.add_message(other.id, "customer", "same id, other chat", None, 15.0,
                                            message_id="m-1")
        await store.offer_next("general", 16.0, 30.0)
        await store.accept(e.id, "ann", 16.0)
        agents = [await store.add_message(e.id, "agent", "Hi, I'm Ann", "ann", 17.0, message_id="m-1")
                  for _ in range(2)]  # an agent's id is theirs: a customer's same id is another message
        return e, first, again, later, plain, elsewhere, await store.events(start, 0), agents
    e, first, again, later, plain, elsewhere, events, agents = run(scenario())
    assert agents[0] == agents[1] and (agents[0]["seq"], agents[0]["speaker"]) == (5, "agent")
    assert again == first and first["seq"] == 1 and first["at"] == 11.0 and first["message_id"] == "m-1"
    assert later["seq"] == 2 and [m["seq"] for m in plain] == [3, 4]  # no id: every call is a new message
    assert "message_id" not in plain[0]
    assert [(m["seq"], m["text"]) for m in run(store.messages(e.id))] == [
        (1, "where is my parcel?"), (2, "hello?"), (3, "no id"), (4, "no id"), (5, "Hi, I'm Ann")]
    assert elsewhere["seq"] == 1  # ids are per escalation
    mine = [ev.data["message"] for ev in events if ev.data["type"] == "message" and ev.data["escalation"] == e.id]
    assert [m["seq"] for m in mine] == [1, 2, 3, 4, 5]
