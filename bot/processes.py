"""Child processes of the run command and the probes it starts them with: free ports, an HTTP health check, a
child's log, which services may be restarted. Standard library only."""
from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Dict, List

_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:  # runs in the child between fork and exec
    os.setsid()
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def port_is_free(port: int, host: str = "0.0.0.0") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def free_port() -> int:
    """A TCP port that is free right now on the loopback interface."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def http_ok(url: str, timeout: float = 1.0) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status == 200
    except OSError:
        return False


@dataclass
class Child:
    name: str
    proc: "subprocess.Popen[bytes]"
    log_path: Path
    log: IO[bytes]
    cmd: List[str] = field(default_factory=list)
    env: Dict[str, str] = field(default_factory=dict)
    restarts: List[float] = field(default_factory=list)  # when it was restarted (monotonic)

    def tail(self, lines: int = 30) -> str:
        self.log.flush()
        text = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])


RESTARTABLE = ("handoff", "actions", "rasa", "haproxy")  # state in Redis (HAProxy: none): a restart loses nothing
RESTART_LIMIT = 5  # restarts per minute before the run command gives up


def kind(name: str) -> str:
    """The service a child process runs: "rasa" for rasa-1, rasa-2...; its name otherwise."""
    return name.split("-", 1)[0]

def distinct_free_ports(count: int) -> List[int]:
    """`count` different free loopback ports (free_port twice in a row may give the same one)."""
    ports: List[int] = []
    while len(ports) < count:
        port = free_port()
        if port not in ports:
            ports.append(port)
    return ports

