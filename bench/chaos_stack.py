"""The stack for the soak with faults (bench/chaos.py): what `./run` starts, with two handoff-service
processes behind HAProxy, and a schedule that SIGKILLs and restarts each process.

`ChaosStack` is the run command's own `Stack` (bot/supervisor.py: same commands, same environment,
secrets and demo team), changed in one place: where the run command starts the handoff service on
HANDOFF_PORT, it starts HAProxy on that port and two handoff processes on ports of their own behind
it (health-checked on /health, so a dead process is taken out). The action server and the Rasa
server's bridge therefore reach the handoff service at the URL the run command gives them.

Redis runs as the run command runs it (bot/redis_server.py: append-only file, `appendfsync everysec`):
the soak tests what ships. A SIGKILL of redis-server loses nothing it had written to the AOF (the
kernel keeps the page cache); `everysec` only risks the last second on a power cut of the machine.
"""
from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional

import redis

from bot.processes import Child, free_port, http_ok
from bot.settings import ROOT
from bot.supervisor import Stack

KILLABLE = ("rasa", "actions", "handoff-1", "handoff-2", "redis")
HAPROXY_CONFIG = """global
    maxconn 4096
defaults
    mode http
    timeout connect 2s
    timeout client 1h
    timeout server 1h
    timeout tunnel 1h
    retries 3
    option redispatch 1
    retry-on conn-failure
frontend handoff_front
    bind 127.0.0.1:{port}
    default_backend handoff_back
backend handoff_back
    balance roundrobin
    option httpchk GET /health
    http-check expect status 200
    default-server inter 500ms fall 2 rise 1 on-marked-down shutdown-sessions
{servers}
"""


class StackError(RuntimeError):
    """The soak cannot run here (no HAProxy, a process that will not come back...)."""


def ensure_haproxy() -> str:
    """The haproxy binary; installed from Debian when missing and we are root, else a clear error."""
    found = shutil.which("haproxy") or next((p for p in ("/usr/sbin/haproxy",) if os.path.exists(p)), None)
    if found:
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        print("==> Installing HAProxy from Debian (apt-get install -y haproxy): the load balancer in front of "
              "the two handoff-service processes", flush=True)
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        ok = subprocess.run(["apt-get", "update", "-qq"], env=env, capture_output=True).returncode == 0 and \
            subprocess.run(["apt-get", "install", "-y", "-qq", "haproxy"], env=env, capture_output=True).returncode == 0
        found = shutil.which("haproxy") or ("/usr/sbin/haproxy" if os.path.exists("/usr/sbin/haproxy") else None)
        if ok and found:
            return found
        raise StackError("apt-get could not install haproxy; install it (apt-get install haproxy) and run again")
    raise StackError("the soak needs HAProxy in front of the two handoff processes: apt-get install haproxy "
                     "(as root), or put haproxy on PATH")


@dataclass
class Fault:
    """One scheduled fault: SIGKILL `names` at `at` (seconds after the load started), start them again
    after `down` seconds."""
    at: float
    names: List[str]
    down: float
    killed_at: Optional[float] = None
    restarted_at: Optional[float] = None
    ready_at: Optional[float] = None
    error: str = ""


def schedule(seconds: float, quiet: float, kills_each: int, seed: int, warmup: float = 20.0) -> List[Fault]:
    """Faults spread evenly over [warmup, seconds - quiet], one at a time: `kills_each - 1` rounds in which
    each process is killed alone (shuffled), then each process but Rasa alone once more, then a blackout
    in which all five are down at once. So Rasa is killed `kills_each` times, the others once more. The
    last `quiet` seconds have no new fault (documented: the queues drain then)."""
    rng = random.Random(seed)
    plan: List[List[str]] = []
    for round_ in range(kills_each):
        order = [n for n in KILLABLE if round_ < kills_each - 1 or n != "rasa"]
        rng.shuffle(order)
        plan += [[n] for n in order]
    plan.append(list(KILLABLE))
    end = max(warmup + 1.0, seconds - quiet)
    step = (end - warmup) / len(plan)
    return [Fault(round(warmup + i * step, 1), names, round(rng.uniform(2.0, 6.0), 1)) for i, names in enumerate(plan)]


