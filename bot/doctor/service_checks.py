"""What `./run` starts: the ports it listens on, Redis, and the health of the Rasa server, the action server and the
handoff service (the same addresses bot/supervisor.py waits on before it says the assistant is ready)."""
from __future__ import annotations

import json
import os
import socket
import ssl
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Tuple
from urllib.parse import unquote, urlparse

from bot.doctor.report import Config, Finding, fix, hide_password, ok

HTTP_TIMEOUT = 5.0  # a Rasa server busy with a message answers its root path within this
REDIS_TIMEOUT = 3.0


@dataclass(frozen=True)
class Service:
    name: str  # as the user knows it
    variable: str  # the setting that moves its port
    path: str  # its health address


SERVICES = (
    Service("Rasa server", "RASA_PORT", "/"),  # "Hello from Rasa: 3.6.x" (HAProxy forwards it with 2+ servers)
    Service("action server", "ACTION_PORT", "/health"),  # rasa-sdk: {"status": "ok"}
    Service("handoff service", "HANDOFF_PORT", "/health"),  # handoff/app.py: {"status": "ok", "redis": "ok"}, or 503
)


@dataclass(frozen=True)
class Probe:
    """What answers on a port: `ours` when it is the service this port is for, `healthy` when it says so."""

    ours: bool
    healthy: bool
    detail: str


def port_of(config: Config, service: Service) -> int:
    return {"RASA_PORT": config.rasa_port, "ACTION_PORT": config.action_port,
            "HANDOFF_PORT": config.handoff_port}[service.variable]


# ---- probes -----------------------------------------------------------------------------------------------------
def http_get(url: str, timeout: float = HTTP_TIMEOUT) -> Optional[Tuple[int, bytes]]:
    """(status, body), or None when nothing answers HTTP there."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status, resp.read(4096)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(4096)
    except (OSError, ValueError):
        return None


def probe_service(service: Service, port: int) -> Optional[Probe]:
    """Who answers on `port`: None when nothing listens on the loopback interface."""
    if not listening(port):
        return None
    answer = http_get(f"http://127.0.0.1:{port}{service.path}")
    if answer is None:
        return Probe(False, False, "it does not answer HTTP")
    status, body = answer
    if service.variable == "RASA_PORT":
        text = body.decode(errors="replace").strip()
        if status == 200 and text.startswith("Hello from Rasa"):
            return Probe(True, True, text)
        if status == 503 and "No server is available" in text:  # HAProxy (RASA_SERVERS >= 2) with no server up
            return Probe(True, False, "503 from HAProxy: none of the Rasa servers behind it is up")
        return Probe(False, False, f"it answers {status} at /, not \"Hello from Rasa\"")
    try:
        doc = json.loads(body)
    except ValueError:
        doc = None
    if not isinstance(doc, dict) or "status" not in doc:
        return Probe(False, False, f"it answers {status} at {service.path}, not a health report")
    if ("redis" in doc) != (service.variable == "HANDOFF_PORT"):
        return Probe(False, False, f"it answers {service.path} like another service ({json.dumps(doc)})")
    if status == 200 and doc.get("status") == "ok":
        return Probe(True, True, json.dumps(doc))
    return Probe(True, False, f"{status} {json.dumps(doc)}")


def listening(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(1.0)
        return sock.connect_ex((host, port)) == 0


def port_is_free(port: int) -> bool:
    """Whether the run command could listen on `port` (bot/supervisor.py: port_is_free)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("0.0.0.0", port))
        except OSError:
            return False
    return True


def listener(port: int) -> str:
    """" (pid 123, nginx)" for the process listening on `port` when /proc tells (Linux, same user or root)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            cols = row.split()
            if len(cols) > 9 and cols[3] == "0A" and int(cols[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(f"socket:[{cols[9]}]")
    if not inodes:
        return ""
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            for fd in (proc / "fd").iterdir():
                if os.readlink(fd) in inodes:
                    return f" (pid {proc.name}, {(proc / 'comm').read_text().strip()})"
        except OSError:
            continue
    return ""


def redis_command(*args: str) -> bytes:
    parts = [f"*{len(args)}\r\n".encode()]
    for arg in args:
        data = arg.encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(parts)


def redis_ping(host: str, port: int, password: str = "", username: str = "", tls: bool = False,
               timeout: float = REDIS_TIMEOUT) -> str:
    """Redis's answer to PING, after AUTH when there is a password: "+PONG", or its error ("-NOAUTH ...").
    Raises OSError when nothing answers (refused, timed out, closed)."""
    with socket.create_connection((host, port), timeout=timeout) as raw:
        sock = ssl.create_default_context().wrap_socket(raw, server_hostname=host) if tls else raw
        stream = sock.makefile("rwb")
        if password:
            stream.write(redis_command("AUTH", *([username] if username else []), password))
            stream.flush()
            line = stream.readline()
            if not line.startswith(b"+"):
                if not line:
                    raise ConnectionError("the connection was closed")
                return line.decode(errors="replace").strip()
        stream.write(redis_command("PING"))
        stream.flush()
        line = stream.readline()
        if not line:
            raise ConnectionError("the connection was closed")
        return line.decode(errors="replace").strip()


def is_redis_answer(line: str) -> bool:
    return line == "+PONG" or line.startswith(("-NOAUTH", "-WRONGPASS", "-ERR", "-LOADING"))


# ---- checks -----------------------------------------------------------------------------------------------------
def check_ports(config: Config) -> List[Finding]:
    """Each port the run command listens on: free, or in use by this project's service, or by another program."""
    ports: List[Tuple[str, str, int]] = [(s.variable, s.name, port_of(config, s)) for s in SERVICES]
    if not config.redis_url:
        ports.append(("REDIS_PORT", "embedded Redis", config.redis_port))
    out: List[Finding] = []
    seen: Dict[int, str] = {}
    for variable, name, port in ports:
        topic = f"port {port}"
        if port in seen:
            out.append(fix(topic, f"{seen[port]} and {variable} are both {port}: give each service its own port"))
            continue
        seen[port] = variable
        if port_is_free(port):
            out.append(ok(topic, f"{variable}: free for the {name}"))
            continue
        if variable == "REDIS_PORT":
            try:
                ours = is_redis_answer(redis_ping("127.0.0.1", port, timeout=REDIS_TIMEOUT))
            except OSError:
                ours = False
        else:
            probe = probe_service(next(s for s in SERVICES if s.variable == variable), port)
            ours = probe is not None and probe.ours
        if ours:
            out.append(ok(topic, f"{variable}: in use by this project's {name}"))
        else:
            out.append(fix(topic, f"{variable}: in use by another program{listener(port)}: stop it, or set "
                                  f"{variable} to a free port"))
    return out


