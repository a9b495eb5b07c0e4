"""The ticket store contract and the ticket rules, run against the in-memory twin and the Redis store (a real
redis-server)."""
import asyncio
import uuid

import pytest

from handoff.store import Conflict, NotFound
from handoff.tickets import transitions as tr
from handoff.tickets.model import Ticket, TicketState, parse_label
from tests.handoff.stores import store, loop, run  # noqa: F401  (store, loop: fixtures)


def maker(group="after_sales", now=1000.0, conversation="c1", priority=10, due=5000.0):
    def make(number):
        t = Ticket(id=uuid.uuid4().hex, number=number, state=TicketState.NEW, subject="Kettle broken", group=group,
                   owner_group=group, priority=priority, created_at=now, updated_at=now, due_at=due, team_since=now,
                   requester={"conversation_id": conversation, "customer_id": "cust-7", "email": "Li@Example.com"},
                   fields={"order_id": "A1001"})
        return tr.created(t, "system", now, "nobody online")
    return make


def test_numbers_are_short_sequential_and_a_repeated_request_makes_no_second_ticket(store):
    async def go():
        a, made_a = await store.create_ticket(maker(), "esc-1")
        again, made_again = await store.create_ticket(maker(), "esc-1")
        b, _ = await store.create_ticket(maker(conversation="c2"), "esc-2")
        return a, made_a, again, made_again, b, await store.ticket_by_number(b.number)
    a, made_a, again, made_again, b, by_number = run(go())
    assert made_a and not made_again and again.id == a.id
    assert a.label == "T-10001" and b.number == a.number + 1 and by_number.id == b.id
    assert parse_label("t10001") == parse_label("T-10001") == parse_label(" 10001 ") == 10001
    assert parse_label("T-abc") is None


def test_of_many_claims_at_once_exactly_one_wins_and_the_ticket_leaves_the_queue(store):
    async def go():
        t, _ = await store.create_ticket(maker(), "k")
        queued = await store.index("queue:after_sales", 10)

        async def claim(agent):
            try:
                await store.change([t.id], lambda ts: tr.assign(ts[0], agent, agent, 2000.0))
                return agent
            except Conflict:
                return None
        winners = [w for w in await asyncio.gather(*(claim(f"a{i}") for i in range(20))) if w]
        return t, queued, winners, await store.ticket(t.id), await store.index("queue:after_sales", 10)
    t, queued, winners, after, queued_after = run(go())
    assert queued == [t.id]
    assert len(winners) == 1 and after.assignee == winners[0] and after.state == TicketState.OPEN
    assert queued_after == []


def test_the_queue_is_ordered_by_priority_then_due_time_and_load_counts_tickets(store):
    async def go():
        low, _ = await store.create_ticket(maker(priority=10, due=3000.0), "1")
        urgent, _ = await store.create_ticket(maker(priority=40, due=9000.0), "2")
        soon, _ = await store.create_ticket(maker(priority=10, due=2000.0), "3")
        order = await store.index("queue:after_sales", 10)
        await store.change([low.id], lambda ts: tr.assign(ts[0], "ann", "ann", 2000.0))
        return [urgent.id, soon.id, low.id], order, await store.index_size("agent:ann")
    expected, order, load = run(go())
    assert order == expected and load == 1


def test_a_ticket_goes_to_another_team_and_back_to_its_agent_with_the_time_per_team(store):
    async def go():
        t, _ = await store.create_ticket(maker(now=1000.0), "k")
        await store.change([t.id], lambda ts: tr.assign(ts[0], "ann", "ann", 1100.0))
        sent = (await store.change([t.id], lambda ts: tr.send(ts[0], "technical", "ann", 1400.0, "E42 on boot",
                                                              due_at=9000.0))).ticket
        tech_queue = await store.index("queue:technical", 10)
        await store.change([t.id], lambda ts: tr.assign(ts[0], "tom", "tom", 1500.0))
        back = (await store.change([t.id], lambda ts: tr.send(ts[0], "after_sales", "tom", 2000.0, "firmware fixed"))
                ).ticket
        return sent, tech_queue, back, await store.timeline(t.id)
    sent, tech_queue, back, timeline = run(go())
    assert sent.state == TicketState.ON_HOLD and sent.group == "technical" and sent.assignee is None
    assert tech_queue == [sent.id]
    assert back.state == TicketState.OPEN and back.assignee == "ann" and back.group == "after_sales"
    assert back.team_seconds == {"after_sales": 400.0, "technical": 600.0}
    teams = [(e["from"], e["to"], e["seconds"]) for e in timeline if e["kind"] == "team"]
    assert teams == [("after_sales", "technical", 400.0), ("technical", "after_sales", 600.0)]
    notes = [e["text"] for e in timeline if e["kind"] == "note"]
    assert notes == ["E42 on boot", "firmware fixed"] and not any(e["public"] for e in timeline if e["kind"] == "note")
    assert [e["seq"] for e in timeline] == list(range(1, len(timeline) + 1))


