"""action_request_handoff: the request for a person, built from the tracker and checked against its schema.

The request (schemas/handoff_request.schema.json) carries the transcript, a case brief, the scores
with their reasons, the customer's tags, the chosen skill group and priority. It is recorded on the
tracker in the `handoff_request` slot and sent to the handoff service (actions/delivery.py: retries,
then an outbox in Redis); the customer is told where it stands and the bot goes quiet. When it became a ticket
or could not be delivered the bot keeps the chat, the slot and the decision are cleared again (the request stays
in the tracker's history) and the scores start afresh (a ``resume`` event, as when a person hands back), so the automatic
handoff works for the customer's next problem without firing again on every message.
"""
from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any, Dict, Iterable, List, Mapping, Optional, Text, Tuple

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActiveLoop, ConversationPaused, ConversationResumed, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from common.config import validate
from common.language_rules import DEFAULT_LANGUAGE, short
from common.customer_tickets import TICKET_REPLY_BY_RESPONSE, reply_by_text, ticket_response, ticket_values
from common.pii import find_entities, mask_cards, mask_cards_in
from common.policy import Decision, Signals
from common.tables import Tables

from actions.case_brief import summary_line
from actions.context import customer_events
from actions.survey import survey_left_for_a_person
from actions.delivery import Delivery, deliver
from actions.scoring import score, sentiment_summary, tables
from actions.signals import current_session, customer_tags

# Slots that are the assistant's own bookkeeping, not facts about the case.
INTERNAL_SLOTS = frozenset({"sentiment", "complexity", "handoff_decision", "customer_tags", "handoff_request",
                            "handoff_escalation", "survey_escalation", "survey_resolved", "survey_rating",
                            "requested_slot", "session_started_metadata"})
MAX_TRANSCRIPT = 2000
SPEAKERS = {"user": "customer", "bot": "bot"}


