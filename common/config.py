"""Loading the YAML that editors write (policy/*.yml), checked against a JSON Schema (schemas/).

Any problem is a :class:`ConfigError` that names the file and the key, raised when the
process starts, never later in the middle of a conversation.
"""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any, Dict, Iterable, Optional, Sequence, Union

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


def yaml_line(path: Union[str, Path], parts: Sequence[Any], text: Optional[str] = None) -> Optional[int]:
    """The 1-based line in the YAML file ``path`` (or in ``text``, its content) of the key or item at ``parts``
    (e.g. ``["flows", "repair", "steps", 1, "group"]``), or of the deepest part of it that exists; None when
    the file cannot be read or parsed."""
    try:
        node = yaml.compose(Path(path).read_text(encoding="utf-8") if text is None else text, Loader=yaml.SafeLoader)
    except (OSError, ValueError, yaml.YAMLError):
        return None
    if node is None:
        return None
    line = node.start_mark.line + 1
    for part in parts:
        if isinstance(node, yaml.MappingNode):
            found = [(k, v) for k, v in node.value if isinstance(k, yaml.ScalarNode) and k.value == str(part)]
            if not found:
                break
            line, node = found[0][0].start_mark.line + 1, found[0][1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            break
    return line


def located(path: Union[str, Path], parts: Sequence[Any], text: Optional[str] = None) -> str:
    """A ConfigError key with the line when it can be found: ``line 7, flows.repair.steps[1].group``."""
    line = yaml_line(path, parts, text)
    return f"line {line}, {key_path(parts)}" if line is not None else key_path(parts)


def validate(document: Any, schema_name: str, path: Union[str, Path] = "<document>", lines: bool = False,
             text: Optional[str] = None) -> None:
    """Raise ConfigError for the first (most specific) schema violation of ``document``; with ``lines``, the
    error's key starts with the line in the file (``line 7, flows.repair.steps``), read from ``text`` or ``path``."""
    validator = jsonschema.Draft202012Validator(schema(schema_name))
    errors = sorted(validator.iter_errors(document), key=lambda e: (len(e.absolute_path), list(map(str, e.absolute_path))))
    if errors:
        best = jsonschema.exceptions.best_match(errors)
        parts = list(best.absolute_path)
        raise ConfigError(path, located(path, parts, text) if lines else key_path(parts), best.message)


def load_yaml(path: Union[str, Path], schema_name: str, lines: bool = False) -> Dict[str, Any]:
    """Read ``path`` and check it against ``schemas/<schema_name>.schema.json`` (with ``lines``, a schema
    error names the line too)."""
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
    validate(document, schema_name, path, lines, text)
    return document


def require_known(path: Union[str, Path], key: str, names: Union[str, Sequence[str]], known: Iterable[str],
                  what: str) -> None:
    """ConfigError when ``names`` (one name, or a list) holds a name not among ``known`` (e.g. an unknown category)."""
    known_set = set(known)
    items = [(key, names)] if isinstance(names, str) else [(f"{key}[{i}]", n) for i, n in enumerate(names)]
    for where, name in items:
        if name not in known_set:
            raise ConfigError(path, where, f"unknown {what} {name!r}; known: {', '.join(sorted(known_set))}")
