"""Loading the YAML that editors write (policy/*.yml), checked against a JSON Schema (schemas/).

Any problem is a :class:`ConfigError` that names the file and the key, raised when the
process starts, never later in the middle of a conversation.
"""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any, Dict, Iterable, Sequence, Union

import jsonschema
import yaml

ROOT = Path(__file__).resolve().parent.parent
POLICY_DIR = ROOT / "policy"
SCHEMA_DIR = ROOT / "schemas"


class ConfigError(ValueError):
    """A policy file is missing, is not valid YAML or does not match its schema."""

    def __init__(self, path: Union[str, Path], key: str, message: str) -> None:
        self.path = str(path)
        self.key = key
        self.message = message
        where = f"{self.path}: {key}" if key else self.path
        super().__init__(f"{where}: {message}")


def key_path(parts: Iterable[Any]) -> str:
    """`triggers[2].when.sentiment_below` from a JSON-pointer-like sequence."""
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


@lru_cache(maxsize=None)
def schema(name: str) -> Dict[str, Any]:
    """A JSON Schema from schemas/, e.g. ``schema("handoff_request")``."""
    with open(SCHEMA_DIR / f"{name}.schema.json", encoding="utf-8") as f:
        return json.load(f)


def validate(document: Any, schema_name: str, path: Union[str, Path] = "<document>") -> None:
    """Raise ConfigError for the first (most specific) schema violation of ``document``."""
    validator = jsonschema.Draft202012Validator(schema(schema_name))
    errors = sorted(validator.iter_errors(document), key=lambda e: (len(e.absolute_path), list(map(str, e.absolute_path))))
    if errors:
        best = jsonschema.exceptions.best_match(errors)
        raise ConfigError(path, key_path(best.absolute_path), best.message)


def load_yaml(path: Union[str, Path], schema_name: str) -> Dict[str, Any]:
    """Read ``path`` and check it against ``schemas/<schema_name>.schema.json``."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError(path, "", f"cannot read the file ({e.strerror})") from None
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(path, where, f"not valid YAML: {getattr(e, 'problem', None) or e}") from None
    validate(document, schema_name, path)
    return document


def require_known(path: Union[str, Path], key: str, names: Union[str, Sequence[str]], known: Iterable[str],
                  what: str) -> None:
    """ConfigError when ``names`` (one name, or a list) holds a name not among ``known`` (e.g. an unknown category)."""
    known_set = set(known)
    items = [(key, names)] if isinstance(names, str) else [(f"{key}[{i}]", n) for i, n in enumerate(names)]
    for where, name in items:
        if name not in known_set:
            raise ConfigError(path, where, f"unknown {what} {name!r}; known: {', '.join(sorted(known_set))}")