def iso(timestamp: Optional[float]) -> str:
    moment = datetime.fromtimestamp(timestamp, timezone.utc) if timestamp else datetime.now(timezone.utc)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def transcript(events: Iterable[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """Customer and bot messages (and agent messages, marked so by the channel) with timestamps, cards masked."""
    lines: List[Dict[str, Any]] = []
    for event in events:
        kind = event.get("event")
        if kind not in SPEAKERS or not (event.get("text") or "").strip():
            continue
        metadata = event.get("metadata") or {}
        line: Dict[str, Any] = {"speaker": SPEAKERS[kind], "text": mask_cards(event["text"]),
                                "timestamp": iso(event.get("timestamp"))}
        if kind == "user":
            parse = event.get("parse_data") or {}
            line["intent"] = (parse.get("intent") or {}).get("name")
            line["confidence"] = (parse.get("intent") or {}).get("confidence")
            line["sentiment"] = (parse.get("sentiment") or {}).get("score")
        else:
            line["action"] = metadata.get("utter_action")
            if metadata.get("agent"):
                line["speaker"], line["agent"] = "agent", str(metadata["agent"])
        lines.append(line)
    return lines[-MAX_TRANSCRIPT:]


# A card number the channel already masked ("4111 11** **** 1111"): 13-19 digits or '*', with a '*'.
MASKED_CARD = re.compile(r"(?<![\d*])(?:[\d*][ -]?){12,18}[\d*](?![\d*])")


def case_entities(events: Iterable[Dict[str, Any]]) -> List[Dict[str, str]]:
    """Order numbers, e-mail addresses, phone numbers, (masked) cards and error codes the customer wrote."""
    seen: Dict[tuple, None] = {}
    for event in events:
        if event.get("event") == "user":
            text = event.get("text") or ""
            for entity in find_entities(text):
                value = mask_cards(entity.text) if entity.label == "CARD" else entity.text
                seen.setdefault((entity.label, value.lstrip("#") if entity.label == "ORDER_NUMBER" else value))
            for match in MASKED_CARD.finditer(text):
                if "*" in match.group():
                    seen.setdefault(("CARD", match.group()))
    return [{"type": label, "value": value} for label, value in seen]


def summary(signals: Signals, decision: Decision, route_group: str, group_name: str,
            entities: List[Dict[str, str]], language: Optional[str] = None) -> str:
    """One line an agent reads first: who, about what, why a person is needed; in the customer's language,
    worded by policy/case_brief.yml (actions/case_brief.py)."""
    return summary_line(signals, decision, route_group, group_name, entities, language)


def build_request(sender_id: str, events: List[Dict[str, Any]], slots: Mapping[str, Any], t: Tables,
                  now: Optional[float] = None, language: str = "en") -> Dict[str, Any]:
    """The handoff request document for this conversation (pure; validated against the schema). ``language``:
    the customer's (it routes the chat to an agent who reads it, and words the brief's summary)."""
    signals, complexity, decision = score(events, t)
    session = current_session(events)
    tags = customer_tags(session)
    route = t.skill_groups.route(tags, list(signals.categories), signals.topics, signals.unsure_topics)
    sentiment = sentiment_summary(signals, events, t.policy.trend_weight)
    trigger_names = [x.name for x in decision.triggers]
    priority = t.skill_groups.priority(tags, sentiment["latest"], complexity.level, trigger_names)
    entities = case_entities(events)
    latest_user = next((e for e in reversed(events) if e.get("event") == "user"), {})
    triggers = [{"name": x.name, "reason": x.reason} for x in decision.triggers] or \
        [{"name": "explicit_request", "reason": "The customer asked for a person."}]
    request = {
        "schema_version": 1,
        "conversation_id": sender_id,
        "channel": latest_user.get("input_channel") or "unknown",
        "language": language,
        "created_at": iso(now),
        "customer": {"id": str(tags["id"]) if tags.get("id") is not None else None,
                     "tags": {k: tags[k] for k in ("vip_tier", "lifetime_orders", "open_tickets") if k in tags}},
        "transcript": transcript(events),
        "case_brief": {
            "summary": summary(signals, decision, route.group, t.skill_groups.name(route.group, language), entities,
                               language),
            "slots": mask_cards_in({k: v for k, v in slots.items() if k not in INTERNAL_SLOTS and v is not None}),
            "entities": entities,
            "topics": signals.topics,
            "unsure_topics": signals.unsure_topics,
            "categories": dict(signals.categories),
        },
        "scores": {"sentiment": sentiment, "complexity": complexity.as_dict()},
        "decision": {"triggers": triggers},
        "routing": {"skill_group": route.group, "reason": route.reason, "priority": priority.value,
                    "priority_reasons": list(priority.reasons)},
    }
    validate(request, "handoff_request", "handoff request")
    return request


def request_language(slot: Any) -> str:
    """The request's language: the `language` slot (en, zh; the NLU sets it from the customer's messages or the
    channel), English when unset."""
    return short(slot if isinstance(slot, str) else None, DEFAULT_LANGUAGE)


class ActionRequestHandoff(Action):
    """Builds and records the handoff request (slot handoff_request) and tells the customer."""

    def name(self) -> Text:
        return "action_request_handoff"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: DomainDict) -> List[Dict[Text, Any]]:
        t = tables()
        left = await survey_left_for_a_person(tracker)  # "I need more help" in the survey (actions/survey.py)
        language = request_language(tracker.get_slot("language"))
        request = build_request(tracker.sender_id, customer_events(tracker.applied_events()), tracker.slots, t,
                                language=language)
        group = request["routing"]["skill_group"]
        dispatcher.utter_message(response="utter_handoff_requested", group_name=t.skill_groups.name(group, language))
        events: List[Dict[str, Any]] = [*left, SlotSet("handoff_request", request)]
        if tracker.active_loop.get("name"):
            events += [ActiveLoop(None), SlotSet("requested_slot", None)]
        delivery = await deliver(request)
        response, values, pause = status_message(delivery)
        dispatcher.utter_message(response=response, **values)
        if delivery.answer:
            events.append(SlotSet("handoff_escalation", {k: delivery.answer.get(k) for k in ("id", "status",
                                                                                             "skill_group")}))
        if pause:
            events.append(ConversationPaused())  # the bot stays quiet while a person has (or gets) the chat
        else:  # a ticket, or not delivered: nothing is pending, so a later problem hands off again; the scores
            # count afresh from here (as after a person hands back), or every next message would ask again
            events += [SlotSet("handoff_request", None), SlotSet("handoff_decision", None), ConversationResumed()]
        return events


def status_message(delivery: Delivery) -> Tuple[str, Dict[str, Any], bool]:
    """The response telling the customer where their request stands, its values, and whether the bot
    goes quiet (it does while a person is coming; a ticket or a failure leaves the customer with the bot)."""
    answer = delivery.answer or {}
    if delivery.status == "queued":
        return "utter_handoff_delayed", {}, True
    if delivery.status != "sent":
        return "utter_handoff_failed", {}, False
    if answer.get("status") == "ticket":  # the number and the answer time (an older service: the time in UTC)
        values = ticket_values(answer.get("ticket")) or {"reply_by": reply_by_text(None)}
        return ticket_response(values) or TICKET_REPLY_BY_RESPONSE, values, False
    if answer.get("status") == "waiting" and answer.get("queue_position"):
        wait = answer.get("estimated_wait_seconds")
        surge = "_surge" if answer.get("surge") else ""  # the group surges: more colleagues are joining
        return f"utter_handoff_queued{surge}", {"position": answer["queue_position"],
                                        "wait_minutes": max(1, round((wait or 0) / 60))}, True
    return "utter_handoff_connecting", {}, True
