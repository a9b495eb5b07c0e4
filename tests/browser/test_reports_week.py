"""A generated week of traffic (bench/week.py, fixed seed) replayed through the real services
into a real redis-server fills the reports; GET /v1/reports/summary of a real handoff-service process is checked
against an independent computation from the replay's raw JSONL events (written here, not calling
handoff/reports/); the dashboard's report section and the weekly page are looked at in Chromium and saved as
screenshots in artifacts/browser/.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import json
import math
from collections import Counter, defaultdict
from datetime import date, datetime, timedelta, timezone
from typing import Any, Dict, Iterator, List
from zoneinfo import ZoneInfo

import pytest
import requests
from playwright.sync_api import Browser, expect

from bench import week as bench_week
from tests.browser.conftest import Watched
from tests.handoff.cluster import PASSWORD, Cluster, bearer

WEEK, SEED = "2026-W48", 14
TZ = ZoneInfo("Asia/Shanghai")
MONDAY = date.fromisocalendar(2026, 48, 1)
DATES = [MONDAY + timedelta(days=i) for i in range(7)]
WAIT = 30_000


@pytest.fixture(scope="module")
def replayed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dict[str, Any]]:
    folder = tmp_path_factory.mktemp("week")
    cluster = Cluster(folder)
    events = folder / "events.jsonl"
    try:
        cluster.start_redis()
        with concurrent.futures.ThreadPoolExecutor(1) as pool:  # its own event loop, away from Playwright's
            pool.submit(lambda: asyncio.run(bench_week.replay(cluster.redis_url, WEEK, SEED, events))).result()
            pool.submit(cluster.add_agents, [{"id": "sue", "name": "Sue Park", "skills": ["general"],
                                              "role": "supervisor"}]).result()
        cluster.start_service()
        yield {"cluster": cluster, "events": [json.loads(line) for line in events.read_text().splitlines()]}
    finally:
        cluster.stop()


# -- the independent computation ------------------------------------------------------------------------------
def pctl(values: List[float], q: float) -> float:
    s = sorted(values)
    k = (len(s) - 1) * q
    lo, hi = math.floor(k), math.ceil(k)
    return round(s[lo] + (s[hi] - s[lo]) * (k - lo), 1)


def local_day(at: float) -> date:
    return datetime.fromtimestamp(at, TZ).date()


def expected(events: List[Dict[str, Any]], conversations: int) -> Dict[str, Any]:
    chats: Dict[str, Dict[str, Any]] = {}
    tickets: Dict[str, Dict[str, Any]] = {}
    conv_by_utc_day: Counter = Counter()
    for ev in events:
        kind, at = ev["type"], ev.get("at")
        if kind == "conversation":
            conv_by_utc_day[datetime.fromtimestamp(at, timezone.utc).date()] += 1
        elif kind == "handoff":
            chats[ev["escalation"]] = {**ev, "accepted": [], "transferred": False, "ticket": False, "survey": None,
                                       "closed": None, "first_message": None, "breaches": set()}
        elif kind == "accepted":
            chats[ev["escalation"]]["accepted"].append(at)
        elif kind == "agent_message":
            chats[ev["escalation"]]["first_message"] = chats[ev["escalation"]]["first_message"] or at
        elif kind == "transferred":
            chats[ev["escalation"]]["transferred"] = True
        elif kind == "closed":
            chats[ev["escalation"]].update(closed=at, resolved=ev["resolved"], final_group=ev["group"])
        elif kind == "ticket_from_chat":
            chats[ev["escalation"]]["ticket"] = True
            tickets[ev["ticket"]] = {"at": at, "source": "agent", "solved": 0, "reopened": 0, "sent": 0, "breaches": set()}
        elif kind == "ticket_created":
            tickets[ev["ticket"]] = {**ev, "solved": 0, "reopened": 0, "sent": 0, "breaches": set()}
        elif kind == "ticket_solved":
            tickets[ev["ticket"]]["solved"] += 1
        elif kind == "ticket_reopened":
            tickets[ev["ticket"]]["reopened"] += 1
        elif kind == "ticket_sent":
            tickets[ev["ticket"]]["sent"] += 1
        elif kind == "survey":
            chats[ev["escalation"]]["survey"] = ev
        elif kind == "sla" and ev["kind"] == "sla_breach":
            what, ident = ev["subject"].split(":")
            (chats if what == "chat" else tickets)[ident]["breaches"].add(ev["target"])
    in_week = lambda r: local_day(r["at"]) in DATES  # noqa: E731
    week_chats = [c for c in chats.values() if in_week(c)]
    week_tickets = [t for t in tickets.values() if in_week(t)]
    for c in chats.values():
        c["solved"] = bool(c["closed"] and c["resolved"] and not (c["survey"] and c["survey"]["resolved"] is False))
    for t in tickets.values():
        t["solved_now"] = t["solved"] > 0 and t["solved"] > t["reopened"]
    contacts = [("chat", c) for c in chats.values()] + [("ticket", t) for t in tickets.values() if t["source"] == "api"]
    times_of = defaultdict(list)
    for _, r in contacts:
        times_of[(r["customer"], r["topic"])].append(r["at"])

    def again(r: Dict[str, Any]) -> bool:
        return any(r["at"] < x <= r["at"] + 7 * 86400 for x in times_of[(r["customer"], r["topic"])])

    human = [(k, r) for k, r in contacts if in_week(r)]
    fcr_chats = sum(1 for k, r in human if k == "chat" and r["solved"] and len(r["accepted"]) == 1
                    and not r["transferred"] and not r["ticket"] and not again(r))
    fcr_tickets = sum(1 for k, r in human if k == "ticket" and r["solved_now"] and not r["reopened"] and not r["sent"]
                      and not again(r))
    api_tickets = sum(1 for k, _ in human if k == "ticket")
    by_topic = Counter(r["topic"] for _, r in human)
    solved_topic = Counter(r["topic"] for k, r in human if (r["solved"] if k == "chat" else r["solved_now"]))
    top = sorted(by_topic.items(), key=lambda kv: (-kv[1], kv[0]))[:10]
    heat = [[0] * 24 for _ in range(7)]
    for c in week_chats:
        local = datetime.fromtimestamp(c["at"], TZ)
        heat[local.weekday()][local.hour] += 1
    surveyed = [c for c in week_chats if c["survey"]]
    per_group: Dict[str, List[int]] = defaultdict(list)
    for c in surveyed:
        per_group[c["final_group"]].append(c["survey"]["rating"])
    solved_tickets = [t for t in week_tickets if t["solved"]]
    return {
        "conversations_by_utc_day": sum(conv_by_utc_day[d] for d in DATES),
        "handoffs": len(week_chats),
        "handoffs_by_topic": Counter(c["topic"] for c in week_chats),
        "fcr": round((max(0, conversations - len(week_chats)) + fcr_chats + fcr_tickets) / (conversations + api_tickets), 4),
        "human_first_contact": fcr_chats + fcr_tickets,
        # durations to 0.1 s, as the report keeps them
        "wait": [round(c["accepted"][0] - c["at"], 1) for c in week_chats if c["accepted"]],
        "first_response": [round(c["first_message"] - c["at"], 1) for c in week_chats if c["first_message"]],
        "resolution": [round(c["closed"] - c["at"], 1) for c in week_chats if c["solved"]],
        "first_response_breached": sum(1 for c in week_chats if "first_response" in c["breaches"]),
        "resolution_breached": sum(1 for t in week_tickets if "resolution" in t["breaches"]),
        "records": len(week_chats) + len(week_tickets),
        "reopen": (len(solved_tickets), sum(1 for t in solved_tickets if t["reopened"])),
        "top": [(name, n, solved_topic[name]) for name, n in top],
        "heat": heat,
        "satisfaction": {g: (len(r), round(sum(r) / len(r), 2)) for g, r in per_group.items()},
        "unresolved": sum(1 for c in surveyed if c["survey"]["resolved"] is False),
    }


def test_a_replayed_week_fills_the_reports_and_its_figures_match_the_raw_events(replayed: Dict[str, Any], browser: Browser) -> None:
    cluster: Cluster = replayed["cluster"]
    url = cluster.urls[0]
    token = cluster.login("sue")
    r = requests.get(f"{url}/v1/reports/summary", params={"from": DATES[0].isoformat(), "to": DATES[-1].isoformat()},
                     headers=bearer(token), timeout=60)
    assert r.status_code == 200, r.text
    s = r.json()
    conversations = s["containment"]["conversations"]
    want = expected(replayed["events"], conversations)
    # The bot's counts are HyperLogLogs (0.81 % standard error): the count is close, the rest exact.
    assert abs(conversations - want["conversations_by_utc_day"]) <= 0.02 * want["conversations_by_utc_day"]
    assert s["containment"]["handoffs"] == want["handoffs"] > 300
    assert s["containment"]["containment"] == round(1 - want["handoffs"] / conversations, 4)
    assert {t["topic"]: t["handoffs"] for t in s["containment"]["by_topic"]} == dict(want["handoffs_by_topic"])
    assert s["fcr"]["human_first_contact"] == want["human_first_contact"]
    assert s["fcr"]["rate"] == want["fcr"]
    times = s["times"]["chat"]
    for name in ("wait", "first_response", "resolution"):
        assert (times[name]["count"], times[name]["p50"], times[name]["p90"]) == \
            (len(want[name]), pctl(want[name], 0.5), pctl(want[name], 0.9)), name
    targets = {t["target"]: t for t in s["sla"]["targets"]}
    assert targets["first_response"]["records"] == want["records"]
    assert targets["first_response"]["breached"] == want["first_response_breached"] > 0
    assert targets["resolution"]["breached"] == want["resolution_breached"]
    assert (s["reopens"]["solved"], s["reopens"]["reopened"]) == want["reopen"]
    assert [(t["name"], t["count"], t["solved"]) for t in s["top"]["topics"]] == want["top"]
    assert any(t["flagged"] for t in s["top"]["topics"]) and not all(t["flagged"] for t in s["top"]["topics"])
    assert s["heat_map"]["volume"] == want["heat"]
    assert {g["name"]: (g["responses"], g["average_rating"]) for g in s["satisfaction"]["groups"]} == want["satisfaction"]
    assert len(s["satisfaction"]["unresolved"]) == want["unresolved"] > 0

    # The CSV export: one line per chat; a customer's formula is text.
    csv = requests.get(f"{url}/v1/reports/export.csv", params={"kind": "chats", "from": DATES[0].isoformat(),
                                                                "to": DATES[-1].isoformat()}, headers=bearer(token), timeout=60)
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    assert len(csv.text.strip().split("\r\n")) == want["handoffs"] + 1
    assert "'=HYPERLINK" in csv.text and ",=HYPERLINK" not in csv.text

    # The dashboard's report section and the weekly page, in Chromium.
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    try:
        dash = Watched(context, "reports")
        dash.page.goto(f"{url}/dashboard/#reports={DATES[0].isoformat()}..{DATES[-1].isoformat()}")
        dash.page.get_by_test_id("login-agent").fill("sue")
        dash.page.get_by_test_id("login-password").fill(PASSWORD)
        dash.page.get_by_test_id("login-submit").click()
        body = dash.page.get_by_test_id("rep-body")
        expect(body).to_have_attribute("data-loaded", f"{DATES[0].isoformat()}..{DATES[-1].isoformat()}", timeout=WAIT)
        fcr_text = f"{int(want['fcr'] * 100)}"
        expect(dash.page.get_by_test_id("rep-fcr").locator(".kpi-value")).to_contain_text(fcr_text)
        expect(dash.page.get_by_test_id("rep-top-topics").locator("tbody tr")).to_have_count(len(want["top"]))
        assert dash.page.locator('[data-testid=rep-top-topics] tr[data-flagged="true"]').count() >= 1
        cells = dash.page.locator("[data-testid=heat-map] td.heat-cell")
        assert sum(int(c) for c in cells.evaluate_all("cs => cs.map(c => c.dataset.count)")) == want["handoffs"]
        dash.page.get_by_test_id("reports").scroll_into_view_if_needed()
        dash.screenshot("dashboard")
        weekly = Watched(context, "reports")
        weekly.page.goto(f"{url}/reports/weekly/?week={WEEK}")
        weekly.page.get_by_test_id("login-agent").fill("sue")  # a new tab: the supervisor logs in, as on the dashboard
        weekly.page.get_by_test_id("login-password").fill(PASSWORD)
        weekly.page.get_by_test_id("login-submit").click()
        expect(weekly.page.get_by_test_id("weekly")).to_have_attribute("data-loaded", WEEK, timeout=WAIT)
        expect(weekly.page.get_by_test_id("weekly-title")).to_contain_text(WEEK)
        handoffs_row = weekly.page.locator('[data-testid=weekly-changes] tr[data-figure="handoffs"] td')
        expect(handoffs_row.nth(1)).to_have_text(f"{want['handoffs']:,}")
        expect(handoffs_row.nth(2)).to_have_text("0")  # nothing was replayed the week before
        weekly.screenshot("weekly")
        for w in (dash, weekly):
            assert w.errors == [] and w.dialogs == [], (w.name, w.errors, w.dialogs)
    finally:
        context.close()
