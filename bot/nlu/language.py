"""Rasa component: the ``language`` entity of each customer message ("zh" or "en").

The entity fills the ``language`` slot (domain.yml: categorical en/zh, mapped from this entity),
which picks the Chinese or English variation of every response. The text decides when it can
(common/language.py: Han characters -> zh, Latin words -> en); a short or undecidable message
("好的", "ok", "👍", an order number) takes the language in the message's metadata, which the
widget and IM channels send (``{"language": "zh"}``); with neither, no entity is added and the
conversation keeps the language it had (unset = English).

Rasa 3.6 hands the ``UserMessage`` metadata to the NLU graph as the Message's ``metadata`` key
(rasa/graph_components/converters/nlu_message_converter.py). Nothing is learnt, so the component
runs only at prediction time; training examples get no ``language`` entity.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Text

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import ENTITIES, METADATA, TEXT
from rasa.shared.nlu.training_data.message import Message

from common.language import choose

ENTITY = "language"  # the entity and the slot (domain.yml)
EXTRACTOR = "LanguageDetector"


def language_entity(language: str) -> Dict[Text, Any]:
    """The entity as the contract spells it (no span: it is about the whole message)."""
    return {"entity": ENTITY, "value": language, "extractor": EXTRACTOR, "start": 0, "end": 0}


def message_language(message: Message) -> Optional[str]:
    """The message's language: the text's when decisive, else the metadata's, else None."""
    metadata = message.get(METADATA)
    metadata_language = metadata.get(ENTITY) if isinstance(metadata, dict) else None
    return choose(message.get(TEXT) or "", metadata_language)


@DefaultV1Recipe.register(
    DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR, is_trainable=False
)
class LanguageDetector(GraphComponent):
    """Adds ``{"entity": "language", "value": "zh"|"en", ...}`` when the language is known."""

    @classmethod
    def create(
        cls,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> "LanguageDetector":
        """Creates the component (no config, no state)."""
        return cls()

    def process(self, messages: List[Message]) -> List[Message]:
        """Appends the language entity to each message whose language is known."""
        for message in messages:
            language = message_language(message)
            if language is None:
                continue
            entities = [e for e in message.get(ENTITIES, []) if e.get("entity") != ENTITY]
            message.set(ENTITIES, entities + [language_entity(language)], add_to_output=True)
        return messages
