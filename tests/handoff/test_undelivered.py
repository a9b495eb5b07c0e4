"""Issue 12.1/12.2: what the bot could not deliver is visible to supervisors (GET /v1/undelivered, the
handoff_undelivered_items gauge), read from the bot's list in the same Redis. Real Redis, real service process."""
from __future__ import annotations

import json
from typing import Iterator

import pytest
import redis as redis_lib
import requests

from common.undelivered import UNDELIVERED, parked
from tests.handoff.cluster import BOT_TOKEN, Cluster, bearer, small_team_service


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with small_team_service(tmp_path_factory.mktemp("undelivered")) as cluster:
        yield cluster


def test_supervisors_see_what_the_bot_could_not_deliver(service: Cluster):
    r = redis_lib.Redis.from_url(service.redis_url)
    r.delete(UNDELIVERED)
    request = {"schema_version": 1, "conversation_id": "conv-413", "transcript": [{"speaker": "customer",
                                                                                  "text": "a very long story"}]}
    r.rpush(UNDELIVERED, json.dumps(parked("handoff", request, 413, "payload too large", now=1_700_000_000.0)),
            json.dumps(parked("survey", {"escalation": "e-1", "survey": {"resolved": True, "rating": 5}}, 401,
                              "token rotated", attempts=3, now=1_700_000_100.0)))
    base = service.urls[0]
    shown = requests.get(base + "/v1/undelivered", headers=bearer(service.login("sue")), timeout=10)
    assert shown.status_code == 200
    assert shown.json() == {"total": 2, "items": [
        {"kind": "handoff", "conversation_id": "conv-413", "status": 413, "error": "payload too large", "attempts": 1,
         "at": "2023-11-14T22:13:20Z"},
        {"kind": "survey", "escalation": "e-1", "status": 401, "error": "token rotated", "attempts": 3,
         "at": "2023-11-14T22:15:00Z"}]}  # no transcript: the list is for finding them, the tracker has the rest
    assert requests.get(base + "/v1/undelivered", headers=bearer(service.login("ann")), timeout=10).status_code == 403
    assert requests.get(base + "/v1/undelivered", headers=bearer(BOT_TOKEN), timeout=10).status_code == 403
    metrics = requests.get(base + "/metrics", timeout=10).text
    assert "handoff_undelivered_items 2.0" in metrics
    r.delete(UNDELIVERED)


def test_the_dashboard_shows_them_in_a_small_panel(service: Cluster):
    from playwright.sync_api import expect, sync_playwright

    from tests.browser.conftest import chromium_path
    from tests.handoff.cluster import PASSWORD

    r = redis_lib.Redis.from_url(service.redis_url)
    r.delete(UNDELIVERED)
    r.rpush(UNDELIVERED, json.dumps(parked("handoff", {"conversation_id": "conv-<b>413</b>"}, 413, "payload too large")))
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium_path(), headless=True,
                                        args=["--no-sandbox", "--disable-dev-shm-usage"])
            page = browser.new_page()
            page.goto(service.urls[0] + "/dashboard/")
            page.get_by_test_id("login-agent").fill("sue")
            page.get_by_test_id("login-password").fill(PASSWORD)
            page.get_by_test_id("login-submit").click()
            row = page.get_by_test_id("undelivered-row")
            expect(row).to_have_count(1, timeout=15_000)
            expect(row).to_contain_text("handoff of conv-<b>413</b>")  # text, never markup
            expect(row).to_contain_text("413")
            expect(page.locator("#undelivered-total")).to_have_text("1 waiting for a person")
            browser.close()
    finally:
        r.delete(UNDELIVERED)
