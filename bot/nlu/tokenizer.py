"""Rasa component: one tokenizer for Chinese and English in the same message.

Runs of Han characters are segmented with jieba (its shipped dictionary, loaded once per
process, quietly); everything else is split exactly as Rasa's ``WhitespaceTokenizer`` splits it
(same punctuation, emoji and offset rules), so the English pipeline sees the tokens it always saw.
Rasa's own ``JiebaTokenizer`` only accepts ``language: zh`` and ``WhitespaceTokenizer`` refuses
``zh``: one model for both languages needs this one.

Token offsets are offsets in the original text: ``"我的订单10234568还没到 where is it"`` gives
我的(0) 订单(2) 10234568(4) 还(12) 没到(13) where(16) is(22) it(25) (jieba decides the
Chinese word boundaries; its HMM joins unknown words).
"""

from __future__ import annotations

import logging
import re
import threading
import warnings
from typing import Any, Dict, List, Optional, Text, Tuple

import regex

import rasa.utils.io
from rasa.engine.graph import ExecutionContext
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.tokenizers.tokenizer import Token, Tokenizer
from rasa.shared.nlu.training_data.message import Message

logger = logging.getLogger(__name__)

# Same ranges as common/language.py: CJK ideographs, extension A, compatibility, supplementary planes.
HAN_RUN = re.compile("[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002fa1f]+")

# Chinese (full-width) punctuation separates words like a space: "单号：10234568" has no ":10234568".
CJK_PUNCTUATION = re.compile("[\u3000-\u303f\uff00-\uff0f\uff1a-\uff20\uff3b-\uff40\uff5b-\uff65]")

# WhitespaceTokenizer.tokenize's pattern (Rasa 3.6), unchanged: what is removed between words.
_NOT_WORD = regex.compile(
    r"[^\w#@&]+(?=\s|$)|"
    r"(\s|^)[^\w#@&]+(?=[^0-9\s])|"
    r"(?<=[^0-9\s])[^\w._~:/?#\[\]()@!$&*+,;=-]+(?=[^0-9\s])"
)

_jieba_lock = threading.Lock()
_jieba_tokenizer: Any = None


def jieba_tokenizer() -> Any:
    """jieba's default tokenizer, its dictionary loaded once per process, its log silenced.

    jieba logs "Building prefix dict..." to stderr through its own handler on first use, and its
    import warns that pkg_resources is deprecated; both are silenced, so nothing is printed.
    """
    global _jieba_tokenizer
    with _jieba_lock:
        if _jieba_tokenizer is None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                import jieba

            jieba.setLogLevel(logging.WARNING)
            jieba.dt.initialize()
            _jieba_tokenizer = jieba.dt
    return _jieba_tokenizer


def han_words(run: str) -> List[Tuple[str, int]]:
    """jieba's words of a run of Han characters, with their offsets in the run."""
    return [(word, start) for word, start, _ in jieba_tokenizer().tokenize(run)]


@DefaultV1Recipe.register(
    DefaultV1Recipe.ComponentType.MESSAGE_TOKENIZER, is_trainable=False
)
class BilingualTokenizer(Tokenizer):
    """Chinese words by jieba, other text split like ``WhitespaceTokenizer``.

    Config: the tokenizers' usual ``intent_tokenization_flag``, ``intent_split_symbol``,
    ``token_pattern`` and ``prefix_separator_symbol``.
    """

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        """The component's default config (WhitespaceTokenizer's)."""
        return {
            "intent_tokenization_flag": False,
            "intent_split_symbol": "_",
            "token_pattern": None,
            "prefix_separator_symbol": None,
        }

    @staticmethod
    def not_supported_languages() -> Optional[List[Text]]:
        """Every ``language:`` of the config is accepted: the text decides, not the config."""
        return None

    @staticmethod
    def required_packages() -> List[Text]:
        """Python packages this component needs."""
        return ["jieba"]

    def __init__(self, config: Dict[Text, Any]) -> None:
        """Creates the tokenizer; jieba's dictionary is loaded on the first Chinese text."""
        super().__init__({**self.get_default_config(), **config})
        self.emoji_pattern = rasa.utils.io.get_emoji_regex()

    @classmethod
    def create(
        cls,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> "BilingualTokenizer":
        """Creates a new component (see parent class for full docstring)."""
        return cls(config)

    def _other_tokens(self, masked: str) -> List[Token]:
        """WhitespaceTokenizer's tokens of ``masked`` (Han runs and CJK punctuation blanked: same offsets)."""
        words = _NOT_WORD.sub(" ", masked).split()
        words = [w for w in words if not self.emoji_pattern.fullmatch(w)]
        return self._convert_words_to_tokens(words, masked)

    def tokenize(self, message: Message, attribute: Text) -> List[Token]:
        """Tokens of the attribute's text, in text order, with offsets in the original text."""
        text = message.get(attribute)
        runs = list(HAN_RUN.finditer(text))
        masked = CJK_PUNCTUATION.sub(" ", HAN_RUN.sub(lambda m: " " * len(m.group()), text))
        tokens = self._other_tokens(masked)
        for run in runs:
            tokens.extend(Token(word, run.start() + start) for word, start in han_words(run.group()))
        tokens.sort(key=lambda t: t.start)
        if not tokens:  # only emoji or punctuation: the whole text is one token, as in Rasa
            tokens = [Token(text, 0)]
        return self._apply_token_pattern(tokens)
