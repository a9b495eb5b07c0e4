"""The survey after a close or a solve and what "not solved" does, over the in-memory twin with a fake clock:
the delay per group (policy/survey.yml), nothing asked once answered, the follow-up ticket for the same agent
and group with raised priority, the reopen of a solved ticket, retries that open nothing twice, and the
dashboard's first-contact resolution."""
from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest

from common.config import ConfigError
from common.routing import SkillGroups
from common.survey_policy import SurveyPolicy
from handoff.auth import Caller
from handoff.clocks.survey import SurveyClock, chat_key, ticket_key
from handoff.clocks.timers import TimerRunner, wall_offset
from handoff.memory_store import MemoryStore
from handoff.metrics import Metrics
from common.redis_config import async_redis_client
from handoff.redis_store import RedisStore
from handoff.service import HandoffService
from handoff.store import Conflict, Status
from handoff.surveys import SurveyAnswers
from handoff.tickets.service import TicketService
from tests.conftest import ROOT
from tests.handoff.requests import handoff_request

PRODUCT = (ROOT / "policy" / "survey.yml").read_text()
POLICY = """version: 1
default: {chat_delay_seconds: 120, ticket_delay_seconds: 600}
present_seconds: 300
email_when_gone: true
follow_up: {raise_priority_by: 20}
groups:
  billing: {chat_delay_seconds: 30}
""" + PRODUCT[PRODUCT.index("email:\n"):]  # the product's e-mail wording


class Clock:
    def __init__(self) -> None:
        self.now = 1_780_000_000.0  # a Tuesday

    def __call__(self) -> float:
        return self.now


@pytest.fixture(params=["memory", "redis", "cluster"])
def env(request, tmp_path: Path):
    """The service, tickets, survey clock and answers over either store; the timers' clock is the test's (the
    runner's offset from the server's time)."""
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    clock = Clock()
    prefix = f"{{s{uuid.uuid4().hex[:8]}}}:"
    if request.param == "cluster":  # a 3-master Redis Cluster (tests/handoff/redis_cluster.py)
        store = RedisStore(async_redis_client(request.getfixturevalue("redis_cluster").url, cluster=True,
                                              decode_responses=True), prefix=prefix)
    else:
        store = MemoryStore() if request.param == "memory" else RedisStore.from_url(
            request.getfixturevalue("redis_server"), prefix=prefix)
    groups = SkillGroups.load()
    (tmp_path / "survey.yml").write_text(POLICY)
    policy = SurveyPolicy.load(tmp_path / "survey.yml", groups.groups)
    service = HandoffService(store, groups, Metrics(), reservation_seconds=30.0, clock=clock)
    service.tickets = TicketService(store, groups, None, service.metrics, clock=clock)
    service.tickets.hooks = service.hooks
    runner = TimerRunner(store, wall_offset(clock))
    SurveyClock(runner, store, policy).install(service.hooks)
    answers = SurveyAnswers(service, service.tickets, policy)

    def run(coro):
        return loop.run_until_complete(coro)

    def agent(agent_id, skills, name=None):
        run(store.save_account(agent_id, {"id": agent_id, "name": name or agent_id.title(), "role": "agent",
                                          "skills": ",".join(skills), "max_chats": "2"}))
        run(service.set_status(agent_id, "online"))
        return Caller("agent", agent_id, "agent")

    def closed_chat(conversation, group="general", who=None, write=True):
        who = who or agent("ann", [group], "Ann Lee")
        billing = {"categories": {"double_charge": "charged twice"}, "triggers": ["payment_problem"]}
        e = run(service.create(handoff_request(conversation, topics=[], **(billing if group == "billing" else {})))
                ).escalation
        assert e.skill_group == group
        run(service.accept(who, e.id))
        if write:
            run(service.message(Caller("bot", None, "bot"), e.id, "it still does not work"))
        run(service.finish(who, e.id, Status.CLOSED, "answered", {"resolved": True, "wrap_up": "answered"}))
        return run(store.get(e.id))

    def requested(kind="survey_requested"):
        return [ev.data for ev in run(store.events("0-0", 0, 10_000)) if ev.data.get("type") == kind]

    yield service, store, clock, run, agent, closed_chat, runner, answers, requested
    if request.param == "redis":
        run(store.close())
    loop.close()


