"""Handoff requests as action_request_handoff builds them (schemas/handoff_request.schema.json), and tickets
as the bot opens them for other channels (POST /v1/tickets)."""
from __future__ import annotations

from typing import Any, Dict, List, Optional


def handoff_request(conversation_id: str, skill_group: str = "general", tier: str = "none",
                    categories: Optional[Dict[str, str]] = None, topics: Optional[List[str]] = None,
                    triggers: Optional[List[str]] = None, sentiment: float = -0.2,
                    text: str = "I want to talk to a person") -> Dict[str, Any]:
    return {
        "schema_version": 1,
        "conversation_id": conversation_id,
        "channel": "rest",
        "language": "en",
        "created_at": "2026-11-24T10:00:00Z",
        "customer": {"id": f"cust-{conversation_id}", "tags": {"vip_tier": tier, "lifetime_orders": 3,
                                                              "open_tickets": 0}},
        "transcript": [
            {"speaker": "customer", "text": "where is my order 123456?", "timestamp": "2026-11-24T09:59:00Z",
             "intent": "order_status", "confidence": 0.93, "sentiment": -0.1},
            {"speaker": "bot", "text": "Your order is on its way.", "timestamp": "2026-11-24T09:59:01Z",
             "action": "utter_order_status"},
            {"speaker": "customer", "text": text, "timestamp": "2026-11-24T09:59:30Z",
             "intent": "human_handoff", "confidence": 0.97, "sentiment": sentiment},
        ],
        "case_brief": {"summary": "Customer asks where order 123456 is and wants a person.",
                       "slots": {"order_number": "123456"},
                       "entities": [{"type": "ORDER_NUMBER", "value": "123456"}],
                       "topics": topics if topics is not None else ["order_status"],
                       "categories": categories or {}},
        "scores": {"sentiment": {"latest": sentiment, "label": "neutral", "trend": sentiment,
                                 "per_turn": [-0.1, sentiment], "complaint": 0.1, "model": "test"},
                   "complexity": {"score": 0.2, "level": "low", "factors": []}},
        "decision": {"triggers": [{"name": t, "reason": f"{t} fired"} for t in (triggers or ["explicit_request"])]},
        "routing": {"skill_group": skill_group, "reason": "test", "priority": 10, "priority_reasons": ["base 10"]},
    }


def ticket_request(key: str, **changes: Any) -> Dict[str, Any]:
    """A ticket from another channel (the bot): the customer's ids, e-mail and order number all unique to ``key``."""
    return {"subject": "Kettle K-200 shows E42", "summary": "Stopped heating after two weeks.",
            "requester": {"customer_id": f"cust-{key}", "name": "Kim", "email": f"Kim.{key}@Example.com",
                          "channel": "api", "conversation_id": f"conv-{key}"},
            "skill_group": "after_sales", "priority": 20, "tags": ["kettle"],
            "fields": {"order_id": f"ord-{key}", "product_model": "K-200", "error_codes": ["E42"]}, **changes}
