"""Service levels as data (common/sla.py) and the pure clocks (common/sla_clock.py): targets per kind, band and
group; due and warning times in business hours across a weekend and a holiday; pauses while a ticket is pending."""
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml

from common.business_hours import Calendar
from common.config import ConfigError
from common.routing import SkillGroups
from common.sla import Breach, SlaPolicy, check_legacy, seconds
from common.sla_clock import chat_clocks, measure, ticket_clocks

POLICY = Path(__file__).resolve().parents[2] / "policy"
ZONE = ZoneInfo("Asia/Shanghai")
# A team working 09:00-18:00 on weekdays; Monday 2026-12-14 is a holiday.
CAL = Calendar.load({"timezone": "Asia/Shanghai", "week": {d: "09:00-18:00" for d in ("mon", "tue", "wed", "thu", "fri")},
                     "holidays": ["2026-12-14"]})


def at(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=ZONE).timestamp()


def local(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, ZONE).strftime("%a %Y-%m-%d %H:%M")


@pytest.fixture(scope="module")
def groups():
    return SkillGroups.load(POLICY / "skill_groups.yml").groups


@pytest.fixture(scope="module")
def policy(groups):
    return SlaPolicy.load(groups)


def write(tmp_path, text: str) -> Path:
    path = tmp_path / "sla.yml"
    path.write_text(text)
    return path


def test_the_shipped_policy_has_the_source_documents_defaults(policy):
    chat = policy.terms("chat", "general", 10)
    assert chat.target("first_response") == 30 and chat.target("resolution") == 2 * 3600
    assert chat.target("next_response") == 60 and chat.warn_at == 0.8 and chat.band is None
    ticket = policy.terms("ticket", "general", 10)
    assert ticket.target("resolution") == 8 * 3600 and ticket.target("first_response") == 3600  # one business day
    first = chat.actions("first_response")
    assert first == Breach(raise_priority=20, reoffer=None, notify_supervisor=True)  # general has no fallback
    assert policy.terms("chat", "after_sales", 10).actions("first_response").reoffer == "general"  # its fallback
    assert policy.terms("chat", "general", 10).actions("first_response").reoffer is None  # no fallback: stays


def test_bands_then_groups_replace_only_what_they_name(policy):
    urgent = policy.terms("ticket", "billing", 45)
    assert urgent.band == "urgent" and urgent.target("resolution") == 3600 and urgent.target("first_response") == 1800
    assert urgent.target("next_response") == 3600  # not named by the band: the default
    assert policy.terms("chat", "vip", 0).target("first_response") == 20
    assert policy.terms("chat", "billing", 39).band is None  # below the band's floor


def test_durations():
    assert seconds("90m") == 5400 and seconds("2h") == 7200 and seconds(" 30 s ") == 30 and seconds(12) == 12
    with pytest.raises(ValueError):
        seconds("2 days")


def test_bad_policies_name_the_file_line_and_key(tmp_path, groups):
    base = "version: 1\ntargets:\n  chat: {first_response: 30s, next_response: 60s, resolution: 2h}\n" \
           "  ticket: {first_response: 1h, next_response: 1h, resolution: 2h}\n"
    with pytest.raises(ConfigError, match=r"sla.yml: line 7, groups.nobody: unknown skill group 'nobody'"):
        SlaPolicy.load(groups, write(tmp_path, base + "groups:\n  vip: {warn_at: 0.5}\n  nobody: {warn_at: 0.5}\n"))
    with pytest.raises(ConfigError, match=r"line 5, warn_at: 1.5 is greater than or equal to the maximum of 1"):
        SlaPolicy.load(groups, write(tmp_path, base + "warn_at: 1.5\n"))
    with pytest.raises(ConfigError, match=r"line 7, actions.chat.first_response.reoffer: unknown skill group 'x'"):
        SlaPolicy.load(groups, write(tmp_path, base + "actions:\n  chat:\n    first_response: {reoffer: x}\n"))
    with pytest.raises(ConfigError, match=r"line 4, targets.ticket: targets.ticket.resolution is missing"):
        SlaPolicy.load(groups, write(tmp_path, base.replace("1h, resolution: 2h}", "1h}")))
    with pytest.raises(ConfigError, match=r"line 3, targets.chat.first_response"):
        SlaPolicy.load(groups, write(tmp_path, base.replace("30s", "30 days")))


def test_the_old_skill_groups_key_is_accepted_when_it_agrees_and_refused_when_it_does_not(tmp_path, policy):
    doc = yaml.safe_load((POLICY / "skill_groups.yml").read_text())
    doc.pop("sla", None)
    path = tmp_path / "skill_groups.yml"
    path.write_text(yaml.safe_dump(doc))
    assert check_legacy(path, policy) is None
    doc["sla"] = {"first_response_seconds": 30}
    path.write_text(yaml.safe_dump(doc))
    assert "remove this key" in check_legacy(path, policy)
    doc["sla"] = {"first_response_seconds": 45}
    path.write_text(yaml.safe_dump(doc))
    with pytest.raises(ConfigError, match=r"sla.first_response_seconds: 45 s, but the SLA targets moved to .*sla.yml"):
        check_legacy(path, policy)


# -- clocks in business time ---------------------------------------------------------------------

