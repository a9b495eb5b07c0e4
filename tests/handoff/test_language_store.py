"""The store contract for routing by language, run against the in-memory twin and the Redis store (Lua on a real
redis-server): agents' languages, chats offered only to agents who read them, the overflow at creation and by
``widen_readers``, and the events and history supervisors read."""
from common.language_rules import LanguageRule
from handoff.store import Agent, Status
from tests.handoff import stores

store, loop, run = stores.store, stores.loop, stores.run  # the fixtures (both stores, an event loop) and a runner

SPP = 10.0
ZH = LanguageRule("zh", 120.0, ("*",))
EN = LanguageRule("en", 300.0, ("*",))


def online(store, agent_id, skills, languages, now, max_chats=2):
    run(store.set_agent(Agent(agent_id, tuple(skills), max_chats, "online", languages=tuple(languages)), now))


def test_an_agents_languages_are_kept_and_default_to_english(store):
    online(store, "lina", ["general"], ["zh", "en"], 1.0)
    run(store.set_agent(Agent("ann", ("general",), 2, "online"), 2.0))
    assert run(store.get_agent("lina")).languages == ("zh", "en")
    assert run(store.get_agent("ann")).languages == ("en",)
    assert run(store.group_languages("general")) == ["en", "zh"]
    run(store.set_agent(Agent("lina", ("general",), 2, "offline", languages=("zh", "en")), 3.0))
    assert run(store.group_languages("general")) == ["en"]


def test_a_chinese_chat_is_offered_to_the_agent_who_reads_chinese_not_the_one_idle_longest(store):
    online(store, "ann", ["general"], ["en"], 1.0)        # idle longest
    online(store, "lina", ["general"], ["zh", "en"], 2.0)
    e, _ = run(store.create("c-zh", "general", 10, {}, 10.0, SPP, language="zh"))
    assert (e.language, e.readers) == ("zh", ["zh"])
    assert run(store.offer_next("general", 11.0, 30.0)) == (e.id, "lina")


def test_a_chat_nobody_free_reads_does_not_hold_up_the_chats_behind_it(store):
    online(store, "ann", ["general"], ["en"], 1.0)
    zh, _ = run(store.create("c-zh", "general", 50, {}, 10.0, SPP, language="zh"))   # first in the queue
    en, _ = run(store.create("c-en", "general", 10, {}, 11.0, SPP, language="en"))
    assert run(store.waiting("general")) == [zh.id, en.id]
    assert run(store.offer_next("general", 12.0, 30.0)) == (en.id, "ann")
    assert run(store.offer_next("general", 13.0, 30.0)) is None   # ann reads no Chinese
    assert run(store.waiting("general")) == [zh.id]
    online(store, "wang", ["general"], ["zh"], 14.0)
    assert run(store.offer_next("general", 15.0, 30.0)) == (zh.id, "wang")


def test_a_freed_slot_takes_the_next_chat_in_a_language_the_agent_reads(store):
    online(store, "lina", ["general"], ["zh", "en"], 1.0, max_chats=1)
    first, _ = run(store.create("c1", "general", 10, {}, 10.0, SPP, language="en"))
    run(store.offer_next("general", 10.5, 30.0))
    run(store.accept(first.id, "lina", 11.0))
    run(store.create("c-de", "general", 90, {}, 12.0, SPP, language="de"))   # nobody reads German
    zh, _ = run(store.create("c-zh", "general", 10, {}, 13.0, SPP, language="zh"))
    run(store.finish(first.id, "lina", Status.CLOSED, 20.0))
    assert run(store.get(zh.id)).status == Status.OFFERED and run(store.get(zh.id)).agent_id == "lina"


def test_escalate_prefers_a_group_of_the_chain_with_a_reader_online(store):
    online(store, "bob", ["billing"], ["en"], 1.0)
    online(store, "lina", ["general"], ["zh", "en"], 2.0)
    done = run(store.escalate("c-zh", ["billing", "general"], 10, {}, 10.0, SPP, "k1", 30.0, {}, None, ZH))
    e = done.escalation
    assert (e.skill_group, e.status, e.agent_id) == ("general", Status.OFFERED, "lina")
    assert (e.overflow, e.readers, e.language_note) == (["billing"], ["zh"], "")
    english = run(store.escalate("c-en", ["billing", "general"], 10, {}, 11.0, SPP, "k2", 30.0, {}, None, EN))
    assert (english.escalation.skill_group, english.escalation.agent_id) == ("billing", "bob")


def test_with_no_reader_online_escalate_overflows_by_the_rule_and_says_why(store):
    online(store, "ann", ["general"], ["en"], 1.0)
    done = run(store.escalate("c-zh", ["after_sales", "general"], 10, {}, 10.0, SPP, "k", 30.0, {}, None, ZH))
    e = run(store.get(done.escalation.id))
    assert (e.skill_group, e.status, e.agent_id, e.readers) == ("general", Status.OFFERED, "ann", ["*"])
    assert e.language_note == ("language overflow: nobody who reads zh online in after_sales -> general; "
                               "offered to any agent of the group")
    assert e.history[0]["detail"] == e.language_note   # the first history entry says it too
    waiting_rule = LanguageRule("zh", None, ())         # overflow_to: none: it waits for a reader
    held = run(store.escalate("c-zh2", ["general"], 10, {}, 11.0, SPP, "k2", 30.0, {}, None, waiting_rule))
    assert (held.escalation.status, held.escalation.readers, held.queue_position) == (Status.WAITING, ["zh"], 1)


def test_widen_readers_happens_once_with_a_history_entry_and_an_event(store):
    online(store, "lina", ["general"], ["zh"], 1.0, max_chats=1)
    busy, _ = run(store.create("c0", "general", 10, {}, 5.0, SPP, language="zh"))
    run(store.offer_next("general", 5.5, 30.0))
    run(store.accept(busy.id, "lina", 6.0))
    online(store, "ann", ["general"], ["en"], 7.0)
    e, _ = run(store.create("c-zh", "general", 10, {}, 10.0, SPP, language="zh"))
    assert run(store.offer_next("general", 11.0, 30.0)) is None
    last = run(store.last_event_id())
    why = "language overflow: no agent who reads zh free within 120 s; offered to any agent of the group"
    assert run(store.widen_readers(e.id, ["zh"], ["*"], 130.0, why)) is True
    assert run(store.widen_readers(e.id, ["zh"], ["*"], 131.0, why)) is False   # another process did it already
    widened = run(store.get(e.id))
    assert (widened.readers, widened.language_note, widened.history[-1]["detail"]) == (["*"], why, why)
    events = [ev.data for ev in run(store.events(last, 0)) if ev.data["type"] == "language_overflow"]
    assert len(events) == 1 and (events[0]["language"], events[0]["reason"]) == ("zh", why)
    assert run(store.offer_next("general", 132.0, 30.0)) == (e.id, "ann")
    assert run(store.widen_readers(e.id, ["*"], ["*"], 133.0, why)) is False     # offered: no longer waiting


def test_the_first_readable_chat_is_found_behind_a_long_queue_of_others(store):
    online(store, "ann", ["general"], ["en"], 1.0)
    for i in range(120):   # more than two of the Lua's pages of 50
        run(store.create(f"c-zh{i}", "general", 90, {}, 10.0 + i, SPP, language="zh"))
    en, _ = run(store.create("c-en", "general", 10, {}, 200.0, SPP, language="en"))
    assert run(store.offer_next("general", 201.0, 30.0)) == (en.id, "ann")
    assert len(run(store.waiting("general"))) == 120
