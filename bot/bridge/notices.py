"""Which messages to a customer are notices (the handoff's state: waiting, an agent joined, back with the
assistant...) rather than the bot talking, and the fields that mark them for the web chat and REST replies."""
from __future__ import annotations

from typing import Any, Dict, Optional

from rasa.core.channels.channel import CollectingOutputChannel

# The responses that are notices rather than the bot talking, each with the handoff state it reports (the web
# chat shows them apart, keeps a "waiting for an agent" line and knows when a person has the chat).
NOTICES: Dict[str, Optional[str]] = {
    "utter_handoff_queued": "waiting", "utter_handoff_position_update": "waiting",
    "utter_handoff_queued_surge": "waiting", "utter_handoff_position_update_surge": "waiting",  # docs/surge.md
    "utter_handoff_connecting": "connecting", "utter_handoff_agent_joined": "joined",
    "utter_handoff_delayed": "delayed", "utter_handoff_failed": "failed", "utter_handoff_ticket": "ticket",
    "utter_handoff_ticket_undated": "ticket", "utter_handoff_ticket_reply_by": "ticket",
    "utter_leave_message_done": "ticket", "utter_leave_message_failed": "waiting", "utter_ticket_created": "ticket",
    "utter_ticket_reply_unseen": None, "utter_ticket_message_added": None, "utter_ticket_solved": None,
    "utter_handoff_released": "released", "utter_handoff_closed": "closed",
    "utter_handoff_transferred": "transferred", "utter_handoff_agent_lost": "transferred",
    "utter_ask_survey_resolved": None, "utter_ask_survey_rating": None, "utter_survey_rating_invalid": None,
    "utter_survey_thanks": None, "utter_survey_follow_up": "ticket", "utter_survey_follow_up_team": "ticket",
    "utter_survey_reopened": "ticket",
}
# What a message pushed to a customer may carry besides its text and buttons.
PUBLIC_FIELDS = ("message_id", "agent", "agent_name", "notice", "handoff", "queue_position", "ticket", "surge")


def notice_fields(message: Dict[str, Any]) -> Dict[str, Any]:
    """The fields that mark a message as a notice: {} for the bot's own words, else {"notice": True,
    "handoff": state?, "queue_position": n?, "agent_name": name?, "ticket": label?, "surge": true?}. `message` is what Rasa hands an output
    channel (``utter_action`` names the response; the values it was filled with are beside it)."""
    response = message.get("utter_action")
    if response not in NOTICES:
        return {}
    fields: Dict[str, Any] = {"notice": True}
    if NOTICES[response]:
        fields["handoff"] = NOTICES[response]
    position = message.get("position")
    if NOTICES[response] == "waiting" and str(position).isdigit() and int(position) > 0:
        fields["queue_position"] = int(position)
    if response.endswith("_surge"):  # the group is busy and more colleagues are joining (docs/surge.md)
        fields["surge"] = True
    if response == "utter_handoff_agent_joined" and message.get("agent_name"):
        fields["agent_name"] = str(message["agent_name"])
    if message.get("ticket_label"):  # the ticket it is about: "T-10042"
        fields["ticket"] = str(message["ticket_label"])
    return fields


class NoticeCollector(CollectingOutputChannel):
    """Rasa's collecting output channel, with the notice fields on each message (REST replies, triggers)."""

    async def send_response(self, recipient_id: str, message: Dict[str, Any]) -> None:
        fields = notice_fields(message)
        before = len(self.messages)
        await super().send_response(recipient_id, message)
        for collected in self.messages[before:]:
            collected.update(fields)
