"""Drive the real run command (python -m bot run) as a user would, and talk to it over its channels."""
from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

import psutil
import requests
import socketio
import yaml

from bot.identity import sign, verify
from bot.load_balancer import server_stats
from tests.conftest import ROOT, free_port

SESSION_SECRET = "test-chat-session-secret-0123456789"  # what the channels sign conversation handles with
REDIS_PASSWORD = "test-redis-password-0123456789"  # the run command's own Redis wants it (AUTH)


def responses_texts(name: str) -> List[str]:
    """Every text variant of a response, from domain.yml or the training-data files (FAQ answers); the
    default (English, no condition) ones first, then the conditional ones (Chinese)."""
    sources = [ROOT / "domain.yml", *sorted((ROOT / "data").rglob("*.yml"))]
    for path in sources:
        doc = yaml.safe_load(path.read_text()) or {}
        variants = (doc.get("responses") or {}).get(name)
        if variants:
            ordered = [v for v in variants if not v.get("condition")] + [v for v in variants if v.get("condition")]
            return [v["text"] for v in ordered if "text" in v]
    raise KeyError(f"no response {name}")


def matches(text: str, response: str, **values: str) -> bool:
    """Whether `text` is one of the variants of `response`, with its {variables} filled in."""
    return any(text == variant.format(**values) if values else text == variant
               for variant in responses_texts(response))


