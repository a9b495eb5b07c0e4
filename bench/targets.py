"""The servers the scale-out benchmarks measure side by side: a stock `rasa init` bot and our stack.

Both benchmarks (bench/throughput.py, bench/capacity.py) compare our assistant with a stock Rasa bot on the same
machine in the same run, because absolute times do not carry from one machine to another. The stock
bot is created and trained here with `rasa init --no-prompt` (about a minute), then served with `rasa run` and its
REST channel (in-memory tracker store, no action server). Our stack is started exactly as operators start it,
`python -m bot run`, with RASA_SERVERS set, in a temporary folder with its own embedded Redis and free ports.

Each target is a context manager that yields the REST webhook URL and stops everything it started on exit.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import json
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, Iterator, List, Optional

import psutil

from bot.identity import SECRET_ENV, sign
from bot.processes import free_port

ROOT = Path(__file__).resolve().parent.parent
STOCK = "stock rasa init"
STOCK_READY_TIMEOUT = 300.0
STACK_READY_TIMEOUT = 1800.0  # our stack trains first when config or data changed (10-20 min on 2 cores)


@dataclass
class Running:
    """A started target: where to send messages and which process tree to measure."""

    label: str
    url: str  # the REST webhook
    pid: int
    rasa_servers: int = 0  # Rasa server processes found in the tree once ready
    info: Dict[str, str] = field(default_factory=dict)

    def rss_mb(self) -> float:
        """Resident memory of the whole process tree (the load generator is not in it)."""
        try:
            root = psutil.Process(self.pid)
            procs = [root] + root.children(recursive=True)
        except psutil.NoSuchProcess:
            return 0.0
        total = 0
        for p in procs:
            try:
                total += p.memory_info().rss
            except psutil.NoSuchProcess:
                pass
        return total / 2**20


def say(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def count_rasa_servers(pid: int) -> int:
    """How many `rasa run` processes the tree holds: the proof of what RASA_SERVERS actually started."""
    try:
        procs = psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return 0
    n = 0
    for p in procs:
        try:
            cmd = p.cmdline()
        except psutil.NoSuchProcess:
            continue
        if "rasa" in cmd and "run" in cmd and "actions" not in cmd:
            n += 1
    return n


def post_message(url: str, sender: str, text: str, timeout: float = 60.0) -> Optional[list]:
    """One REST message; the reply list, or None while the server is not answering yet."""
    req = urllib.request.Request(url, data=json.dumps({"sender": sender, "message": text}).encode(),
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return json.loads(resp.read()) if resp.status == 200 else None
    except (urllib.error.URLError, OSError, ValueError):
        return None


def wait_answering(url: str, proc: "subprocess.Popen[bytes]", label: str, timeout: float, log: Path) -> None:
    """Until the REST channel answers a message (the model is loaded), with a progress line every 15 s."""
    t0 = time.monotonic()
    last = t0
    while post_message(url, sign("bench-ready-probe"), "hi", timeout=30) is None:
        if proc.poll() is not None:
            tail = "\n".join(log.read_text(errors="replace").splitlines()[-30:])
            raise RuntimeError(f"{label} exited with code {proc.returncode} while starting:\n{tail}\n(log: {log})")
        if time.monotonic() - t0 > timeout:
            raise RuntimeError(f"{label} did not answer within {timeout:.0f} s (log: {log})")
        if time.monotonic() - last > 15:
            last = time.monotonic()
            say(f"  {label}: still starting ({time.monotonic() - t0:.0f} s; log {log})")
        time.sleep(1.0)


def stop_tree(proc: "subprocess.Popen[bytes]", grace: float = 30.0) -> None:
    """SIGTERM (our run command then stops its children in order), SIGKILL for whatever outlives the grace."""
    try:
        children = psutil.Process(proc.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        children = []
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    _, alive = psutil.wait_procs(children, timeout=5)
    for p in alive:
        try:
            p.kill()
        except psutil.NoSuchProcess:
            pass


def stage_line(line: str) -> bool:
    """Our run command's stage lines and its errors and warnings."""
    return line.startswith(("==>", "error", "warning"))


def training_line(line: str) -> bool:
    """Rasa's per-component training lines (`rasa init` trains the stock bot)."""
    return " - Starting to train component" in line


def _follow(path: Path, prefix: str, stop: threading.Event, keep: List[str],
            wanted: Callable[[str], bool] = stage_line) -> None:
    """Echo the lines a starting process writes that tell where it is."""
    with open(path, "r", errors="replace") as f:
        while not stop.is_set():
            line = f.readline()
            if not line:
                time.sleep(0.3)
                continue
            if wanted(line):
                keep.append(line)
                say(f"  {prefix} {line.rstrip().split(' - ', 1)[-1][:160]}")  # without Rasa's log prefix