def test_the_policy_is_checked_with_the_line_and_gives_delays_per_group(tmp_path: Path):
    policy = SurveyPolicy.load(known_groups=SkillGroups.load().groups)
    assert policy.delay("general", "chat") == 120 and policy.delay("vip", "chat") == 60
    assert policy.delay("vip", "ticket") == 600
    bad = tmp_path / "survey.yml"
    bad.write_text(POLICY.replace("chat_delay_seconds: 30", "chat_delay_seconds: 4000"))
    with pytest.raises(ConfigError, match=r"line 7, groups\.billing\.chat_delay_seconds.*3600"):
        SurveyPolicy.load(bad)
    bad.write_text(POLICY.replace("billing:", "nobody:"))
    with pytest.raises(ConfigError, match="unknown skill group 'nobody'"):
        SurveyPolicy.load(bad, SkillGroups.load().groups)


def test_the_survey_goes_out_after_the_groups_delay_in_the_chat_while_the_customer_is_there(env):
    service, store, clock, run, agent, closed_chat, runner, answers, requested = env
    e = closed_chat("c1", group="billing")
    assert run(store.get_timer(chat_key(e.id))).due == clock.now + 30  # billing's delay, not the default 120
    clock.now += 29.5
    assert run(runner.tick()) == 0 and requested() == []
    clock.now += 1
    assert run(runner.tick()) == 1
    (event,) = requested()
    assert {k: event[k] for k in ("subject", "escalation", "conversation_id", "how")} == {
        "subject": "chat", "escalation": e.id, "conversation_id": "c1", "how": "chat"}
    (entry,) = run(store.clock_log(f"chat:{e.id}"))
    assert entry["kind"] == "survey_sent" and entry["how"] == "chat" and entry["at"] == pytest.approx(clock.now, abs=1)
    run(service.hooks.chat(run(store.get(e.id)), "finished"))  # told again: never asked twice
    clock.now += 600
    assert run(runner.tick()) == 0 and len(requested()) == 1


def test_a_customer_gone_gets_it_at_the_next_visit_and_an_answered_survey_is_not_asked(env):
    service, store, clock, run, agent, closed_chat, runner, answers, requested = env
    gone = closed_chat("c1")
    clock.now += 400  # past present_seconds (300) since they last wrote, and past the delay
    answered = closed_chat("c2", who=Caller("agent", "ann", "agent"))
    run(answers.chat(answered.id, {"resolved": True, "rating": 5}))
    clock.now += 121
    assert run(runner.tick()) == 2  # both timers fire; the answered one records nothing
    assert [(r["escalation"], r["how"]) for r in requested()] == [(gone.id, "next_visit")]
    assert run(store.clock_log(f"chat:{answered.id}")) == []


def test_not_solved_opens_a_follow_up_ticket_for_the_same_agent_once_and_counts_against_fcr(env):
    service, store, clock, run, agent, closed_chat, runner, answers, requested = env
    e = closed_chat("c1")
    other = closed_chat("c2", who=Caller("agent", "ann", "agent"))
    before = run(service.stats_today("{shop}:conv:"))["first_contact_resolution"]
    assert before == 1.0
    answer = {"resolved": False, "rating": 2}
    stored, follow = run(answers.chat(e.id, answer))
    assert stored.outcome["survey"]["resolved"] is False
    t = run(service.tickets.find(follow["label"]))
    assert (t.assignee, t.group, t.source, t.priority, t.state.value) == ("ann", "general", "follow_up",
                                                                           e.priority + 20, "open")
    assert t.escalations == [e.id] and t.requester["conversation_id"] == "c1"
    notes = [x["text"] for x in run(store.timeline(t.id)) if x["kind"] == "note"]
    assert notes == [f"Follow-up of chat {e.id}: the customer's survey said not solved, 2/5."]
    assert follow["agent_name"] == "Ann Lee" and follow["due_local"] and follow["timezone"] == "Asia/Shanghai"
    assert [x["label"] for x in run(service.chat_tickets(e.id))] == [t.label]  # linked: the chat lists it
    # a retry (the bot's outbox, or after a crash) answers the same and opens nothing new
    again, follow_again = run(answers.chat(e.id, dict(answer)))
    assert follow_again["label"] == t.label and run(store.index_size("all")) == 1
    with pytest.raises(Conflict, match="already answered"):
        run(answers.chat(e.id, {"resolved": True, "rating": 5}))
    assert run(service.stats_today("{shop}:conv:"))["first_contact_resolution"] == 0.5
    assert run(answers.chat(other.id, {"resolved": True, "rating": None}))[1] is None


def test_i_need_more_help_opens_no_ticket_but_counts_as_not_solved(env):
    service, store, clock, run, agent, closed_chat, runner, answers, requested = env
    e = closed_chat("c1")
    stored, follow = run(answers.chat(e.id, {"resolved": False, "rating": None, "more_help": True}))
    assert follow is None and stored.outcome["survey"]["more_help"] is True
    assert run(store.index_size("all")) == 0
    assert run(service.stats_today("{shop}:conv:"))["first_contact_resolution"] == 0.0


