"""action_ticket_status: "what's happening with my ticket?" answered from the handoff service.

The action asks ``GET /v1/tickets/lookup`` (the bot's token, HANDOFF_URL and HANDOFF_BOT_TOKEN as in
actions/delivery.py) for the tickets of this conversation and, when the conversation is signed in
(actions/ownership.py: only the channel's verified token names a customer), of that customer; with the
number the customer gave (entity ``ticket_number``, or one found in their message) only that one. The
service answers only the requester's own tickets, so a guessed number tells nothing about another
customer's. It says each ticket's state in the customer's words (common/customer_tickets.py picks the
response), that none was found, or, when the service cannot be reached, that it cannot look now; it never
raises. When the one ticket it tells of waits for the customer's answer (``pending``), their next message goes
to it (the mark ``{shop}:tickets:awaiting:<conversation>`` the Rasa server's bridge reads, bot/bridge/tickets.py).
"""
from __future__ import annotations

import asyncio
import json
import logging
import os
from typing import Any, Dict, List, Mapping, Optional, Text

import aiohttp
from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from common.customer_tickets import label, newest_first, status_response, ticket_number_in
from common.redis_config import async_redis_client, outbox_redis_url

from actions.ownership import customer_of
from actions.scoring import tables

logger = logging.getLogger(__name__)
TIMEOUT_SECONDS = 3.0
AWAITING = "{shop}:tickets:awaiting:"  # + conversation, shared with bot/bridge/tickets.py
AWAITING_TTL_SECONDS = 3 * 86400


class LookupFailed(Exception):
    """The service could not be asked, or did not answer with tickets."""


def lookup_query(conversation_id: str, customer_id: Optional[str], number: Optional[int]) -> Dict[str, str]:
    """The query of ``GET /v1/tickets/lookup``: the conversation always, the verified customer and the number
    when known."""
    query = {"conversation_id": conversation_id}
    if customer_id:
        query["customer_id"] = customer_id
    if number is not None:
        query["number"] = str(number)
    return query


def asked_number(entities: List[Any], text: Any) -> Optional[int]:
    """The ticket number the customer asked about: the ``ticket_number`` entity, else one in their message."""
    for value in entities:
        number = ticket_number_in(str(value))
        if number is None and str(value).isdigit():
            number = int(str(value))
        if number is not None:
            return number
    return ticket_number_in(text)


async def lookup(base_url: str, token: str, query: Mapping[str, str]) -> List[Dict[str, Any]]:
    """The tickets the service found (maybe none); LookupFailed when it cannot be reached or answers an error."""
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=TIMEOUT_SECONDS)) as session:
            async with session.get(f"{base_url.rstrip('/')}/v1/tickets/lookup", params=dict(query),
                                   headers={"Authorization": f"Bearer {token}"}) as r:
                if r.status == 404:
                    return []
                if r.status != 200:
                    raise LookupFailed(f"the handoff service answered {r.status}: {(await r.text())[:200]}")
                body = await r.json()
    except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as e:
        raise LookupFailed(f"the handoff service could not be asked: {e!r}") from e
    tickets = body.get("tickets") if isinstance(body, dict) else None
    if not isinstance(tickets, list):
        raise LookupFailed("the handoff service's answer has no list of tickets")
    return tickets


class ActionTicketStatus(Action):
    def name(self) -> Text:
        return "action_ticket_status"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: DomainDict) -> List[Dict[Text, Any]]:
        number = asked_number(list(tracker.get_latest_entity_values("ticket_number")),
                              (tracker.latest_message or {}).get("text"))
        base, token = os.environ.get("HANDOFF_URL"), os.environ.get("HANDOFF_BOT_TOKEN")
        if not (base and token):
            logger.warning("no HANDOFF_URL or HANDOFF_BOT_TOKEN: tickets cannot be looked up")
            dispatcher.utter_message(response="utter_ticket_status_unavailable")
            return []
        customer = customer_of(tracker.applied_events()).customer_id
        try:
            found = await lookup(base, token, lookup_query(tracker.sender_id, customer, number))
        except LookupFailed as e:
            logger.warning("ticket lookup for %s: %s", tracker.sender_id, e)
            dispatcher.utter_message(response="utter_ticket_status_unavailable")
            return []
        if not found:
            if number is not None:
                dispatcher.utter_message(response="utter_ticket_status_not_found", ticket_label=label(number))
            else:
                dispatcher.utter_message(response="utter_ticket_status_none")
            return []
        names = {group: spec.get("name", group) for group, spec in tables().skill_groups.groups.items()}
        told = newest_first(found)
        for ticket in told:
            response, values = status_response(ticket, names)
            dispatcher.utter_message(response=response, **values)
        waiting = awaiting_answer(told)
        if waiting:
            await mark_awaiting(tracker.sender_id, waiting)
        return []


def awaiting_answer(told: List[Mapping[str, Any]]) -> Optional[Dict[str, Any]]:
    """The ticket the customer's next message answers: the one ticket told of, when it waits for them."""
    if len(told) == 1 and told[0].get("state") == "pending" and told[0].get("id"):
        return {"id": told[0]["id"], "label": told[0].get("label")}
    return None


async def mark_awaiting(conversation_id: str, ticket: Dict[str, Any]) -> None:
    """Send the conversation's next message to the ticket (best effort: without Redis it goes to the bot)."""
    redis_url = outbox_redis_url(os.environ)
    if not redis_url:
        return
    client = async_redis_client(redis_url)
    try:
        await client.set(AWAITING + conversation_id, json.dumps(ticket), ex=AWAITING_TTL_SECONDS)
    except Exception as e:  # noqa: BLE001 - the answer still reaches the team through the chat or e-mail
        logger.warning("could not mark %s as answering ticket %s: %r", conversation_id, ticket.get("label"), e)
    finally:
        await client.close()
