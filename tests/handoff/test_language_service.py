"""Routing by language through the service (over the in-memory twin): a Chinese chat goes to an agent who reads
Chinese; the sweeper overflows it by the rule in policy/skill_groups.yml, and the chat's record says why. And the
accounts command line (`--languages`, the demo roster) against a real redis-server."""
from __future__ import annotations

import asyncio
import uuid

import pytest

from common.routing import SkillGroups
from handoff import accounts
from handoff.memory_store import MemoryStore
from handoff.metrics import Metrics
from handoff.redis_store import RedisStore
from handoff.service import HandoffService
from handoff.store import Status
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

    def agent(agent_id, languages, max_chats=2, status="online", skills=("general", "after_sales")):
        account = {"id": agent_id, "name": agent_id.title(), "role": "agent", "skills": ",".join(skills),
                   "max_chats": str(max_chats)}
        if languages is not None:
            account["languages"] = ",".join(languages)
        run(store.save_account(agent_id, account))
        run(service.set_status(agent_id, status))
        clock.now += 1

    yield service, store, clock, run, agent
    loop.close()


def chinese(conversation_id):
    request = handoff_request(conversation_id, text="转人工，我要找客服")
    request["language"] = "zh"
    return request


def test_a_chinese_chat_goes_to_the_agent_who_reads_chinese_and_its_record_says_so(env):
    service, store, clock, run, agent = env
    agent("ann", None)             # an account from before languages: English
    agent("lina", ["zh", "en"])
    e = run(service.create(chinese("c-zh"))).escalation
    assert (e.status, e.agent_id) == (Status.OFFERED, "lina")
    routing = run(service.record(e))["routing"]
    assert (routing["language"], routing["readers"], routing["overflow"]) == ("zh", ["zh"], [])
    assert routing["language_overflow"] is None
    english = run(service.create(handoff_request("c-en"))).escalation
    assert english.agent_id == "ann"
    assert run(service.agent_view("lina"))["languages"] == ["zh", "en"]
    assert run(service.agent_view("ann"))["languages"] == ["en"]
    assert [h["language"] for h in run(service.my_handoffs("lina"))] == ["zh"]   # the console's list shows it


def test_a_chinese_chat_overflows_to_any_agent_after_the_wait_the_policy_sets(env):
    service, store, clock, run, agent = env
    agent("lina", ["zh"], max_chats=1)
    busy = run(service.create(chinese("c-busy"))).escalation    # lina's one slot
    run(store.accept(busy.id, "lina", clock.now))
    agent("ann", ["en"])
    e = run(service.create(chinese("c-zh"))).escalation
    assert (e.status, e.readers) == (Status.WAITING, ["zh"])   # a reader is online, only busy: it waits
    clock.now = e.created_at + 119
    run(service.sweep())
    assert run(store.get(e.id)).status == Status.WAITING
    clock.now = e.created_at + 120
    run(service.sweep())
    now = run(store.get(e.id))
    assert (now.status, now.agent_id) == (Status.OFFERED, "ann")
    record = run(service.record(now))
    why = "language overflow: no agent who reads zh free within 120 s; offered to any agent of the group"
    assert record["routing"]["language_overflow"] == why and record["routing"]["overflow"] == [why]
    assert record["routing"]["readers"] == ["*"]
    assert why in [h["detail"] for h in record["history"]]     # the supervisor's timeline shows it


def test_when_the_last_chinese_reader_leaves_the_waiting_chat_overflows_at_the_next_sweep(env):
    service, store, clock, run, agent = env
    agent("lina", ["zh", "en"], max_chats=1)
    busy = run(service.create(chinese("c-busy"))).escalation
    run(store.accept(busy.id, "lina", clock.now))
    agent("ann", ["en"])
    e = run(service.create(chinese("c-zh"))).escalation
    run(service.sweep())
    assert run(store.get(e.id)).status == Status.WAITING
    run(service.set_status("lina", "away"))                      # keeps her chat; nobody else reads Chinese
    clock.now += 5
    run(service.sweep())
    now = run(store.get(e.id))
    assert (now.status, now.agent_id) == (Status.OFFERED, "ann")
    assert now.language_note.startswith("language overflow: nobody who reads zh online in the group")
    assert run(store.get(busy.id)).agent_id == "lina"


