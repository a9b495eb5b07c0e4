"""docs/architecture.md matches the code: every file it names exists, it names every module of the four runtime
packages, and every Redis key the code writes is in its key tables."""
from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Iterable, List, Set

from tests.conftest import ROOT

PAGE = ROOT / "docs" / "architecture.md"
PACKAGES = ("bot", "actions", "common", "handoff")
CODE = re.compile(r"`([^`\n]+)`")
# A repository path: relative, made of path characters, with a folder or a file extension.
PATH = re.compile(r"^(?:[A-Za-z0-9_.-]+/)+(?:[A-Za-z0-9_.-]+\.[A-Za-z0-9]+)?$|^[A-Za-z0-9_-]+\.(?:py|yml|yaml|json|md)$")
KEY_NAME = re.compile(r"^[a-z_]+(?::[a-z_]+)*:?$")  # what follows a key prefix: "esc:", "timers:leased", "events"
LUA_KEY = re.compile(r"(?:\bP|ARGV\[1\]) \.\. '([a-z_:]+)'")  # Lua scripts build keys from the prefix P (or ARGV[1])
PREFIX_NAMES = {"p", "_p", "prefix", "redis_prefix"}  # what the service's stores call their key prefix
GENERATED = (".run/", ".data/", ".venv/", "models/", "artifacts/")  # made by ./run and the tests (.gitignore)


def named_paths(text: str) -> List[str]:
    """The repository paths a page names in backticks (`bot/supervisor.py`, `handoff/tickets/`), in order, once."""
    seen: List[str] = []
    for span in CODE.findall(text):
        span = span.strip()
        if PATH.match(span) and not span.startswith(GENERATED) and span not in seen:
            seen.append(span)
    return seen


def missing_paths(text: str, root: Path) -> List[str]:
    return [p for p in named_paths(text) if not (root / p).exists() or (p.endswith("/") and not (root / p).is_dir())]


def modules(root: Path) -> List[str]:
    """Every Python module of the runtime packages (``__init__.py`` aside), as a path from the root."""
    found = []
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            if path.name != "__init__.py" and "__pycache__" not in path.parts:
                found.append(path.relative_to(root).as_posix())
    return found


def python_files(root: Path, packages: Iterable[str]) -> List[Path]:
    return [p for package in packages for p in sorted((root / package).rglob("*.py")) if "__pycache__" not in p.parts]


def bot_keys(root: Path) -> Set[str]:
    """String constants of the code that are a bot key or a bot key's prefix (``{shop}:handoff:outbox``)."""
    keys = set()
    for path in python_files(root, PACKAGES):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.startswith("{shop}:"):
                rest = node.value[len("{shop}:"):]
                if rest and KEY_NAME.match(rest):
                    keys.add(node.value)
    return keys


def _prefix_name(node: ast.AST) -> str:
    if isinstance(node, ast.Attribute):
        return node.attr
    return node.id if isinstance(node, ast.Name) else ""


def service_keys(root: Path) -> Set[str]:
    """What the handoff service's code appends to its key prefix: ``f"{self.p}esc:{id}"`` and Lua's
    ``P .. 'esc:'`` both give ``esc:``."""
    names = set()
    files = python_files(root, ["handoff"])
    for path in files:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.JoinedStr) and len(node.values) >= 2:
                head, after = node.values[0], node.values[1]
                if isinstance(head, ast.FormattedValue) and _prefix_name(head.value) in PREFIX_NAMES and \
                        isinstance(after, ast.Constant) and KEY_NAME.match(str(after.value)):
                    names.add(str(after.value))
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                names.update(LUA_KEY.findall(node.value))
    for path in sorted((root / "handoff").rglob("*.lua")):
        names.update(LUA_KEY.findall(path.read_text()))
    return names


def test_every_file_the_page_names_exists() -> None:
    text = PAGE.read_text()
    assert len(named_paths(text)) > 100, "the page names the modules it describes"
    missing = missing_paths(text, ROOT)
    assert not missing, "docs/architecture.md names files that do not exist:\n  " + "\n  ".join(missing)


def test_a_missing_file_is_reported(tmp_path: Path) -> None:
    (tmp_path / "bot").mkdir()
    (tmp_path / "bot" / "run.py").write_text("")
    text = ("`bot/run.py` starts it; `bot/gone.py` is gone, `bot/` is here and `bot/nlu/` is not; "
            "`{shop}:handoff:outbox`, `POST /v1/handoffs` and `python -m bot run` are not paths; "
            "`.run/run.json` is made by the run command.")
    assert named_paths(text) == ["bot/run.py", "bot/gone.py", "bot/", "bot/nlu/"]
    assert missing_paths(text, tmp_path) == ["bot/gone.py", "bot/nlu/"]


def test_the_page_names_every_module() -> None:
    named = set(named_paths(PAGE.read_text()))
    unnamed = [m for m in modules(ROOT) if m not in named]
    assert len(modules(ROOT)) > 100
    assert not unnamed, "docs/architecture.md does not name these modules (add each where it belongs):\n  " + \
        "\n  ".join(unnamed)


def test_every_bot_key_is_in_the_key_tables() -> None:
    text = PAGE.read_text()
    keys = bot_keys(ROOT)
    assert {"{shop}:handoff:outbox", "{shop}:handoff:active", "{shop}:tickets:unseen:"} <= keys, sorted(keys)
    absent = sorted(k for k in keys if k not in text)
    assert not absent, "Redis keys of the bot that docs/architecture.md does not list:\n  " + "\n  ".join(absent)


def test_every_service_key_is_in_the_key_tables() -> None:
    text = PAGE.read_text()
    names = service_keys(ROOT)
    assert {"esc:", "queue:", "events", "timers", "t:ix:", "mail:dead", "surge:", "cred:"} <= names, sorted(names)
    absent = sorted(n for n in names if "{ho}:" + n not in text)
    assert not absent, "Redis keys of the handoff service that docs/architecture.md does not list (as {ho}:<name>):" \
        "\n  " + "\n  ".join(absent)
