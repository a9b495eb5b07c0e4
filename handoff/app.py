"""The handoff service's Sanic app: ``create_app(settings, store=None)``: reads the policies, builds the service
(handoff/service.py), the tickets (handoff/tickets/), the clocks (handoff/clocks/) and the mail, and registers
the routes, each concern in its own module: who calls and errors (handoff/api/helpers.py), chats
(handoff/api/chats.py), agents (handoff/api/agents.py), the console's WebSocket (handoff/api/stream.py), surveys
(handoff/api/surveys.py), tickets (handoff/tickets/routes.py), reports (handoff/reports/routes.py) and the web pages
(handoff/web/pages.py). Two background tasks per process (handoff/background.py): the sweeper and the event reader.
The operations' routes are here: the OpenAPI document, ``/health`` and ``/metrics``.
"""
from __future__ import annotations

import asyncio
import gc
import uuid
from typing import Any, Optional

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sanic import Request, Sanic
from sanic.response import HTTPResponse, json as json_response

from common.canned import load_canned_responses
from common.routing import SkillGroups
from common.surge import SurgePolicy
from common.survey_policy import SurveyPolicy
from handoff import survey_mail
from handoff.access import Access
from handoff.api import agents as agent_routes
from handoff.api import chats as chat_routes
from handoff.api import helpers, stream
from handoff.api import surveys as survey_routes
from handoff.api.helpers import UNAVAILABLE, Requests, summary
from handoff.api_doc import BodyValidators, build_document
from handoff.background import event_reader, sweeper
from handoff.clocks import autoclose
from handoff.clocks import sla as sla_clocks
from handoff.clocks import survey as survey_clock
from handoff.clocks.offset_clock import make_clock
from handoff.clocks.surge import SurgeRule
from handoff.clocks.timers import TimerRunner, wall_offset
from handoff.hub import Hub
from handoff.metrics import Metrics
from handoff.redis_store import RedisStore
from handoff.reports import routes as report_routes
from handoff.service import HandoffService
from handoff.settings import Settings
from handoff.store import Store
from handoff.surveys import SurveyAnswers
from handoff.tickets import routes as ticket_routes
from handoff.tickets.flows import TicketFlows
from handoff.tickets.mail_service import TicketMail
from handoff.tickets.service import TicketService
from handoff.web import pages

