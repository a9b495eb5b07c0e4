"""The reports' routes on a real service process over redis-server: supervisors only, bad queries are 422 with the
reason (nothing written), the CSV and the weekly page have their types and the pages' security headers."""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest
import requests

from handoff.web.pages import CSP
from tests.handoff.cluster import BOT_TOKEN, Cluster, bearer, small_team_service


@pytest.fixture(scope="module")
def svc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with small_team_service(Path(tmp_path_factory.mktemp("reports-api"))) as cluster:
        yield cluster


def get(svc: Cluster, path: str, token: str = "", **params: str) -> requests.Response:
    return requests.get(svc.urls[0] + path, params=params, headers=bearer(token) if token else {}, timeout=30)


@pytest.mark.parametrize("path", ["/v1/reports/summary", "/v1/reports/weekly", "/v1/reports/export.csv"])
def test_only_supervisors_see_the_reports(svc: Cluster, path: str) -> None:
    assert get(svc, path, **{"from": "2026-11-23", "to": "2026-11-29"}).status_code == 401
    assert get(svc, path, BOT_TOKEN, **{"from": "2026-11-23", "to": "2026-11-29"}).status_code == 403
    r = get(svc, path, svc.login("ann"), **{"from": "2026-11-23", "to": "2026-11-29"})
    assert r.status_code == 403 and r.json()["error"]["message"] == "only supervisors may do this"


@pytest.mark.parametrize("path,params,message", [
    ("/v1/reports/summary", {"from": "2026-11-23"}, "to: a date YYYY-MM-DD, not None"),
    ("/v1/reports/summary", {"from": "2026-11-29", "to": "2026-11-23"}, "to (2026-11-23) is before from (2026-11-29)"),
    ("/v1/reports/summary", {"from": "2026-11-23", "to": "2026-11-29", "flag_below": "60%"},
     "flag_below: a share from 0 to 1 (e.g. 0.6), not '60%'"),
    ("/v1/reports/export.csv", {"kind": "agents", "from": "2026-11-23", "to": "2026-11-29"},
     "kind: chats or tickets, not 'agents'"),
    ("/v1/reports/weekly", {"week": "2026-48"}, "week: an ISO week YYYY-Www (e.g. 2026-W48), not '2026-48'"),
])
def test_a_bad_query_is_a_422_saying_why(svc: Cluster, path: str, params: dict, message: str) -> None:
    r = get(svc, path, svc.login("sue"), **params)
    assert r.status_code == 422, r.text
    assert r.json()["error"] == {"code": "invalid", "message": message}


def test_an_empty_range_has_no_figures_rather_than_zeros(svc: Cluster) -> None:
    s = get(svc, "/v1/reports/summary", svc.login("sue"), **{"from": "2020-01-06", "to": "2020-01-12"}).json()
    assert (s["from"], s["to"], s["timezone"]) == ("2020-01-06", "2020-01-12", "Asia/Shanghai")
    assert s["since"] == "2020-01-05T16:00:00Z" and s["fcr"]["rate"] is None
    assert s["containment"]["handoffs"] == 0 and len(s["trends"]["days"]) == 7
    w = get(svc, "/v1/reports/weekly", svc.login("sue"), week="2020-W02").json()
    assert (w["week"], w["previous"], w["summary"]["from"], w["before"]["from"]) == \
        ("2020-W02", "2020-W01", "2020-01-06", "2019-12-30")


def test_the_export_is_a_csv_file(svc: Cluster) -> None:
    r = get(svc, "/v1/reports/export.csv", svc.login("sue"), kind="tickets", **{"from": "2020-01-06", "to": "2020-01-12"})
    assert r.status_code == 200 and r.headers["content-type"] == "text/csv; charset=utf-8"
    assert r.headers["content-disposition"] == 'attachment; filename="tickets-2020-01-06-2020-01-12.csv"'
    assert r.text.startswith("id,label,source,owner_group,created_at,") and r.text.count("\r\n") == 1


def test_the_weekly_page_is_a_page_with_the_pages_headers(svc: Cluster) -> None:
    r = get(svc, "/reports/weekly/", week="2026-W48")
    assert r.status_code == 200 and r.headers["content-security-policy"] == CSP
    assert '<script type="module" src="/web/weekly.js">' in r.text
    assert get(svc, "/reports/weekly/", week="W48").status_code == 422
    moved = requests.get(svc.urls[0] + "/reports/weekly?week=2026-W48", allow_redirects=False, timeout=10)
    assert (moved.status_code, moved.headers["location"]) == (301, "/reports/weekly/?week=2026-W48")


def test_the_openapi_document_has_the_reports(svc: Cluster) -> None:
    paths = requests.get(svc.urls[0] + "/v1/openapi.json", timeout=10).json()["paths"]
    assert {"/v1/reports/summary", "/v1/reports/weekly", "/v1/reports/export.csv"} <= set(paths)