def create_stock_bot(folder: Path) -> Path:
    """`rasa init --no-prompt` in folder (it trains the model); reused when folder already holds a model."""
    if list((folder / "models").glob("*.tar.gz")):
        say(f"stock bot: reusing the trained model in {folder / 'models'}")
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    log = folder / "init.log"
    say(f"stock bot: rasa init --no-prompt in {folder} (creates and trains it, about a minute; log {log})")
    t0 = time.monotonic()
    stop = threading.Event()
    with open(log, "wb") as out:
        follower = threading.Thread(target=_follow, args=(log, "[stock bot]", stop, [], training_line),
                                    daemon=True)
        follower.start()
        result = subprocess.run([sys.executable, "-m", "rasa", "init", "--no-prompt", "--init-dir", str(folder)],
                                cwd=folder, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                env={**os.environ, "RASA_TELEMETRY_ENABLED": "false"})
    stop.set()
    if result.returncode != 0 or not list((folder / "models").glob("*.tar.gz")):
        raise RuntimeError(f"rasa init failed (exit code {result.returncode}); see {log}")
    say(f"stock bot: trained in {time.monotonic() - t0:.0f} s")
    return folder


@contextmanager
def stock_bot(folder: Path) -> Iterator[Running]:
    """The stock bot served by `rasa run` on a free port (REST channel from its credentials.yml)."""
    port = free_port()
    log = folder / "rasa-run.log"
    say(f"stock bot: rasa run on port {port}")
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "rasa", "run", "--model", "models", "--credentials", "credentials.yml",
             "--endpoints", "endpoints.yml", "--interface", "127.0.0.1", "--port", str(port)],
            cwd=folder, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env={**os.environ, "RASA_TELEMETRY_ENABLED": "false"})
    try:
        url = f"http://127.0.0.1:{port}/webhooks/rest/webhook"
        wait_answering(url, proc, "stock bot", STOCK_READY_TIMEOUT, log)
        yield Running(STOCK, url, proc.pid, 1)
    finally:
        stop_tree(proc)


@contextmanager
def our_stack(servers: int, keep_logs: Optional[Path] = None) -> Iterator[Running]:
    """`python -m bot run` with RASA_SERVERS=servers in a temporary folder (embedded Redis, free ports)."""
    tmp = Path(tempfile.mkdtemp(prefix=f"bench-ours{servers}-"))
    port = free_port()
    env = {**os.environ, "RASA_SERVERS": str(servers), "RASA_PORT": str(port), "ACTION_PORT": str(free_port()),
           "HANDOFF_PORT": str(free_port()), "REDIS_PORT": str(free_port()), "BOT_RUN_DIR": str(tmp / "run"),
           "BOT_DATA_DIR": str(tmp / "data"), "BOT_INTERFACE": "127.0.0.1", "RASA_TELEMETRY_ENABLED": "false"}
    for name in ("REDIS_URL", "HANDOFF_REDIS_URL", "REDIS_CLUSTER"):
        env.pop(name, None)
    env.setdefault(SECRET_ENV, os.environ[SECRET_ENV])
    label = f"ours, {servers} server{'s' if servers > 1 else ''}"
    log = tmp / "run-command.log"
    say(f"{label}: python -m bot run (RASA_SERVERS={servers}, port {port}; log {log})")
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "bot", "run"], cwd=ROOT, env=env, stdout=out,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    stop = threading.Event()
    seen: List[str] = []
    follower = threading.Thread(target=_follow, args=(log, f"[{label}]", stop, seen), daemon=True)
    follower.start()
    try:
        url = f"http://127.0.0.1:{port}/webhooks/rest/webhook"
        deadline = time.monotonic() + STACK_READY_TIMEOUT
        while "The assistant is ready" not in log.read_text(errors="replace"):  # every server loaded
            if proc.poll() is not None:
                tail = "\n".join(log.read_text(errors="replace").splitlines()[-30:])
                raise RuntimeError(f"{label}: the run command exited with code {proc.returncode}:\n{tail}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{label}: not ready after {STACK_READY_TIMEOUT:.0f} s (log {log})")
            time.sleep(1.0)
        wait_answering(url, proc, label, 120, log)
        found = count_rasa_servers(proc.pid)
        if found != servers:
            say(f"  WARNING {label}: RASA_SERVERS={servers} but {found} Rasa server process(es) are running; "
                "the figures below are labelled with the number found")
        yield Running(label if found == servers else f"ours, RASA_SERVERS={servers} ({found} running)",
                      url, proc.pid, found)
    finally:
        stop.set()
        stop_tree(proc)
        if keep_logs is not None:
            keep_logs.mkdir(parents=True, exist_ok=True)
            shutil.copy(log, keep_logs / f"ours{servers}-run-command.log")
            if (tmp / "run" / "logs").is_dir():
                shutil.copytree(tmp / "run" / "logs", keep_logs / f"ours{servers}", dirs_exist_ok=True)
        shutil.rmtree(tmp, ignore_errors=True)
