"""Every relative link and image in the repository's Markdown files points at something that exists.

Checked: inline links and images (``[text](path)``, ``![alt](path)``), reference definitions (``[id]: path``) and
HTML ``<img src>`` / ``<a href>`` in every *.md file git knows (tracked, or new and not ignored). A relative target
must be an existing file or folder; ``path.md#anchor`` and ``#anchor`` must name a heading of that Markdown file,
slugged the way GitHub does. Web addresses (``http:``, ``mailto:`` ...) and text inside code are not checked.
"""
from __future__ import annotations

import os
import re
import subprocess
import unicodedata
from pathlib import Path
from typing import Dict, Iterator, List, Set, Tuple
from urllib.parse import unquote

import pytest

ROOT = Path(__file__).resolve().parents[2]
SKIP_DIRS = {".git", ".venv", "node_modules", ".run", ".data", "artifacts", "models"}

FENCE = re.compile(r"^\s*(```|~~~)")
INLINE_CODE = re.compile(r"(`+)(?:.+?)\1")
# [text](target "title") and ![alt](target); the text may hold one level of brackets (an image inside a link).
INLINE_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\[\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+.*)?$")
HTML_LINK = re.compile(r"<(?:img|a)\b[^>]*?\b(?:src|href)\s*=\s*[\"']([^\"']+)[\"']", re.IGNORECASE)
HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")


def markdown_files() -> List[Path]:
    """The *.md files git tracks plus new ones it does not ignore; a walk of the tree when git is absent."""
    try:
        out = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z", "--", "*.md"],
                             cwd=ROOT, capture_output=True, check=True).stdout.decode()
        names = [n for n in out.split("\0") if n]
        return sorted({ROOT / n for n in names if (ROOT / n).is_file()})
    except (OSError, subprocess.CalledProcessError):
        return sorted(p for p in ROOT.rglob("*.md") if not SKIP_DIRS.intersection(p.relative_to(ROOT).parts))


def prose_lines(text: str) -> Iterator[Tuple[int, str]]:
    """(line number, line) outside fenced code blocks, with inline code spans blanked out."""
    fenced = None
    for number, line in enumerate(text.splitlines(), start=1):
        match = FENCE.match(line)
        if match:
            if fenced is None:
                fenced = match.group(1)
            elif match.group(1) == fenced:
                fenced = None
            continue
        if fenced is None:
            yield number, INLINE_CODE.sub(lambda m: " " * len(m.group(0)), line)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: its text without markup, lower case, punctuation dropped, spaces as '-'."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link or image keeps its text
    text = re.sub(r"<[^>]+>", "", text).replace("`", "").replace("*", "")
    text = text.strip().lower()
    kept = []
    for char in text:
        if char in " -_" or char.isalnum() or unicodedata.category(char).startswith("M"):
            kept.append(char)
    return "".join(kept).replace(" ", "-")


def anchors(path: Path, cache: Dict[Path, Set[str]]) -> Set[str]:
    """Every heading anchor of a Markdown file (a repeated heading gets -1, -2 ... as on GitHub)."""
    if path not in cache:
        found: Set[str] = set()
        seen: Dict[str, int] = {}
        fenced = None
        for line in path.read_text(encoding="utf-8").splitlines():
            match = FENCE.match(line)
            if match:
                fenced = match.group(1) if fenced is None else (None if match.group(1) == fenced else fenced)
                continue
            heading = HEADING.match(line) if fenced is None else None
            if heading:
                base = slug(heading.group(2))
                count = seen.get(base, 0)
                seen[base] = count + 1
                found.add(base if count == 0 else f"{base}-{count}")
        found.update(re.findall(r"<a\s+(?:name|id)=[\"']([^\"']+)[\"']", path.read_text(encoding="utf-8")))
        cache[path] = found
    return cache[path]


def targets(path: Path) -> Iterator[Tuple[int, str]]:
    for number, line in prose_lines(path.read_text(encoding="utf-8")):
        for pattern in (INLINE_LINK, HTML_LINK):
            for match in pattern.finditer(line):
                yield number, match.group(1)
        reference = REFERENCE.match(line)
        if reference:
            yield number, reference.group(1)


def broken_links(files: List[Path]) -> List[str]:
    cache: Dict[Path, Set[str]] = {}
    broken = []
    for path in files:
        where = path.relative_to(ROOT)
        for number, target in targets(path):
            if SCHEME.match(target) or target.startswith("//"):
                continue
            file_part, _, anchor = target.partition("#")
            file_part = unquote(file_part.split("?", 1)[0])
            if file_part.startswith("/"):
                dest = ROOT / file_part.lstrip("/")
            else:
                dest = Path(os.path.normpath(path.parent / file_part)) if file_part else path
            if not dest.exists():
                broken.append(f"{where}:{number}: {target} (no such file: {dest.relative_to(ROOT) if dest.is_relative_to(ROOT) else dest})")
                continue
            if anchor and dest.is_file() and dest.suffix.lower() == ".md":
                if unquote(anchor).lower() not in anchors(dest, cache):
                    broken.append(f"{where}:{number}: {target} (no heading '#{anchor}' in {dest.relative_to(ROOT)})")
    return broken


def test_the_repository_has_markdown_to_check() -> None:
    names = {p.relative_to(ROOT).as_posix() for p in markdown_files()}
    assert "README.md" in names


def test_every_relative_link_and_image_resolves() -> None:
    broken = broken_links(markdown_files())
    assert not broken, "broken links in Markdown files:\n" + "\n".join(broken)


@pytest.mark.parametrize("heading, anchor", [
    ("The two commands", "the-two-commands"),
    ("API (`/v1`, OpenAPI document at `/v1/openapi.json`)", "api-v1-openapi-document-at-v1openapijson"),
    ("Two languages: 中文 and English", "two-languages-中文-and-english"),
    ("Durable timers ([docs/timers.md](docs/timers.md))", "durable-timers-docstimersmd"),
    ("Back up and restore Redis", "back-up-and-restore-redis"),
])
def test_headings_are_slugged_as_github_does(heading: str, anchor: str) -> None:
    assert slug(heading) == anchor


def test_a_broken_link_and_a_missing_anchor_are_reported(tmp_path: Path) -> None:
    (tmp_path / "other.md").write_text("# Present heading\n", encoding="utf-8")
    page = tmp_path / "page.md"
    page.write_text(
        "[ok](other.md) [ok anchor](other.md#present-heading) [web](https://example.com)\n"
        "![missing image](images/none.png) [gone](nowhere.md) [bad anchor](other.md#absent)\n"
        "`[in code](not-checked.md)`\n```\n[in a block](not-checked-either.md)\n```\n",
        encoding="utf-8")
    globals()["ROOT"] = tmp_path
    try:
        broken = broken_links([page])
    finally:
        globals()["ROOT"] = Path(__file__).resolve().parents[2]
    assert [b.split(": ", 1)[1] for b in broken] == [
        "images/none.png (no such file: images/none.png)",
        "nowhere.md (no such file: nowhere.md)",
        "other.md#absent (no heading '#absent' in other.md)",
    ]
