"""Prometheus metrics of one service process (each process is scraped on its own /metrics).

Counters and the wait histogram count what this process did; the queue gauges are read from the
store at scrape time, so every process reports the same, shared queues.
"""
from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.escalations = Counter("handoff_escalations_total", "Escalations created, by first skill group",
                                   ["skill_group"], registry=r)
        self.offers = Counter("handoff_offers_total", "Chats offered to an agent", ["skill_group"], registry=r)
        self.assignments = Counter("handoff_assignments_total", "Offers accepted", ["skill_group"], registry=r)
        self.offer_timeouts = Counter("handoff_offer_timeouts_total",
                                      "Offers not accepted within the reservation time (back in the queue)",
                                      registry=r)
        self.transfers = Counter("handoff_transfers_total", "Transfers, to a group or to an agent", ["kind"],
                                 registry=r)
        self.overflows = Counter("handoff_overflows_total", "Chats moved to a fallback group (nobody online)",
                                 ["from_group", "to_group"], registry=r)
        self.tickets = Counter("handoff_tickets_total", "Chats turned into tickets (nobody online to take them)",
                               ["skill_group"], registry=r)
        self.finished = Counter("handoff_finished_total", "Chats released, closed or abandoned", ["status"],
                                registry=r)
        self.wait = Histogram("handoff_wait_seconds", "Time from escalation to an agent accepting it",
                              ["skill_group"], registry=r,
                              buckets=(1, 5, 10, 20, 30, 60, 120, 300, 600, 1200, 1800, 3600))
        self.surveys = Counter("handoff_surveys_total", "Satisfaction surveys answered, by skill group and whether "
                               "the customer says the problem was resolved", ["skill_group", "resolved"], registry=r)
        self.survey_rating = Histogram("handoff_survey_rating", "Survey ratings (1-5; skipped ratings not counted)",
                                       ["skill_group"], registry=r, buckets=(1, 2, 3, 4, 5))
        self.agents_lost = Counter("handoff_agents_lost_total",
                                   "Agents whose console stayed disconnected past the grace period (set offline)",
                                   registry=r)
        self.requeued = Counter("handoff_requeued_total",
                                "Chats of a lost agent returned to their group's queue", ["skill_group"], registry=r)
        self.agents_away = Counter("handoff_agents_set_away_total",
                                   "Agents the service set away (reason missed_offers: let too many offers lapse "
                                   "in a row, HANDOFF_MAX_MISSED_OFFERS)", ["reason"], registry=r)
        self.undelivered = Gauge("handoff_undelivered_items", "Requests and survey answers the bot could not deliver "
                                 "(refused) and events its bridge gave up on, parked for a person "
                                 "(GET /v1/undelivered)", registry=r)
        self.queue_waiting = Gauge("handoff_queue_waiting", "Chats waiting", ["skill_group"], registry=r)
        self.queue_oldest = Gauge("handoff_queue_oldest_wait_seconds", "Longest current wait", ["skill_group"],
                                  registry=r)
        self.agents_online = Gauge("handoff_agents_online", "Agents online with the skill", ["skill_group"],
                                   registry=r)
        self.free_capacity = Gauge("handoff_free_capacity", "Free chat slots of online agents", ["skill_group"],
                                   registry=r)
        self.ws_clients = Gauge("handoff_websocket_clients", "Agent WebSocket connections to this process",
                                registry=r)
        # Tickets (handoff/tickets/): counters of this process; the per-state gauges are read from the store at scrape.
        self.tickets_created = Counter("handoff_tickets_opened_total", "Tickets created, by group and source "
                                       "(chat: nobody could take the chat; agent: from a chat; api)",
                                       ["skill_group", "source"], registry=r)
        self.ticket_changes = Counter("handoff_ticket_changes_total", "Ticket changes (claimed, reply, customer, "
                                      "sent, a state)", ["change"], registry=r)
        self.ticket_team_seconds = Histogram("handoff_ticket_team_seconds", "Time a ticket spent with a team before "
                                             "it was sent on (per flow step)", ["skill_group"], registry=r,
                                             buckets=(60, 300, 900, 1800, 3600, 7200, 14400, 28800, 86400, 259200))
        self.tickets_by_state = Gauge("handoff_tickets_by_state", "Tickets by state", ["state"], registry=r)
        self.ticket_queue = Gauge("handoff_ticket_queue", "Tickets waiting for an agent, by group", ["skill_group"],
                                  registry=r)
        # Durable timers (handoff/clocks/): counters and lateness of this process's firings; pending read at scrape.
        self.timers_fired = Counter("handoff_timers_fired_total", "Timers fired (their completion written) by this "
                                    "process, by kind", ["kind"], registry=r)
        self.timer_lateness = Histogram("handoff_timer_lateness_seconds", "Seconds from a timer's due time to its "
                                        "completion", ["kind"], registry=r,
                                        buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300))
        self.timers_failed = Counter("handoff_timers_failed_total", "Timers that failed MAX_ATTEMPTS times (or were "
                                     "claimed that often without completing) and completed with timer_failed",
                                     ["kind"], registry=r)
        self.timers_pending = Gauge("handoff_timers_pending", "Timers in the store: scheduled (of which due: "
                                    "overdue, not yet claimed) and leased (being fired)", ["state"], registry=r)

        # SLA clocks (handoff/clocks/sla.py): warnings and breaches this process recorded.
        self.sla_warnings = Counter("handoff_sla_warnings_total", "SLA warnings (a target's warning share reached)",
                                    ["skill_group", "target", "kind"], registry=r)
        self.sla_breaches = Counter("handoff_sla_breaches_total", "SLA breaches (a target missed)",
                                    ["skill_group", "target", "kind"], registry=r)

    def timer_fired(self, timer: Any, lateness: float) -> None:
        """The runner's ``on_fired``."""
        self.timers_fired.labels(timer.kind).inc()
        self.timer_lateness.labels(timer.kind).observe(lateness)

    def timer_failed(self, timer: Any) -> None:
        """The runner's ``on_failed``."""
        self.timers_failed.labels(timer.kind).inc()

    async def read_timers(self, runner: Any) -> None:
        """Set the pending gauge from the store (at scrape: every process reports the same, shared timers)."""
        for state, n in (await runner.store.timer_counts(await runner.now())).items():
            self.timers_pending.labels(state).set(n)