def solved_ticket(env, conversation="c9"):
    service, store, clock, run, agent, *_ = env
    bob = agent("bob", ["billing"], "Bob Wu")
    t, _ = run(service.tickets.open_ticket(subject="Refund", requester={"conversation_id": conversation},
                                           by="bot", source="api", group="billing", assignee="bob"))
    run(service.tickets.customer_message(t.label, "where is my refund?", "chat"))
    return run(service.tickets.set_state(bob, t.label, "solved")), bob


def test_a_solved_ticket_gets_its_survey_after_the_delay_and_not_solved_reopens_it_with_raised_priority(env):
    service, store, clock, run, agent, closed_chat, runner, answers, requested = env
    t, bob = solved_ticket(env)
    clock.now += 599.5
    assert run(runner.tick()) == 0
    clock.now += 1
    assert run(runner.tick()) == 1
    (event,) = requested()
    assert (event["subject"], event["ticket"], event["label"], event["how"]) == ("ticket", t.id, t.label, "next_visit")
    assert run(store.clock_log(f"ticket:{t.id}"))[0]["kind"] == "survey_sent"
    after, follow = run(answers.ticket(t.label, {"resolved": False, "rating": 1}))
    assert (after.state.value, after.priority, follow["reopened"], follow["label"]) == ("open", t.priority + 20,
                                                                                          True, t.label)
    assert after.survey["resolved"] is False and after.due_at is not None
    kinds = [x["kind"] for x in run(store.timeline(t.id))]
    assert kinds[-2:] == ["survey", "state"]
    assert [ev["label"] for ev in requested("ticket_survey")] == [t.label]
    again, _ = run(answers.ticket(t.label, {"resolved": False, "rating": 1}))  # a retry: nothing new
    assert run(store.timeline(t.id))[-1]["kind"] == "state" and len(run(store.timeline(t.id))) == len(kinds)
    with pytest.raises(Conflict):
        run(answers.ticket(t.label, {"resolved": True, "rating": 5}))


def test_a_survey_on_an_open_ticket_is_refused_and_changes_nothing(env):
    service, store, clock, run, agent, *_ = env
    t, _ = run(service.tickets.open_ticket(subject="x", requester={}, by="bot", source="api", group="billing"))
    answers = env[7]
    with pytest.raises(Conflict, match="after it is solved"):
        run(answers.ticket(t.label, {"resolved": True, "rating": 5}))
    assert run(service.tickets.find(t.label)).survey is None


def test_the_public_url_for_survey_links_is_checked_at_start():
    from handoff.settings import SettingsError, public_url
    assert public_url(" https://help.shop.example/ ") == "https://help.shop.example"
    assert public_url("") == ""
    for bad in ("help.shop.example", "ftp://help.shop.example", "https://help.shop.example/?x=1"):
        with pytest.raises(SettingsError, match="HANDOFF_PUBLIC_URL"):
            public_url(bad)


def test_a_close_whose_survey_timer_a_crash_kept_from_being_scheduled_gets_it_at_the_next_reconcile(env):
    service, store, clock, run, agent, closed_chat, runner, answers, requested = env
    listeners = list(service.hooks.chat_listeners)
    service.hooks.chat_listeners.clear()  # the process dies between the close and its listeners
    e = closed_chat("c1")
    service.hooks.chat_listeners.extend(listeners)
    assert run(store.get_timer(chat_key(e.id))) is None
    clock.now += 30
    run(service.reconcile())  # the next reconcile of any process
    assert run(store.get_timer(chat_key(e.id))).due == pytest.approx(clock.now - 30 + 120, abs=1)
    clock.now += 121
    assert run(runner.tick()) == 1 and [r["escalation"] for r in requested()] == [e.id]


def test_a_solve_whose_survey_timer_a_crash_kept_from_being_scheduled_gets_it_at_the_next_reconcile(env):
    service, store, clock, run, agent, closed_chat, runner, answers, requested = env
    listeners = list(service.hooks.ticket_listeners)
    service.hooks.ticket_listeners.clear()  # the process dies between the solve and its listeners
    t, _ = solved_ticket(env)
    service.hooks.ticket_listeners.extend(listeners)
    assert run(store.get_timer(ticket_key(t.id, t.solved_at))) is None
    run(service.tickets.reconcile())
    assert run(store.get_timer(ticket_key(t.id, t.solved_at))).due == pytest.approx(t.solved_at + 600, abs=1)