def redis_target(config: Config) -> Tuple[str, int, str, str, bool, str]:
    """(host, port, username, password, tls, how the user names it) of the Redis the services use."""
    if config.redis_url:
        url = urlparse(config.redis_url)
        return (url.hostname or "127.0.0.1", url.port or 6379, unquote(url.username or ""),
                unquote(url.password or ""), url.scheme == "rediss", f"REDIS_URL {hide_password(config.redis_url)}")
    password = config.env.get("REDIS_PASSWORD") or stored_secret(config.data_dir / "secrets.env", "REDIS_PASSWORD")
    return "127.0.0.1", config.redis_port, "", password, False, f"the embedded Redis on port {config.redis_port}"


def stored_secret(path: Path, name: str) -> str:
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return ""
    return next((v.strip() for k, _, v in (line.partition("=") for line in lines) if k.strip() == name), "")


def check_redis(config: Config) -> List[Finding]:
    host, port, username, password, tls, named = redis_target(config)
    try:
        answer = redis_ping(host, port, password, username, tls)
    except (OSError, ssl.SSLError) as exc:
        if config.redis_url:
            return [fix("Redis", f"nothing answers at {host}:{port} ({named}: {exc}): start that Redis, or "
                                 "correct REDIS_URL")]
        return [fix("Redis", f"{named} is not running: ./run starts it (data in "
                             f"{config.shown(config.data_dir / 'redis')})")]
    if answer == "+PONG":
        return [ok("Redis", f"{named} answers PING" + (" (password accepted)" if password else ""))]
    if answer.startswith("-NOAUTH"):
        if config.redis_url:
            return [fix("Redis", f"{named} wants a password: put it in REDIS_URL (redis://:PASSWORD@{host}:{port}/0)")]
        return [fix("Redis", f"the Redis on port {port} wants a password, and there is no REDIS_PASSWORD (environment"
                             f" or {config.shown(config.data_dir / 'secrets.env')}): is it another program's Redis? "
                             "Stop it, or set REDIS_PORT to a free port")]
    if answer.startswith("-WRONGPASS") or "password" in answer.lower():
        where = "REDIS_URL" if config.redis_url else "REDIS_PASSWORD (environment or secrets.env)"
        return [fix("Redis", f"{named} refused the password in {where} ({answer[1:]}): correct it")]
    return [fix("Redis", f"{named} answered PING with {answer!r}: is it a Redis server?")]


def check_services(config: Config) -> List[Finding]:
    """The addresses the run command waits on before it prints "The assistant is ready"."""
    out: List[Finding] = []
    for service in SERVICES:
        port = port_of(config, service)
        url = f"http://127.0.0.1:{port}{service.path}"
        probe = probe_service(service, port)
        if probe is None:
            out.append(fix(service.name, f"not running (nothing listens on port {port}, {service.variable}): start "
                                         "everything with ./run"))
        elif not probe.ours:
            out.append(fix(service.name, f"another program is on port {port}: {probe.detail}; see the port line"))
        elif probe.healthy:
            out.append(ok(service.name, f"healthy: {url} answers {probe.detail}"))
        elif service.variable == "HANDOFF_PORT":
            out.append(fix(service.name, f"{url} answers {probe.detail}: it cannot reach Redis; see the Redis line, "
                                         "and its log in " + config.shown(config.run_dir / "logs" / "handoff.log")))
        else:
            out.append(fix(service.name, f"{url} answers {probe.detail}: see its log in "
                                         f"{config.shown(config.run_dir / 'logs')}"))
    return out
