"""The survey by e-mail against real processes: Redis, a handoff-service process (the survey policy with a 1 s
ticket delay) and a real SMTP server. A ticket of a customer who wrote by e-mail (no chat) is solved; after the
delay the customer gets the survey mail; its link opens a printable form (a forged link does not); answering
"not solved" reopens the ticket with raised priority and says who has it now; the same answer again changes
nothing, another one is refused."""
from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any, Iterator, Tuple

import pytest
import requests

from bot.processes import free_port
from tests.handoff.cluster import BOT_TOKEN, Cluster, bearer, small_team_service
from tests.handoff.test_ticket_mail import Relay

POLICY = """version: 1
default: {chat_delay_seconds: 0, ticket_delay_seconds: 1}
present_seconds: 600
email_when_gone: true
follow_up: {raise_priority_by: 20}
"""


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tuple[Cluster, Relay]]:
    folder = tmp_path_factory.mktemp("survey")
    product = (Path(__file__).resolve().parents[2] / "policy" / "survey.yml").read_text()
    (folder / "survey.yml").write_text(POLICY + product[product.index("\nemail:\n"):])
    port = free_port()
    with Relay(port) as relay, small_team_service(
            folder, HANDOFF_SURVEY_FILE=str(folder / "survey.yml"), HANDOFF_SMTP_HOST="127.0.0.1",
            HANDOFF_SMTP_PORT=str(port), HANDOFF_MAIL_FROM="Brightcart <help@shop.example>",
            HANDOFF_PUBLIC_URL="https://help.shop.example") as cluster:
        yield cluster, relay


def survey_mail(relay: Relay, to: str, timeout: float = 20) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [m for _, rcpt, m in list(relay.received) if to in rcpt]
        if found:
            return found[-1]
        time.sleep(0.2)
    raise AssertionError(f"no survey mail to {to}: {[m['Subject'] for _, _, m in relay.received]}")


def test_a_customer_gone_gets_the_survey_by_mail_and_not_solved_reopens_the_ticket(live):
    cluster, relay = live
    url, sue = cluster.urls[0], bearer(cluster.login("sue"))
    r = requests.post(url + "/v1/tickets", headers=bearer(BOT_TOKEN), timeout=10,
                      json={"subject": "Refund <b>missing</b>", "skill_group": "billing", "priority": 10,
                            "requester": {"email": "kim@example.com", "name": "Kim"}})
    assert r.status_code == 201, r.text
    label = r.json()["label"]
    assert requests.post(f"{url}/v1/tickets/{label}/assign", headers=sue, json={"agent_id": "bob"},
                         timeout=10).status_code == 200
    solved = requests.post(f"{url}/v1/tickets/{label}/state", headers=sue, json={"state": "solved"}, timeout=10)
    assert solved.json()["state"] == "solved", solved.text

    mail = survey_mail(relay, "kim@example.com")
    assert mail["Subject"] == f"[{label}] Did we solve your problem?"
    body = mail.get_body().get_content()
    assert 'Refund <b>missing</b>' in body  # plain text: the subject as the customer wrote it
    (link,) = re.findall(r"https://help\.shop\.example(/survey/\S+)", body)

    forged = requests.get(url + link[:-4] + "0000", timeout=10)
    assert forged.status_code == 404 and "not valid" in forged.text
    page = requests.get(url + link, timeout=10)
    assert page.status_code == 200 and "Did we solve your problem?" in page.text
    assert "script-src 'self'" in page.headers["Content-Security-Policy"] and "<script" not in page.text
    assert requests.post(url + link, data={"resolved": "maybe"}, timeout=10).status_code == 422

    answered = requests.post(url + link, data={"resolved": "no", "rating": "2"}, timeout=10)
    assert answered.status_code == 200, answered.text
    assert f"Your case {label} is with bob again; they will answer by " in answered.text
    t = requests.get(f"{url}/v1/tickets/{label}", headers=sue, timeout=10).json()["ticket"]
    assert (t["state"], t["priority"], t["assignee"]) == ("open", 30, "bob")
    assert {k: t["survey"][k] for k in ("resolved", "rating")} == {"resolved": False, "rating": 2}

    again = requests.post(url + link, data={"resolved": "no", "rating": "2"}, timeout=10)  # a double click
    assert again.status_code == 200
    other = requests.post(url + link, data={"resolved": "yes", "rating": "5"}, timeout=10)
    assert other.status_code == 409 and "answered this survey already" in other.text
    t = requests.get(f"{url}/v1/tickets/{label}", headers=sue, timeout=10).json()["ticket"]
    assert (t["state"], t["priority"], t["survey"]["resolved"]) == ("open", 30, False)
    assert len([m for _, rcpt, m in relay.received if "kim@example.com" in rcpt]) == 1  # asked once