def test_a_chat_offered_friday_morning_warns_friday_afternoon_and_breaches_after_the_weekend_and_holiday():
    friday_nine = at("2026-12-11 09:00")
    (resolution,) = [c for c in chat_clocks(friday_nine, None, False, []) if c.target == "resolution"]
    m = measure(resolution, 10 * 3600, 0.8, CAL, friday_nine + 60)
    assert local(m.warn) == "Fri 2026-12-11 17:00"
    assert local(m.due) == "Tue 2026-12-15 10:00"  # 9 h on Friday, Monday a holiday, 1 h on Tuesday
    assert m.state == "running" and m.left_seconds == 10 * 3600 - 60
    assert measure(resolution, 10 * 3600, 0.8, CAL, at("2026-12-11 17:30")).state == "warning"
    saturday = measure(resolution, 10 * 3600, 0.8, CAL, at("2026-12-12 12:00"))
    assert saturday.state == "warning" and saturday.left_seconds == 3600  # the weekend costs no business time
    late = measure(resolution, 10 * 3600, 0.8, CAL, at("2026-12-15 10:30"))
    assert late.state == "breached" and late.left_seconds == -1800


def test_chat_first_and_next_response_and_the_close():
    t0 = at("2026-12-11 10:00")
    msgs = [{"speaker": "agent", "at": t0 + 20}, {"speaker": "customer", "at": t0 + 100},
            {"speaker": "customer", "at": t0 + 110}]
    clocks = {c.target: c for c in chat_clocks(t0, None, False, msgs)}
    assert measure(clocks["first_response"], 30, 0.8, CAL, t0 + 200).state == "met"
    nxt = measure(clocks["next_response"], 60, 0.8, CAL, t0 + 150)
    assert nxt.basis == t0 + 100 and nxt.due == t0 + 160 and nxt.state == "warning"  # from the first unanswered
    answered = {c.target: c for c in chat_clocks(t0, None, False, msgs + [{"speaker": "agent", "at": t0 + 200}])}
    assert measure(answered["next_response"], 60, 0.8, CAL, t0 + 300).state == "breached"  # met, but late
    closed = {c.target: c for c in chat_clocks(t0, t0 + 600, True, msgs)}
    assert measure(closed["resolution"], 7200, 0.8, CAL, t0 + 9000).state == "met"
    left = chat_clocks(t0, t0 + 10, False, [])  # the customer left before anyone answered: stopped
    assert all(c.stopped for c in left if c.target != "next_response")


def state(kind, to, at_, **kw):
    return {"kind": kind, "to": to, "at": at_, **kw}


def test_a_pending_tickets_resolution_clock_stops_and_runs_on_with_the_time_left():
    t0 = at("2026-12-11 09:00")
    timeline = [state("created", "new", t0), state("state", "open", t0 + 600),
                {"kind": "reply", "at": t0 + 3600}, state("state", "pending", t0 + 3600)]
    res = {c.target: c for c in ticket_clocks(t0, timeline)}["resolution"]
    paused = measure(res, 2 * 3600, 0.8, CAL, at("2026-12-16 12:00"))  # days later: still paused, 1 h used
    assert paused.state == "paused" and paused.left_seconds == 3600 and paused.due is None
    back = at("2026-12-16 17:30")  # the customer answers late on Wednesday: 30 min today, 30 min Thursday
    timeline += [{"kind": "customer", "at": back}, state("state", "open", back)]
    clocks = {c.target: c for c in ticket_clocks(t0, timeline)}
    resumed = measure(clocks["resolution"], 2 * 3600, 0.8, CAL, back + 1)
    assert resumed.basis == back and resumed.state == "running" and resumed.left_seconds == 3599
    # 60 min left: 30 on Wednesday, 30 on Thursday; the warning at 96 min used (36 min after the answer)
    assert local(resumed.due) == "Thu 2026-12-17 09:30" and local(resumed.warn) == "Thu 2026-12-17 09:06"
    assert measure(clocks["first_response"], 3600, 0.8, CAL, back).state == "met"
    nxt = measure(clocks["next_response"], 3600, 0.8, CAL, back + 60)
    assert nxt.basis == back and local(nxt.due) == "Thu 2026-12-17 09:30"
    timeline.append(state("state", "solved", back + 600))
    done = {c.target: c for c in ticket_clocks(t0, timeline)}["resolution"]
    assert measure(done, 2 * 3600, 0.8, CAL, back + 99999).state == "met"


def test_a_clock_tells_the_page_the_wall_seconds_to_its_warning_and_due_time_and_whether_it_counts_now():
    """The console counts a clock down between two answers: business seconds left say nothing about when the
    warning comes across a night (a ticket opened at 17:00 with 8 business hours warns the next day), so the
    view says how many wall seconds the warning and the due time are away, and whether business time runs now."""
    from handoff.clocks.sla import clocks_view

    five_pm = at("2026-12-10 17:00")  # a Thursday
    (resolution,) = [c for c in chat_clocks(five_pm, None, False, []) if c.target == "resolution"]
    m = measure(resolution, 8 * 3600, 0.5, CAL, five_pm + 60)
    (view,) = [v for v in clocks_view([(resolution, m)]) if v["target"] == "resolution"]
    assert view["state"] == "running" and view["left_seconds"] == 8 * 3600 - 60
    assert view["warn_in_seconds"] == at("2026-12-11 12:00") - (five_pm + 60)  # 1 h Thursday + 3 h Friday
    assert view["due_in_seconds"] == at("2026-12-11 16:00") - (five_pm + 60)
    assert view["counting"] is True
    night = measure(resolution, 8 * 3600, 0.5, CAL, at("2026-12-10 22:00"))
    (view,) = clocks_view([(resolution, night)])
    assert view["counting"] is False and view["left_seconds"] == 7 * 3600  # the night costs nothing
    warned = measure(resolution, 8 * 3600, 0.5, CAL, at("2026-12-11 13:00"))
    (view,) = clocks_view([(resolution, warned)])
    assert view["state"] == "warning" and view["warn_in_seconds"] == 0 and view["due_in_seconds"] == 3 * 3600
