"""Six measured fixes to Rasa 3.6's hot path, applied when the Rasa server loads our channels.

1. Rasa checks every action server response against a JSON Schema with ``jsonschema.validate``,
which first re-validates the *schema itself* against the meta-schema (``check_schema``) on every
call. With action_score_conversation running on every customer message, that re-check was 35 %
of the Rasa process's busy time in a py-spy profile (about 10 ms per message on 2 cores).
``fast_validate_action_result`` checks the same response against the same schema with a
validator built once (the schema is checked once, here), and raises the same ``ValidationError``
with the same message.

2. Every event read from the tracker store is resolved to its class by ``Event.resolve_by_type``,
which walks all Event subclasses (recursively, with ``inspect.isabstract``) for every single event;
a tracker is read and merged on every message, so that walk was 9 % of the busy time.
``fast_resolve_by_type`` looks the name up in a table built from the same walk, rebuilt on a
miss (so event classes imported later are still found), and returns the same class.

3. Every call to the action server opened a new aiohttp ClientSession (a new TCP connection) and
closed it again. ``kept_session`` keeps one session per endpoint and event loop, configured exactly
as Rasa configures it (headers, basic auth, timeout), and serialising request bodies with ujson
(already installed for Sanic) instead of json: the tracker sent with every action call is 100 kB
after 24 messages.

4. TEDPolicy's prediction is computed only when it could be the one picked (bot/policies/deferred_ted.py):
27 % of the busy time at 50 concurrent conversations, thrown away whenever a rule or memorised story
predicts with confidence 1.0 at a higher priority.

5. ResponseSelector picks an FAQ answer only for messages whose intent is its retrieval intent (faq):
13 % of the busy time once TED was deferred, and for any other intent nothing reads its pick (rules and
stories follow ``faq`` with ``utter_faq``; actions/context.py and actions/signals.py read it only for
``faq``), while the pick, with every language's variations of the answer, was stored in each message's
parse data and re-serialised with the tracker on every later message.

6. NumPy's and SciPy's OpenBLAS and scikit-learn's OpenMP start a worker thread per core that spins
between the small matrix products of a parse (one message at a time): on the 2-core machine that thread
used 14-21 % of the Rasa process's CPU time (per-thread times in /proc, 2026-12-06). ``threadpool_limits(1)``
(threadpoolctl, pinned in constraints.txt) keeps them on the calling thread: the same parses (every
test-story message compared bit for bit); a Rasa server is one core's worth of work anyway (RASA_SERVERS).

All six are speed-ups: same inputs, same results, same errors (tests/unit/test_rasa_speedups.py,
tests/unit/test_deferred_ted.py), except that a message of another intent than faq no longer carries an
FAQ pick nobody reads (tests/unit/test_faq_pick_only_for_faq.py).
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Text, Tuple, Type

import asyncio

import aiohttp
import ujson
from jsonschema import ValidationError
from jsonschema.exceptions import best_match
from jsonschema.validators import validator_for
from rasa.core.actions.action import DOCS_BASE_URL, RemoteAction
from rasa.shared.core.events import Event
from rasa.shared.utils.common import all_subclasses
from rasa.utils.endpoints import DEFAULT_REQUEST_TIMEOUT, EndpointConfig

from rasa.nlu.constants import RESPONSE_SELECTOR_PROPERTY_NAME, RESPONSE_SELECTOR_RETRIEVAL_INTENTS
from rasa.nlu.selectors.response_selector import ResponseSelector
from rasa.shared.nlu.constants import INTENT, INTENT_NAME_KEY
from rasa.shared.nlu.training_data.message import Message

from threadpoolctl import threadpool_limits

from bot.policies import deferred_ted

ORIGINAL = RemoteAction.__dict__["_validate_action_result"]  # Rasa's own, kept for the equivalence test
_SCHEMA = RemoteAction.action_response_format_spec()
_VALIDATOR_CLASS = validator_for(_SCHEMA)
_VALIDATOR_CLASS.check_schema(_SCHEMA)
_VALIDATOR = _VALIDATOR_CLASS(_SCHEMA)


def fast_validate_action_result(self: RemoteAction, result: Dict[Text, Any]) -> bool:
    """RemoteAction._validate_action_result without re-checking the constant schema each time."""
    error = best_match(_VALIDATOR.iter_errors(result))
    if error is None:
        return True
    error.message += (
        f". Failed to validate Action server response from API, "
        f"make sure your response from the Action endpoint is valid. "
        f"For more information about the format visit "
        f"{DOCS_BASE_URL}/custom-actions"
    )
    raise error


ORIGINAL_RESOLVE = Event.__dict__["resolve_by_type"]
_EVENT_TYPES: Dict[str, Type[Event]] = {}


def _event_table() -> Dict[str, Type[Event]]:
    table: Dict[str, Type[Event]] = {}
    for cls in all_subclasses(Event):  # the order Rasa searches in: the first class with a name wins
        table.setdefault(cls.type_name, cls)
    return table


def fast_resolve_by_type(type_name: Text, default: Optional[Type[Event]] = None) -> Optional[Type[Event]]:
    """Event.resolve_by_type with a lookup table instead of a walk over all subclasses per call."""
    cls = _EVENT_TYPES.get(type_name)
    if cls is None:
        _EVENT_TYPES.clear()
        _EVENT_TYPES.update(_event_table())
        cls = _EVENT_TYPES.get(type_name)
    if cls is not None:
        return cls
    if type_name == "topic":
        return None  # as Rasa: backwards compatibility for old TopicSet events
    if default is not None:
        return default
    raise ValueError(f"Unknown event name '{type_name}'.")


ORIGINAL_SESSION = EndpointConfig.__dict__["session"]
_SESSIONS: Dict[int, Tuple[asyncio.AbstractEventLoop, aiohttp.ClientSession]] = {}


def new_session(endpoint: EndpointConfig) -> aiohttp.ClientSession:
    """A session configured as Rasa's ``EndpointConfig.session`` does, serialising JSON with ujson."""
    auth = None
    if endpoint.basic_auth:
        auth = aiohttp.BasicAuth(endpoint.basic_auth["username"], endpoint.basic_auth["password"])
    return aiohttp.ClientSession(headers=endpoint.headers, auth=auth,
                                 timeout=aiohttp.ClientTimeout(total=DEFAULT_REQUEST_TIMEOUT),
                                 json_serialize=ujson.dumps)