@dataclass
class ChaosStack(Stack):
    haproxy_binary: str = "haproxy"
    handoff_ports: List[int] = field(default_factory=list)
    killed: Dict[str, int] = field(default_factory=dict)  # name -> SIGKILLs sent by the schedule
    crashes: List[str] = field(default_factory=list)  # processes that exited without being killed
    stopping: threading.Event = field(default_factory=threading.Event)  # set on Ctrl-C / error: faults stop waiting

    def spawn(self, name: str, cmd: List[str], env: Dict[str, str]) -> Child:
        if name != "handoff":
            return super().spawn(name, cmd, env)
        # The run command's handoff service: HAProxy on HANDOFF_PORT, two processes behind it.
        self.handoff_ports = [free_port(), free_port()]
        servers = "\n".join(f"    server h{i} 127.0.0.1:{p} check" for i, p in enumerate(self.handoff_ports, 1))
        config = self.settings.run_dir / "haproxy.cfg"
        config.write_text(HAPROXY_CONFIG.format(port=self.settings.handoff_port, servers=servers))
        first = super().spawn("handoff-1", cmd, {**env, "HANDOFF_PORT": str(self.handoff_ports[0])})
        super().spawn("handoff-2", cmd, {**env, "HANDOFF_PORT": str(self.handoff_ports[1])})
        super().spawn("haproxy", [self.haproxy_binary, "-db", "-f", str(config)], env)
        return first

    def child(self, name: str) -> Child:
        return next(c for c in self.children if c.name == name)

    def ready(self, name: str) -> bool:
        s = self.settings
        if name == "redis":
            try:
                return bool(redis.Redis.from_url(self.redis_url, socket_connect_timeout=0.5).ping())
            except redis.RedisError:
                return False
        if name.startswith("handoff-"):
            return http_ok(f"http://127.0.0.1:{self.handoff_ports[int(name[-1]) - 1]}/health")
        if name == "actions":
            return http_ok(f"http://127.0.0.1:{s.action_port}/health")
        if name == "rasa":
            return http_ok(f"http://127.0.0.1:{s.rasa_port}/")
        return True

    def kill(self, name: str) -> None:
        child = self.child(name)
        if child.proc.poll() is None:
            child.proc.send_signal(signal.SIGKILL)
            child.proc.wait(timeout=30)
        self.killed[name] = self.killed.get(name, 0) + 1

    def revive(self, name: str) -> Child:
        """Start `name` again with the same command and environment, in the same place in the stop order."""
        old = self.child(name)
        index = self.children.index(old)
        old.log.close()
        self.children.remove(old)
        fresh = Stack.spawn(self, name, old.cmd, old.env)
        self.children.remove(fresh)
        self.children.insert(index, fresh)
        return fresh

    def wait_ready(self, name: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not self.ready(name):
            if self.stopping.is_set():
                raise StackError(f"stopped while {name} was starting")
            child = self.child(name)
            if child.proc.poll() is not None:  # it died while starting (e.g. Redis was down): start it again
                self.crashes.append(f"{name} exited with code {child.proc.returncode} while starting")
                time.sleep(1.0)
                self.revive(name)
            if time.monotonic() > deadline:
                raise StackError(f"{name} was not ready {timeout:.0f} s after its restart (log: {child.log_path})")
            time.sleep(0.25)

    def watch(self, expected_down: Callable[[str], bool]) -> None:
        """Start again any process that exited although the schedule did not kill it (as an orchestrator
        would); each one is reported."""
        for child in list(self.children):
            if child.proc.poll() is not None and not expected_down(child.name):
                self.crashes.append(f"{child.name} exited by itself with code {child.proc.returncode} "
                                    f"(log: {child.log_path})")
                print(f"warning: {child.name} exited by itself (code {child.proc.returncode}); starting it again",
                      file=sys.stderr, flush=True)
                self.revive(child.name)


def run_fault(stack: ChaosStack, fault: Fault, t0: float, timeout: float = 240.0) -> None:
    """Blocking: kill, wait `down`, restart (Redis first, Rasa last, as the run command orders them)."""
    fault.killed_at = round(time.monotonic() - t0, 1)
    for name in fault.names:
        stack.kill(name)
    print(f"[{fault.killed_at:6.1f} s] SIGKILL {', '.join(fault.names)} (down {fault.down} s)", flush=True)
    if stack.stopping.wait(fault.down):
        return
    fault.restarted_at = round(time.monotonic() - t0, 1)
    for name in sorted(fault.names, key=KILLABLE[::-1].index):
        stack.revive(name)
        if name == "redis":
            stack.wait_ready(name, 30)
    try:
        for name in fault.names:
            stack.wait_ready(name, timeout)
    except StackError as exc:
        fault.error = str(exc)
        raise
    fault.ready_at = round(time.monotonic() - t0, 1)
    print(f"[{fault.ready_at:6.1f} s] {', '.join(fault.names)} ready again", flush=True)


def seed_team(stack: ChaosStack, roster: Path, password: str) -> None:
    env = {**stack.child("handoff-1").env, "HANDOFF_PASSWORD": password}
    done = subprocess.run([sys.executable, "-m", "handoff.accounts", "seed", str(roster)], cwd=ROOT,
                          env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise StackError(f"could not create the bench team: {done.stderr.strip()}")
