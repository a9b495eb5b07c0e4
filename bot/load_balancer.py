"""HAProxy in front of several Rasa servers: its configuration, finding (or installing) it, asking it which
servers are up.

Why HAProxy: it is what people run in production, Debian ships it, and it health-checks each server, so a Rasa
server that died or is still loading its model gets no traffic (bench/chaos_stack.py already puts it in front
of two handoff-service processes).

Routing (see CONFIG):
- REST, the chat page, the health check: ``leastconn`` (a Rasa request takes from milliseconds to seconds; the
  server with the fewest open requests gets the next one). Any server can answer any conversation: trackers and
  the conversation lock are in Redis.
- socket.io: a WebSocket is one TCP connection, so it stays on the server it reached. Long-polling is many
  requests, and each one must reach the server that holds its Engine.IO session (python-socketio's docs:
  "sticky sessions"). HAProxy learns the session id from the handshake's answer (``0{"sid":"..."}``, the body
  of the first polling request, the one without ``sid``) and sends every later request carrying ``?sid=`` to
  that server. Not a cookie, because a widget on the shop's own origin polls cross-origin and browsers send no
  cookies there (socket.io-client's ``withCredentials`` is off); not ``balance source``, because every customer
  behind one NAT or reverse proxy would land on one server.
- A message for a customer whose socket is on another server goes through Redis (python-socketio's
  AsyncRedisManager, bot/channels/socketio.py ``client_manager``).
"""
from __future__ import annotations

import csv
import io
import os
import shutil
import socket
import subprocess
from pathlib import Path
from string import Template
from typing import Dict, List, Optional, Sequence, Tuple

HAPROXY_PATHS = ("/usr/sbin/haproxy", "/usr/local/sbin/haproxy")

# $-placeholders (string.Template): HAProxy's own syntax uses braces and percent signs.
CONFIG = Template("""# Written by the run command (bot/load_balancer.py) at each start; edits are lost.
global
    maxconn $maxconn
    stats socket $stats_socket mode 600 level admin
    hard-stop-after 20s

defaults
    mode http
    timeout connect 2s
    # A WebSocket or a long-poll may stay quiet for long; Engine.IO pings every 25 s anyway.
    timeout client 1h
    timeout server 1h
    timeout tunnel 1h
    timeout http-request 30s
    timeout queue 30s
    # A request that could not reach a server goes to another one; one that reached a server is never sent
    # twice (a message would be handled twice).
    retries 3
    option redispatch 1
    retry-on conn-failure

frontend rasa
    bind $bind
    default_backend rasa_servers

backend rasa_servers
    balance leastconn
    # "/" answers only once the server has loaded its model (Rasa loads it before it listens).
    option httpchk GET /
    http-check expect status 200
    default-server inter 1s fastinter 500ms downinter 1s fall 2 rise 1 maxconn $server_maxconn
    # socket.io long-polling: Engine.IO session id -> number of the server that made it (gpt0 of the table
    # below), learned from the handshake's answer (an http-response rule: it runs after wait-for-body, which
    # `stick store-response` would not); each request carrying ?sid= goes to that server while it is up.
    acl socketio path_beg $socketio_path/
    http-request set-var(txn.eio_handshake) bool(true) if socketio { url_param(transport) -m str polling } !{ url_param(sid) -m found }
    http-request track-sc1 url_param(sid) table eio_sessions if socketio { url_param(sid) -m found }
$use_servers
    http-response wait-for-body time 5s if { var(txn.eio_handshake) -m bool } { status 200 }
    http-response track-sc0 res.body,field(4,'\\"') table eio_sessions if { var(txn.eio_handshake) -m bool } { status 200 }
    http-response sc-set-gpt0(0) srv_id if { var(txn.eio_handshake) -m bool } { status 200 }
$servers

backend eio_sessions
    # Engine.IO sessions (socket.io long-polling): gpt0 is the id of the server that holds the session.
    stick-table type string len 64 size 1m expire 1h store gpt0
""")


class LoadBalancerError(RuntimeError):
    """HAProxy cannot be used as configured; the message says why."""


def default_maxconn() -> int:
    """As many connections as the open-files limit allows (HAProxy needs two descriptors per connection and
    refuses to start when it cannot raise its limit far enough), at most 20000."""
    import resource

    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    return max(256, min(20000, (hard if hard != resource.RLIM_INFINITY else 1 << 20) // 2 - 100))


def haproxy_config(bind_host: str, bind_port: int, servers: Sequence[Tuple[str, int]], stats_socket: Path,
                   socketio_path: str = "/socket.io", maxconn: Optional[int] = None) -> str:
    """The configuration: HAProxy on bind_host:bind_port in front of the named servers on 127.0.0.1."""
    maxconn = maxconn or default_maxconn()
    lines = "\n".join(f"    server {name} 127.0.0.1:{port} id {i} check" for i, (name, port) in enumerate(servers, 1))
    sticky = "\n".join(f"    use-server {name} if socketio {{ url_param(sid),table_gpt0(eio_sessions) -m int {i} }}"
                       for i, (name, _) in enumerate(servers, 1))
    host = "0.0.0.0" if bind_host in ("", "*") else bind_host  # "::" works as is: HAProxy splits at the last colon
    return CONFIG.substitute(bind=f"{host}:{bind_port}", servers=lines, use_servers=sticky, stats_socket=str(stats_socket),
                             socketio_path=socketio_path.rstrip("/"), maxconn=maxconn,
                             server_maxconn=max(100, maxconn // max(1, len(servers))))


def find_haproxy() -> Optional[str]:
    """Debian's haproxy binary (or one on PATH); None when it is not installed."""
    return shutil.which("haproxy") or next((p for p in HAPROXY_PATHS if os.access(p, os.X_OK)), None)


def check_config(binary: str, config: Path) -> None:
    """`haproxy -c`: a configuration HAProxy refuses is an error before anything listens."""
    done = subprocess.run([binary, "-c", "-f", str(config)], capture_output=True, text=True)
    if done.returncode != 0:
        said = (done.stderr or done.stdout).splitlines()
        alerts = [line for line in said if "[ALERT]" in line] or said
        raise LoadBalancerError(f"HAProxy refused its configuration {config}:\n" + "\n".join(alerts))


def admin_command(stats_socket: Path, command: str, timeout: float = 2.0) -> str:
    """What HAProxy answers `command` on its stats socket (e.g. "show stat"); "" when it does not answer."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(str(stats_socket))
            sock.sendall(command.encode() + b"\n")
            chunks: List[bytes] = []
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                chunks.append(chunk)
    except OSError:
        return ""
    return b"".join(chunks).decode(errors="replace")


def server_stats(stats_socket: Path) -> Dict[str, Dict[str, str]]:
    """{server name: its row of `show stat`} for the Rasa servers ("status": "UP"/"DOWN"/..., "stot": requests
    sent to it, ...); empty when HAProxy does not answer."""
    return parse_stat(admin_command(stats_socket, "show stat"))


def server_states(stats_socket: Path) -> Dict[str, str]:
    """{server name: "UP" / "DOWN" / "MAINT" / ...} of the Rasa servers."""
    return {name: row["status"].split()[0] for name, row in server_stats(stats_socket).items()}


def parse_stat(text: str) -> Dict[str, Dict[str, str]]:
    """The Rasa servers' rows in the CSV of `show stat` (the header line starts with "# ")."""
    rows = csv.DictReader(io.StringIO(text.lstrip("# ")))
    return {row["svname"]: row for row in rows
            if row.get("pxname") == "rasa_servers" and row.get("svname") not in ("FRONTEND", "BACKEND", None)
            and row.get("status")}