class _KeptSession:
    """``async with endpoint.session() as s`` that yields a kept-alive session instead of a new one."""

    def __init__(self, endpoint: EndpointConfig) -> None:
        self.endpoint = endpoint

    async def __aenter__(self) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        kept = _SESSIONS.get(id(self.endpoint))
        if kept is None or kept[0] is not loop or kept[1].closed:
            kept = _SESSIONS[id(self.endpoint)] = (loop, new_session(self.endpoint))
        return kept[1]

    async def __aexit__(self, *exc: Any) -> None:
        return None


def kept_session(self: EndpointConfig) -> _KeptSession:
    """EndpointConfig.session that reuses one session (and its connections) per endpoint and event loop."""
    return _KeptSession(self)


ORIGINAL_SELECT = ResponseSelector.__dict__["process"]


def _other_intent(selector: ResponseSelector, message: Message) -> bool:
    """The message has an intent, and it is not the selector's retrieval intent (nor one of its keys)."""
    retrieval = selector.retrieval_intent
    name = (message.get(INTENT) or {}).get(INTENT_NAME_KEY)
    return bool(retrieval and name) and name != retrieval and not name.startswith(f"{retrieval}/")


def select_for_retrieval_intent_only(self: ResponseSelector, messages: List[Message]) -> List[Message]:
    """ResponseSelector.process for the messages of its retrieval intent; the others only get the list of
    retrieval intents (read by Rasa's MessageProcessor), as from a selector that picked nothing."""
    ORIGINAL_SELECT(self, [m for m in messages if not _other_intent(self, m)])
    for message in messages:
        if _other_intent(self, message):
            properties = message.get(RESPONSE_SELECTOR_PROPERTY_NAME, {})
            properties[RESPONSE_SELECTOR_RETRIEVAL_INTENTS] = self.all_retrieval_intents
            message.set(RESPONSE_SELECTOR_PROPERTY_NAME, properties, add_to_output=True)
    return messages


def apply() -> None:
    """Install the fixes (idempotent)."""
    RemoteAction._validate_action_result = fast_validate_action_result  # type: ignore[assignment]
    Event.resolve_by_type = staticmethod(fast_resolve_by_type)  # type: ignore[assignment]
    EndpointConfig.session = kept_session  # type: ignore[assignment]
    deferred_ted.apply()
    ResponseSelector.process = select_for_retrieval_intent_only  # type: ignore[assignment]
    threadpool_limits(limits=1)  # BLAS and OpenMP pools of this process, from now on


__all__ = ["apply", "fast_validate_action_result", "fast_resolve_by_type", "ValidationError"]