def test_a_reply_waits_on_the_customer_whose_answer_reopens_it_once(store):
    async def go():
        t, _ = await store.create_ticket(maker(), "k")
        replied = (await store.change([t.id], lambda ts: tr.reply(ts[0], "ann", "Please send a photo", 1100.0))).ticket
        answered = (await store.change([t.id], lambda ts: tr.customer_message(ts[0], "here it is", "email", 1200.0,
                                                                               600.0, 8000.0, "m-1"))).ticket
        repeat = await store.change([t.id], lambda ts: tr.customer_message(ts[0], "here it is", "email", 1201.0,
                                                                            600.0, 8000.0, "m-1"))
        solved = (await store.change([t.id], lambda ts: tr.set_state(ts[0], TicketState.SOLVED, "ann", 1300.0))).ticket
        reopened = (await store.change([t.id], lambda ts: tr.customer_message(ts[0], "still broken", "chat", 1400.0,
                                                                               600.0, 8000.0))).ticket
        await store.change([t.id], lambda ts: tr.set_state(ts[0], TicketState.SOLVED, "ann", 1500.0))
        late = None
        try:
            await store.change([t.id], lambda ts: tr.customer_message(ts[0], "?", "chat", 9999.0, 600.0, 1.0))
        except Conflict as e:
            late = str(e)
        closed = await store.change([t.id], lambda ts: tr.close_solved(ts[0], 9999.0))
        return replied, answered, repeat, solved, reopened, late, closed.ticket, await store.timeline(t.id)
    replied, answered, repeat, solved, reopened, late, closed, timeline = run(go())
    assert replied.state == TicketState.PENDING and replied.assignee == "ann" and replied.due_at is None
    assert answered.state == TicketState.OPEN and answered.due_at == 8000.0
    assert not repeat.changed
    assert solved.state == TicketState.SOLVED and reopened.state == TicketState.OPEN
    assert late == f"{closed.label} is closed: a new message needs a new ticket"
    assert closed.state == TicketState.CLOSED
    public = [(e["kind"], e["text"]) for e in timeline if e["public"]]
    assert public == [("reply", "Please send a photo"), ("customer", "here it is"), ("customer", "still broken")]


def test_merging_closes_the_duplicate_and_moves_its_chats(store):
    async def go():
        a, _ = await store.create_ticket(maker(), "a")
        b, _ = await store.create_ticket(maker(), "b")
        await store.change([a.id], lambda ts: tr.assign(ts[0], "ann", "ann", 1100.0))
        ch = await store.change([b.id, a.id], lambda ts: tr.merge(ts[0], ts[1], "ann", 1200.0))
        return ch.tickets, await store.index("state:new", 10)
    (dup, target), new = run(go())
    assert dup.state == TicketState.CLOSED and dup.merged_into == target.label and new == []


def test_a_missing_ticket_and_a_bad_transition_change_nothing(store):
    async def go():
        t, _ = await store.create_ticket(maker(), "k")
        with pytest.raises(NotFound):
            await store.change(["nope"], lambda ts: tr.note(ts[0], "ann", "x", 1.0))
        with pytest.raises(Conflict):
            await store.change([t.id], lambda ts: tr.set_state(ts[0], TicketState.CLOSED, "ann", 1.0))
        with pytest.raises(NotFound):
            await store.ticket_with_timeline("nope")
        return await store.ticket_with_timeline(t.id)
    t, timeline = run(go())
    assert t.state == TicketState.NEW and [(e["seq"], e["kind"]) for e in timeline] == [(1, "created")]


def test_every_change_is_an_event_for_the_agents_and_the_customer_hears_of_replies(store):
    async def go():
        start = await store.last_event_id()
        t, _ = await store.create_ticket(maker(), "k")
        await store.change([t.id], lambda ts: tr.assign(ts[0], "ann", "ann", 1100.0))
        await store.change([t.id], lambda ts: tr.reply(ts[0], "ann", "On its way", 1200.0, agent_name="Ann"))
        return await store.events(start, 10)
    events = run(go())
    kinds = [(e.data["type"], e.data.get("change")) for e in events]
    assert kinds == [("ticket", "created"), ("ticket", "claimed"), ("ticket", "reply"), ("ticket_reply", None)]
    assert events[1].to == ["ann"] and events[1].data["groups"] == ["after_sales"]
    said = events[3].data
    assert said["conversation_id"] == "c1" and said["text"] == "On its way" and said["label"].startswith("T-")
