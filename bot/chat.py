"""A terminal chat over the REST channel of a running assistant."""
from __future__ import annotations

import json
import os
import sys
import urllib.error
import urllib.request
import uuid
from typing import Any, Dict, List, Optional

from bot.identity import sign
from bot.run_secrets import load_or_create
from bot.settings import Settings


def send(url: str, sender: str, text: str, timeout: float = 30.0) -> List[Dict[str, Any]]:
    body = json.dumps({"sender": sender, "message": text}).encode()
    req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        return json.loads(resp.read())


def render(reply: Dict[str, Any]) -> str:
    lines = [reply.get("text") or ""]
    for i, button in enumerate(reply.get("buttons") or [], 1):
        lines.append(f"   [{i}] {button.get('title')}")
    return "\n".join(line for line in lines if line)


def chat(settings: Settings, sender: Optional[str] = None) -> int:
    url = f"http://127.0.0.1:{settings.rasa_port}/webhooks/rest/webhook"
    # The REST channel takes only signed conversation handles; sign with the run command's secret.
    key = load_or_create(settings.data_dir, os.environ)["CHAT_SESSION_SECRET"]
    sender = sign(sender or f"terminal-{uuid.uuid4().hex[:12]}", key)
    print(f"Chatting as {sender} with {url}. Empty line or Ctrl-D to quit.")
    buttons: List[Dict[str, Any]] = []
    while True:
        try:
            text = input("you> ").strip()
        except (EOFError, KeyboardInterrupt):
            print()
            return 0
        if not text:
            return 0
        if text.isdigit() and 0 < int(text) <= len(buttons):
            text = buttons[int(text) - 1].get("payload") or text
        try:
            replies = send(url, sender, text)
        except urllib.error.HTTPError as exc:
            print(f"error {exc.code}: {exc.read().decode(errors='replace')}", file=sys.stderr)
            continue
        except OSError as exc:
            print(f"error: the assistant is not reachable at {url} ({exc}); is ./run running?", file=sys.stderr)
            return 1
        buttons = [b for r in replies for b in (r.get("buttons") or [])]
        for reply in replies:
            print("bot> " + render(reply).replace("\n", "\nbot> "))