def create_app(settings: Settings, store: Optional[Store] = None, name: Optional[str] = None) -> Sanic:
    groups = SkillGroups.load(settings.skill_groups_file)
    canned = load_canned_responses(settings.canned_responses_file, groups.groups)
    document = build_document(groups)
    validators = BodyValidators(document)
    ticket_flows = TicketFlows.load(settings.ticket_flows_file, groups.groups)
    surge_policy = SurgePolicy.load(groups.groups, settings.surge_file)
    survey_policy = SurveyPolicy.load(settings.survey_file, groups.groups)
    metrics = Metrics()
    hub = Hub()
    app = Sanic(name or f"handoff_{uuid.uuid4().hex[:8]}")
    app.config.REQUEST_MAX_SIZE = settings.max_body_bytes
    app.config.FALLBACK_ERROR_FORMAT = "json"
    app.config.WEBSOCKET_PING_INTERVAL = 20
    app.config.WEBSOCKET_PING_TIMEOUT = 20
    app.ctx.settings = settings
    app.ctx.metrics = metrics
    app.ctx.hub = hub

    @app.before_server_start
    async def open_store(app: Sanic, _loop: Any) -> None:
        app.ctx.store = store or RedisStore.from_url(settings.redis_url, settings.redis_prefix)
        app.ctx.access = Access(app.ctx.store, settings.auth_cache_seconds, unavailable=UNAVAILABLE)
        app.ctx.service = HandoffService(app.ctx.store, groups, metrics, settings.reservation_seconds,
                                         agent_grace_seconds=settings.agent_grace_seconds,
                                         max_missed_offers=settings.max_missed_offers,
                                         clock=make_clock(settings.clock_file))
        app.ctx.tickets = TicketService(app.ctx.store, groups, ticket_flows, metrics, clock=app.ctx.service.clock)
        app.ctx.service.tickets = app.ctx.tickets
        app.ctx.tickets.hooks = app.ctx.service.hooks
        app.ctx.mail = TicketMail(settings, app.ctx.store, app.ctx.tickets)
        # Durable timers (handoff/clocks/): each concern registers the handler of its timer kinds here.
        app.ctx.timers = TimerRunner(app.ctx.store, wall_offset(app.ctx.service.clock),
                                     on_fired=metrics.timer_fired, on_failed=metrics.timer_failed)
        autoclose.register(app)  # solved tickets close when the reopen window ends (handoff/clocks/autoclose.py)
        app.ctx.surge = SurgeRule(app.ctx.service, surge_policy, metrics)  # run by the sweeper (docs/surge.md)
        app.ctx.survey_policy = survey_policy  # the survey after a close or a solve (handoff/clocks/survey.py)
        survey_clock.install(app, survey_policy, survey_mail.SurveyMail(app))
        app.ctx.surveys = SurveyAnswers(app.ctx.service, app.ctx.tickets, survey_policy)

    sla_clocks.register(app, groups)  # SLA warnings and breaches (handoff/clocks/sla.py), after the store exists

    @app.after_server_start
    async def start_tasks(app: Sanic, _loop: Any) -> None:
        gc.freeze()  # start-up objects (tables, schemas, compiled validators) leave the collector's sight
        app.ctx.tasks = [asyncio.ensure_future(sweeper(app, settings, hub)),
                         asyncio.ensure_future(event_reader(app, hub)),
                         asyncio.ensure_future(app.ctx.timers.run(UNAVAILABLE))]
        await app.ctx.mail.start()  # ticket e-mail, when HANDOFF_SMTP_HOST / HANDOFF_MAIL_IN_PORT say so

    @app.before_server_stop
    async def stop_tasks(app: Sanic, _loop: Any) -> None:
        for task in getattr(app.ctx, "tasks", []):
            task.cancel()
        await app.ctx.mail.stop()
        await app.ctx.store.close()

    # -- who calls, errors, the chats' and agents' routes (handoff/api/) ---------------------------
    requests = Requests(validators)
    helpers.register(app, settings)
    chat_routes.register(app, requests)
    agent_routes.register(app, requests, settings, groups, canned)
    stream.register(app, settings, hub, metrics)

    # -- tickets, reports, surveys and pages -----------------------------------------------------
    ticket_routes.register(app, ticket_routes.Helpers(requests.caller, requests.agent, requests.bot, requests.body))
    report_routes.register(app, report_routes.Helpers(requests.supervisor, settings.conversations_key))
    survey_routes.register(app, requests.bot, requests.body, summary)  # the survey's answers (handoff/surveys.py)
    survey_mail.register(app)  # the survey page an e-mail links to
    pages.register(app)

    # -- operations ------------------------------------------------------------------------------
    @app.get("/v1/openapi.json")
    async def openapi(_request: Request) -> HTTPResponse:
        return json_response(document)

    @app.get("/health")
    async def health(_request: Request) -> HTTPResponse:
        try:
            await app.ctx.store.ping()
        except UNAVAILABLE as e:
            return json_response({"status": "unavailable", "redis": str(e) or "unreachable"}, status=503)
        return json_response({"status": "ok", "redis": "ok"})

    @app.get("/metrics")
    async def prometheus(_request: Request) -> HTTPResponse:
        try:
            for q in await app.ctx.service.queues():
                g = q["skill_group"]
                metrics.queue_waiting.labels(g).set(q["waiting"])
                metrics.queue_oldest.labels(g).set(q["oldest_wait_seconds"])
                metrics.agents_online.labels(g).set(q["agents_online"])
                metrics.free_capacity.labels(g).set(q["free_capacity"])
                metrics.ticket_queue.labels(g).set(await app.ctx.store.index_size(f"queue:{g}"))
            for state, n in (await app.ctx.tickets.counts()).items():
                metrics.tickets_by_state.labels(state).set(n)
            await metrics.read_timers(app.ctx.timers)
            metrics.undelivered.set((await app.ctx.store.list_entries(settings.undelivered_key, 0))[0]
                                    + (await app.ctx.store.list_entries(settings.dead_events_key, 0))[0]
                                    + (await app.ctx.store.list_entries(f"{settings.redis_prefix}mail:dead", 0))[0])
        except UNAVAILABLE:
            pass  # counters are still worth scraping
        return HTTPResponse(generate_latest(metrics.registry), content_type=CONTENT_TYPE_LATEST)

    return app