class RunCommand:
    """One `python -m bot run` process with its own ports and run folder, over a given Redis."""

    def __init__(self, redis_url: Optional[str], run_dir: Path, extra_env: Optional[Dict[str, str]] = None) -> None:
        self.rasa_port, self.action_port, self.handoff_port = free_port(), free_port(), free_port()
        env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
        if redis_url:
            env["REDIS_URL"] = redis_url
        self.env = {**env, "PYTHONPATH": str(ROOT),
                    "RASA_PORT": str(self.rasa_port), "ACTION_PORT": str(self.action_port),
                    "HANDOFF_PORT": str(self.handoff_port), "BOT_DATA_DIR": str(run_dir / "data"),
                    "BOT_RUN_DIR": str(run_dir), "BOT_INTERFACE": "127.0.0.1", "CHAT_SESSION_SECRET": SESSION_SECRET,
                    "REDIS_PASSWORD": REDIS_PASSWORD,
                    # the survey at once after a close, as the journeys expect (tests/data/survey_at_once.yml)
                    "HANDOFF_SURVEY_FILE": str(ROOT / "tests" / "data" / "survey_at_once.yml"), **(extra_env or {})}
        self.proc: Optional[subprocess.Popen] = None
        self.output: List[str] = []

    @property
    def redis_url(self) -> str:
        """The URL of the Redis that the run command started, with its password."""
        return f"redis://:{self.env['REDIS_PASSWORD']}@127.0.0.1:{self.env['REDIS_PORT']}/0"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.rasa_port}"

    def start(self, timeout: float = 400) -> float:
        t0 = time.monotonic()
        self.output = []
        self.proc = subprocess.Popen([sys.executable, "-m", "bot", "run"], cwd=ROOT, env=self.env,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        ready = threading.Event()

        def read() -> None:
            for line in self.proc.stdout:  # type: ignore[union-attr]
                self.output.append(line)
                if "The assistant is ready" in line:
                    ready.set()

        threading.Thread(target=read, daemon=True).start()
        while not ready.wait(0.5):
            if self.proc.poll() is not None or time.monotonic() - t0 > timeout:
                self.stop()
                raise RuntimeError("run command did not become ready:\n" + "".join(self.output[-60:]))
        return time.monotonic() - t0

    @property
    def run_dir(self) -> Path:
        return Path(self.env["BOT_RUN_DIR"])

    def rasa_ports(self) -> List[int]:
        """Where each Rasa server listens, as the ready banner says: RASA_PORT itself for one server; the
        servers' own loopback ports behind HAProxy for several."""
        printed = "".join(self.output)
        found = re.search(r"Rasa servers: +\d+, behind HAProxy on port \d+ \(the servers: 127\.0\.0\.1 ports ([\d, ]+)\)",
                          printed)
        return [int(p) for p in found.group(1).split(",")] if found else [self.rasa_port]

    def haproxy_servers(self) -> Dict[str, Dict[str, str]]:
        """HAProxy's view of the Rasa servers ({"rasa-1": {"status": "UP", "stot": "12", ...}}); empty with one
        server (no HAProxy)."""
        return server_stats(self.run_dir / "haproxy.sock")

    def rasa_process(self, port: int) -> psutil.Process:
        """The Rasa server process listening on `port`."""
        return next(p for p in self.children()
                    if "rasa" in p.cmdline() and "--port" in p.cmdline()
                    and p.cmdline()[p.cmdline().index("--port") + 1] == str(port))

    def children(self) -> List[psutil.Process]:
        assert self.proc is not None
        return psutil.Process(self.proc.pid).children(recursive=True)

    def interrupt(self, timeout: float = 60) -> int:
        """Press Ctrl-C: SIGINT to the run command."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGINT)
        return self.proc.wait(timeout=timeout)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()

    def say(self, sender: str, text: str) -> List[str]:
        """What the bot answers `text` in conversation `sender` (a bare id: signed here, as a shop would)."""
        return [m.get("text", "") for m in self.messages(sender, text)]

    def messages(self, sender: str, text: str) -> List[Dict[str, Any]]:
        """The bot's answer to `text` in conversation `sender` as the REST channel sends it (whole messages)."""
        reply = requests.post(f"{self.url}/webhooks/rest/webhook",
                              json={"sender": handle(sender), "message": text}, timeout=60)
        reply.raise_for_status()
        return reply.json()

    def post_raw(self, body: bytes, headers: Optional[Dict[str, str]] = None) -> requests.Response:
        return requests.post(f"{self.url}/webhooks/rest/webhook", data=body, timeout=60,
                             headers=headers or {"Content-Type": "application/json"})


def handle(conversation_id: str) -> str:
    """The conversation handle a client must send for this conversation id."""
    return sign(conversation_id, SESSION_SECRET)


def conversation_of(session_id: str, customer: Optional[str] = None) -> str:
    """The conversation id (the tracker's sender id) of a handle the socket.io channel confirmed (for the
    signed-in `customer`, if any)."""
    found = verify(session_id, SESSION_SECRET, customer)
    assert found, f"not a genuine handle: {session_id}"
    return found


async def socketio_session(url: str, session_id: Optional[str] = None,
                           customer_token: Optional[str] = None, transports: Optional[List[str]] = None) -> tuple:
    """A web-chat client connected as the rasa-webchat widget is: (client, session id, queue of bot_uttered).
    `session_id`: a handle from an earlier session, to continue that conversation (as after a reload);
    `customer_token`: the shop's signed customer token, sent as our widget does (customData.customer_token);
    `transports`: ["websocket"] unless given (["polling"]: long-polling, as a browser behind a proxy that
    blocks WebSockets)."""
    client = socketio.AsyncClient()
    received: "asyncio.Queue[Dict[str, Any]]" = asyncio.Queue()
    confirmed: "asyncio.Queue[str]" = asyncio.Queue()
    client.on("bot_uttered", lambda data: received.put_nowait(data))
    client.on("session_confirm", lambda data: confirmed.put_nowait(data))
    await client.connect(url, socketio_path="socket.io", transports=transports or ["websocket"])
    request: Dict[str, Any] = {"session_id": session_id}
    if customer_token is not None:
        request["customData"] = {"customer_token": customer_token}
    await client.emit("session_request", request)
    session_id = await asyncio.wait_for(confirmed.get(), 10)
    return client, session_id, received


def wait_gone(processes: List[psutil.Process], timeout: float = 30) -> List[Any]:
    _, alive = psutil.wait_procs(processes, timeout=timeout)
    return alive
