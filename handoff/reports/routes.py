"""The reports' HTTP routes (documented in handoff/reports/openapi.yml, merged into the service's document).

Supervisors only. ``GET /v1/reports/summary?from=&to=`` (JSON), ``GET /v1/reports/export.csv?kind=&from=&to=``
(CSV), ``GET /v1/reports/weekly?week=`` (a week, the week before and the changes: what the weekly page shows)
and the page ``GET /reports/weekly/?week=YYYY-Www`` (static HTML + handoff/web/weekly.js, which logs in like the
dashboard). Bad queries are 422 with the reason; nothing is ever written.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Callable, Dict, Optional

from sanic import Request, Sanic
from sanic.response import HTTPResponse, json as json_response

from handoff.web import pages
from handoff.reports import export, read, summary as sm

_WEEK = timedelta(days=7)
DEFAULT_FLAG = 0.6  # the source document: topics solved less often than this are flagged


@dataclass
class Helpers:
    supervisor: Callable[[Request], Any]
    conversations_key: str


def business_timezone(groups: Any) -> str:
    """The default business calendar's time zone (skill_groups.yml business_hours.default), UTC without one."""
    calendar = (getattr(groups, "calendars", None) or {}).get(groups.default_group)
    return calendar.timezone if calendar is not None else "UTC"


def flag_below(request: Request) -> float:
    text = request.args.get("flag_below", str(DEFAULT_FLAG))
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0.0 <= value <= 1.0:
        raise sm.ReportInvalid(f"flag_below: a share from 0 to 1 (e.g. 0.6), not {text!r}")
    return value


def register(app: Sanic, h: Helpers) -> None:
    async def report(rng: sm.Range, threshold: float) -> Dict[str, Any]:
        service = app.ctx.service
        records = await read.read(app.ctx.store, rng, h.conversations_key, service.clock())
        return sm.summary(records.rows, records.conversations, records.topic_conversations, rng, threshold,
                          records.topics_counted)

    def tz() -> str:
        return business_timezone(app.ctx.service.groups)

    @app.get("/v1/reports/summary")
    async def report_summary(request: Request) -> HTTPResponse:
        h.supervisor(request)
        rng = sm.parse_range(request.args.get("from"), request.args.get("to"), tz())
        return json_response(await report(rng, flag_below(request)))

    @app.get("/v1/reports/weekly")
    async def report_weekly(request: Request) -> HTTPResponse:
        h.supervisor(request)
        rng = sm.parse_week(request.args.get("week"), tz())
        threshold = flag_below(request)
        this, before = await report(rng, threshold), await report(sm.previous_week(rng), threshold)
        return json_response({"week": sm.week_name(rng.first), "previous": sm.week_name(rng.first - _WEEK),
                              "summary": this, "before": before, "changes": sm.compare(this, before)})

    @app.get("/v1/reports/export.csv")
    async def report_export(request: Request) -> HTTPResponse:
        h.supervisor(request)
        kind: Optional[str] = request.args.get("kind")
        if kind not in export.COLUMNS:
            raise sm.ReportInvalid(f"kind: chats or tickets, not {kind!r}")
        rng = sm.parse_range(request.args.get("from"), request.args.get("to"), tz())
        rows = await read.rows_of(app.ctx.store, rng.start, rng.end, app.ctx.service.clock())
        name = f"{kind}-{rng.first.isoformat()}-{rng.last.isoformat()}.csv"
        return HTTPResponse(export.to_csv(rows, kind), content_type="text/csv; charset=utf-8",
                            headers={"Content-Disposition": f'attachment; filename="{name}"',
                                     "X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"})

    @app.get("/reports/weekly/", strict_slashes=True)
    async def weekly_page(request: Request) -> HTTPResponse:
        if request.args.get("week") is not None:
            sm.parse_week(request.args.get("week"), tz())  # a bad week is a 422 here already
        path = pages.resolve(pages.WEB_DIR, "weekly.html")
        if path is None:
            return pages.not_found("/reports/weekly/")
        return pages.file_response(request, path)

    @app.get("/reports/weekly", strict_slashes=True, name="weekly_redirect")
    async def weekly_redirect(request: Request) -> HTTPResponse:
        query = f"?{request.query_string}" if request.query_string else ""
        return HTTPResponse(status=301, headers={"Location": f"/reports/weekly/{query}", **pages.HTML_HEADERS})
