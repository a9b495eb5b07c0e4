"""The timer service wired into a running service process (a real redis-server and a real process, the service
clock moved by HANDOFF_CLOCK_FILE): a solved ticket closes when its reopen window ends, and /metrics counts the
firing, its lateness and the timers pending."""
from __future__ import annotations

import time
from typing import Iterator

import pytest
import requests

from tests.handoff.cluster import BOT_TOKEN, Cluster, bearer, small_team_service
from tests.handoff.requests import handoff_request

WEEK = 7 * 86400


@pytest.fixture(scope="module")
def svc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    folder = tmp_path_factory.mktemp("timers-live")
    (folder / "clock").write_text("0")
    with small_team_service(folder, HANDOFF_CLOCK_FILE=str(folder / "clock")) as cluster:
        yield cluster


def metric(base: str, line_start: str) -> float:
    for line in requests.get(base + "/metrics", timeout=10).text.splitlines():
        if line.startswith(line_start):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_a_solved_ticket_closes_after_the_reopen_window_and_the_metrics_count_the_timer(svc):
    base = svc.urls[0]
    bot, ann = bearer(BOT_TOKEN), bearer(svc.login("ann"))
    made = requests.post(base + "/v1/handoffs", json=handoff_request("night-timer", "after_sales"), headers=bot,
                         timeout=10)
    assert made.status_code == 201 and made.json()["status"] == "ticket", made.text
    label = made.json()["ticket"]["label"]
    solved = requests.post(f"{base}/v1/tickets/{label}/state", json={"state": "solved", "reason": "fixed"},
                           headers=ann, timeout=10)
    assert solved.status_code == 200 and solved.json()["state"] == "solved", solved.text
    assert metric(base, 'handoff_timers_pending{state="scheduled"}') >= 1      # its auto-close timer
    (svc.workdir / "clock").write_text(str(WEEK + 5))                             # a week and 5 s later
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        ticket = requests.get(f"{base}/v1/tickets/{label}", headers=ann, timeout=10).json()["ticket"]
        if ticket["state"] == "closed":
            break
        time.sleep(0.3)
    assert ticket["state"] == "closed"
    assert metric(base, 'handoff_timers_fired_total{kind="ticket_autoclose"}') == 1.0
    assert metric(base, 'handoff_timer_lateness_seconds_count{kind="ticket_autoclose"}') == 1.0
    assert metric(base, 'handoff_timer_lateness_seconds_sum{kind="ticket_autoclose"}') < 10.0
    assert metric(base, "handoff_timers_failed_total") == 0.0