def test_an_english_chat_is_not_offered_to_an_agent_who_reads_only_chinese(env):
    service, store, clock, run, agent = env
    agent("wang", ["zh"])
    agent("ann", ["en"], max_chats=1)
    first = run(service.create(handoff_request("c-1"))).escalation   # ann's one slot
    run(store.accept(first.id, "ann", clock.now))
    e = run(service.create(handoff_request("c-2"))).escalation
    assert e.status == Status.WAITING
    clock.now = e.created_at + 299
    run(service.sweep())
    assert run(store.get(e.id)).status == Status.WAITING        # English waits 300 s for a reader (the policy)


# -- the accounts command line --------------------------------------------------------------------------------
@pytest.fixture
def cli(redis_server, monkeypatch):
    prefix = f"{{t{uuid.uuid4().hex[:8]}}}:"
    monkeypatch.setenv("HANDOFF_REDIS_URL", redis_server)
    monkeypatch.setenv("HANDOFF_REDIS_PREFIX", prefix)
    monkeypatch.setenv("HANDOFF_PASSWORD", "a-long-password")

    def account(agent_id):
        async def read():
            store = RedisStore.from_url(redis_server, prefix)
            try:
                return await store.account(agent_id)
            finally:
                await store.close()
        return asyncio.run(read())
    return account


def test_accounts_add_takes_the_languages_an_agent_reads(cli, capsys):
    assert accounts.main(["add", "lina", "--name", "李娜 Li Na", "--skills", "general,after_sales",
                          "--languages", "zh,en"]) == 0
    assert cli("lina")["languages"] == "zh,en" and cli("lina")["name"] == "李娜 Li Na"
    assert accounts.main(["add", "ann", "--skills", "general"]) == 0
    assert cli("ann")["languages"] == "en"
    capsys.readouterr()
    assert accounts.main(["list"]) == 0
    listed = {line.split("\t")[0]: line.split("\t") for line in capsys.readouterr().out.splitlines()}
    assert listed["lina"][3] == "zh,en" and listed["ann"][3] == "en"


def test_accounts_refuse_a_language_the_policy_does_not_know(cli, capsys):
    assert accounts.main(["add", "kim", "--skills", "general", "--languages", "ko"]) == 2
    assert "languages: unknown language 'ko' (known: en, zh)" in capsys.readouterr().err
    assert cli("kim") is None


def test_the_demo_roster_has_chinese_reading_agents(cli):
    assert accounts.main(["seed", "handoff/demo_team.yml"]) == 0
    assert cli("lina")["languages"] == "zh,en" and cli("wangqiang")["languages"] == "zh"
    assert cli("wangqiang")["skills"] == "billing,technical,general"
    assert cli("ann")["languages"] == "en"   # the English team stays


# -- a Chinese chat that becomes a ticket -----------------------------------------------------------------------
ZH_SUMMARY = "银卡客户｜订单 10234568｜咨询：订单状态。转人工原因：客户要求转人工。已分配给售后（after_sales）。"
EN_SUMMARY = ("Silver customer | order 10234568 | topics: order status. Why a person: The customer asked for a "
              "person. Routed to After-sales (after_sales).")


@pytest.mark.parametrize("language,summary,subject", [
    ("zh", ZH_SUMMARY, "银卡客户｜订单 10234568｜咨询：订单状态"),
    ("en", EN_SUMMARY, "Silver customer | order 10234568 | topics: order status"),
])
def test_a_ticket_from_a_chat_takes_the_briefs_first_sentence_as_its_subject(env, language, summary, subject):
    from handoff.tickets.flows import TicketFlows
    from handoff.tickets.service import TicketService
    service, store, clock, run, agent = env
    service.tickets = TicketService(store, service.groups, TicketFlows.load(groups=service.groups.groups), Metrics(),
                                    clock=clock)
    request = chinese("c-t") if language == "zh" else handoff_request("c-t")
    request["case_brief"]["summary"] = summary
    created = run(service.create(request))                       # nobody online: a ticket
    assert created.escalation.status == Status.TICKET
    (ticket,) = run(store.tickets([created.ticket["id"]]))
    assert ticket.subject == subject and ticket.requester["lang"] == language
