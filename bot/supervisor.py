"""Start Redis, the handoff service, the action server and the Rasa servers as child processes (with
RASA_SERVERS >= 2, HAProxy in front of them: bot/load_balancer.py); stop them all together. One Stack owns
start, readiness, restart and stop of every child process; the processes themselves, ports and health probes
are in bot/processes.py, the configuration in bot/settings.py."""
from __future__ import annotations

import fcntl
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Callable, Dict, List, Mapping, Optional

from bot.load_balancer import (LoadBalancerError, check_config, find_haproxy, haproxy_config, server_states,
                               stats_socket_path)
from bot.processes import (RESTART_LIMIT, RESTARTABLE, Child, die_with_parent, distinct_free_ports, http_ok, kind,
                           port_is_free)
from bot.redis_server import redis_command, wait_for_redis
from bot.run_secrets import load_or_create
from bot.settings import ROOT, RedisTarget, Settings
from bot.training import ensure_model, latest_model


class AlreadyRunning(RuntimeError):
    """Another run command holds the run lock."""


class StartupError(RuntimeError):
    """A service could not start; the message says which and why."""


def rasa_command(model: Path, interface: str, port: int) -> List[str]:
    return [sys.executable, "-m", "rasa", "run", "--model", str(model), "--endpoints", "endpoints.yml",
            "--credentials", "credentials.yml", "--interface", interface, "--port", str(port), "--cors", "*"]


NO_HAPROXY = ("warning: RASA_SERVERS={n} asks for {n} Rasa servers behind HAProxy, and HAProxy is not installed "
              "(apt-get install haproxy, as root; `./run start` run as root installs it): starting ONE Rasa server.")


@dataclass
class Stack:
    """The running services, in start order."""

    settings: Settings
    children: List[Child] = field(default_factory=list)
    lock_file: Optional[IO[str]] = None
    redis_url: Optional[str] = None  # once started: the URL every service uses, password included
    rasa_ports: List[int] = field(default_factory=list)  # where each Rasa server listens
    haproxy_socket: Optional[Path] = None  # HAProxy's stats socket, with 2 or more Rasa servers

    # ---- lock -------------------------------------------------------------------------
    def acquire_lock(self) -> None:
        private_files(self.settings)
        self.settings.run_dir.mkdir(parents=True, exist_ok=True)
        lock = open(self.settings.run_dir / "run.lock", "a+")
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.close()
            info = self._read_state()
            chat = info.get("chat_page_url") or info.get("rest_url")
            where = f" (pid {info.get('pid')}, chat at {chat})" if info else ""
            raise AlreadyRunning(f"the assistant is already running{where}; stop it with Ctrl-C first")
        self.lock_file = lock

    def _state_path(self) -> Path:
        return self.settings.run_dir / "run.json"

    def _read_state(self) -> Dict[str, object]:
        try:
            return json.loads(self._state_path().read_text())
        except (OSError, ValueError):
            return {}

    # ---- processes --------------------------------------------------------------------
    def spawn(self, name: str, cmd: List[str], env: Dict[str, str]) -> Child:
        log_dir = self.settings.run_dir / "logs"
        log_dir.mkdir(parents=True, exist_ok=True)
        log_path = log_dir / f"{name}.log"
        log = open(log_path, "ab")
        os.chmod(log_path, 0o600)  # a log file from before the umask of private_files
        log.write(f"\n==== {time.strftime('%Y-%m-%d %H:%M:%S')} {' '.join(cmd)}\n".encode())
        log.flush()
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, preexec_fn=die_with_parent)
        child = Child(name, proc, log_path, log, cmd, env)
        self.children.append(child)
        return child

    def restart(self, child: Child) -> bool:
        """Start a stateless service again after it died (the handoff service, the action server and the
        Rasa servers keep their state in Redis; HAProxy has none that matters: a long-polling customer
        reconnects); False when it is not one of those or died RESTART_LIMIT times in a minute. A Rasa server
        takes its usual 30-60 s to load again: with several, HAProxy's health check routes around it."""
        now = time.monotonic()
        recent = [t for t in child.restarts if now - t < 60]
        if kind(child.name) not in RESTARTABLE or len(recent) >= RESTART_LIMIT:
            return False
        print(f"warning: {child.name} stopped unexpectedly (exit code {child.proc.returncode}); restarting it",
              file=sys.stderr, flush=True)
        time.sleep(float(os.environ.get("BOT_RESTART_DELAY_SECONDS", "1")))
        child.log.close()
        index = self.children.index(child)
        self.children.remove(child)
        fresh = self.spawn(child.name, child.cmd, child.env)
        self.children.remove(fresh)
        self.children.insert(index, fresh)  # same place in the stop order
        fresh.restarts = recent + [now]
        return True

    def wait_until(self, child: Child, ready: Callable[[], bool], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not ready():
            if child.proc.poll() is not None:
                raise StartupError(f"{child.name} exited with code {child.proc.returncode} while starting:\n"
                                   f"{child.tail()}\n(full log: {child.log_path})")
            if time.monotonic() > deadline:
                raise StartupError(f"{child.name} was not ready after {timeout:.0f} s (log: {child.log_path})")
            time.sleep(0.25)

    def stop(self) -> None:
        """Stop children in reverse start order: HAProxy, the Rasa servers (together), actions, the handoff
        service, then Redis (which saves its data)."""
        waves: List[List[Child]] = []
        for child in reversed(self.children):
            if waves and kind(waves[-1][0].name) == kind(child.name):
                waves[-1].append(child)
            else:
                waves.append([child])
        for wave in waves:
            for child in wave:
                if child.proc.poll() is None:
                    child.proc.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + 15
            for child in wave:
                try:
                    child.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    child.proc.kill()
                    child.proc.wait()
                child.log.close()
        self.children.clear()
        if self.lock_file is not None:
            self._state_path().unlink(missing_ok=True)
            self.lock_file.close()
            self.lock_file = None

    def first_exited(self) -> Optional[Child]:
        return next((c for c in self.children if c.proc.poll() is not None), None)

    # ---- start ------------------------------------------------------------------------
    def start(self, train: bool = True) -> Dict[str, str]:
        s = self.settings
        ports = [("RASA_PORT", s.rasa_port), ("ACTION_PORT", s.action_port), ("HANDOFF_PORT", s.handoff_port)]
        if not s.redis_url:
            ports.append(("REDIS_PORT", s.redis_port))
        for var, port in ports:
            if not port_is_free(port):
                raise StartupError(f"port {port} is already in use; stop what uses it or set {var} to another port")

        t0 = time.monotonic()
        private_files(s)
        env = {**os.environ, "RASA_TELEMETRY_ENABLED": "false"}
        check_policy_tables(env)
        secrets = load_or_create(s.data_dir, env)
        env.update(secrets)
        if s.redis_url:
            redis_url = s.redis_url
            print(f"==> Using the external Redis at {RedisTarget.from_url(redis_url).host}", flush=True)
        else:
            redis_url = f"redis://:{secrets['REDIS_PASSWORD']}@127.0.0.1:{s.redis_port}/0"
            print(f"==> Starting Redis on port {s.redis_port} (data in {s.data_dir / 'redis'})", flush=True)
            child = self.spawn("redis", redis_command(s.redis_port, s.data_dir / "redis",
                                                      password=secrets["REDIS_PASSWORD"]), env)
        wait_for_redis(redis_url, proc=None if s.redis_url else child.proc)
        self.redis_url = redis_url
        target = RedisTarget.from_url(redis_url)
        env.update(REDIS_URL=redis_url, REDIS_HOST=target.host, REDIS_PORT=str(target.port),
                   REDIS_DB=str(target.db), REDIS_PASSWORD=target.password,
                   ACTION_ENDPOINT_URL=f"http://127.0.0.1:{s.action_port}/webhook")
        env.update(HANDOFF_REDIS_URL=redis_url, HANDOFF_PORT=str(s.handoff_port), HANDOFF_HOST=handoff_host(env),
                   HANDOFF_URL=f"http://127.0.0.1:{s.handoff_port}")
        seeded = ""
        if env.get("HANDOFF_SEED_DEMO_TEAM", "1") != "0":
            seed = subprocess.run([sys.executable, "-m", "handoff.accounts", "seed", "handoff/demo_team.yml"],
                                  cwd=ROOT, env={**env, "HANDOFF_PASSWORD": secrets["HANDOFF_DEMO_PASSWORD"]},
                                  capture_output=True, text=True)
            if seed.returncode != 0:
                raise StartupError(f"could not create the demo team: {seed.stderr.strip()}")
            seeded = secrets["HANDOFF_DEMO_PASSWORD"]
        print(f"==> Starting the handoff service on port {s.handoff_port}", flush=True)
        handoff = self.spawn("handoff", [sys.executable, "-m", "handoff"], env)
        self.wait_until(handoff, lambda: http_ok(f"http://127.0.0.1:{s.handoff_port}/health"), timeout=60)

        model = ensure_model(s.models_dir) if train else _existing_model(s)
        t_services = time.monotonic()
        servers = self.rasa_server_count()
        print(f"==> Starting the action server and {_servers_phrase(servers)} (about 30-60 s)", flush=True)
        actions = self.spawn("actions", [sys.executable, "-m", "actions", "--port", str(s.action_port)], env)
        self.start_rasa_servers(model, servers, env)
        self.wait_until(actions, lambda: http_ok(f"http://127.0.0.1:{s.action_port}/health"), timeout=120)
        self.wait_rasa_ready(timeout=300 + 60 * (servers - 1))

        urls = {
            "pid": str(os.getpid()),
            "chat_page_url": f"http://localhost:{s.rasa_port}/chat/",
            "rest_url": f"http://localhost:{s.rasa_port}/webhooks/rest/webhook",
            "socketio_url": f"http://localhost:{s.rasa_port}/socket.io",
            "redis": redis_url if not target.password else redis_url.replace(target.password, "***"),
            "handoff_url": f"http://localhost:{s.handoff_port}",
            "console_url": f"http://localhost:{s.handoff_port}/console/",
            "dashboard_url": f"http://localhost:{s.handoff_port}/dashboard/",
            "demo_password": seeded,
            "rasa_servers": str(len(self.rasa_ports)),
            "haproxy_socket": str(self.haproxy_socket or ""),
            "startup_seconds": f"{time.monotonic() - t0:.1f}",
            "services_seconds": f"{time.monotonic() - t_services:.1f}",
        }
        save_state(self._state_path(), urls)
        return urls

    # ---- Rasa servers -----------------------------------------------------------------
    def rasa_server_count(self) -> int:
        """RASA_SERVERS, or 1 (with a warning) when HAProxy, which 2 or more need, is not installed."""
        wanted = self.settings.rasa_servers
        if wanted >= 2 and find_haproxy() is None:
            print(NO_HAPROXY.format(n=wanted), file=sys.stderr, flush=True)
            return 1
        return wanted

    def start_rasa_servers(self, model: Path, count: int, env: Dict[str, str]) -> None:
        """One Rasa server on RASA_PORT; or `count` of them on free loopback ports with HAProxy on RASA_PORT
        (BOT_INTERFACE) in front of them. They load their models at the same time (one core each)."""
        s = self.settings
        if count == 1:
            self.rasa_ports = [s.rasa_port]
            self.spawn("rasa", rasa_command(model, s.interface, s.rasa_port), env)
            return
        binary = find_haproxy()
        assert binary is not None  # rasa_server_count checked it
        self.rasa_ports = distinct_free_ports(count)
        names = [(f"rasa-{i}", port) for i, port in enumerate(self.rasa_ports, 1)]
        # "-rasa": bench/chaos_stack.py puts its own HAProxy (haproxy.cfg) in front of the handoff service
        self.haproxy_socket = stats_socket_path(s.run_dir)
        config = s.run_dir / "haproxy-rasa.cfg"
        config.write_text(haproxy_config(s.interface, s.rasa_port, names, self.haproxy_socket))
        try:
            check_config(binary, config)
        except LoadBalancerError as exc:
            raise StartupError(str(exc)) from None
        for name, port in names:
            self.spawn(name, rasa_command(model, "127.0.0.1", port), env)
        self.spawn("haproxy-rasa", [binary, "-db", "-f", str(config)], env)

    def rasa_children(self) -> List[Child]:
        return [c for c in self.children if kind(c.name) == "rasa"]

    def wait_rasa_ready(self, timeout: float) -> None:
        """Every Rasa server answers (it has loaded its model) and, with HAProxy, HAProxy sees each one up:
        only then is the banner printed."""
        deadline = time.monotonic() + timeout
        for child, port in zip(self.rasa_children(), self.rasa_ports):
            self.wait_until(child, lambda p=port: http_ok(f"http://127.0.0.1:{p}/"),
                            timeout=max(1.0, deadline - time.monotonic()))
        if self.haproxy_socket is not None:
            haproxy = next(c for c in self.children if c.name == "haproxy-rasa")
            names = {c.name for c in self.rasa_children()}
            self.wait_until(haproxy, lambda: all_up(server_states(self.haproxy_socket), names), timeout=30)


def all_up(states: Mapping[str, str], names: "set[str]") -> bool:
    return bool(names) and all(states.get(name) == "UP" for name in names)


def _servers_phrase(count: int) -> str:
    return "the Rasa server" if count == 1 else f"{count} Rasa servers behind HAProxy"


def handoff_host(env: Mapping[str, str]) -> str:
    """The handoff service's interface: HANDOFF_HOST, else the loopback only (BOT_INTERFACE is the Rasa
    server's; the agents' console and API are opened to the network only on purpose)."""
    return env.get("HANDOFF_HOST") or "127.0.0.1"


def save_state(path: Path, urls: Dict[str, str]) -> None:
    """The running stack's addresses for a second start's message: owner-only, and never the demo password
    (that is printed once and kept in the data folder's secrets.env, mode 0600)."""
    state = {k: v for k, v in urls.items() if k != "demo_password"}
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # an older run.json may have been readable by others
    with os.fdopen(fd, "w") as f:
        f.write(json.dumps(state))


def private_files(s: Settings) -> None:
    """What the run command and its services write (logs, Redis's data, secrets, run.json) is readable by the
    service user only: umask 077 for this process and its children, and the folders made 0700."""
    os.umask(0o077)
    for folder in (s.run_dir, s.run_dir / "logs", s.data_dir):
        folder.mkdir(parents=True, exist_ok=True)
        os.chmod(folder, 0o700)


def _team_line(urls: Dict[str, str]) -> str:
    if not urls.get("demo_password"):
        return "(demo team not created: HANDOFF_SEED_DEMO_TEAM=0)"
    return (f"demo team ann, ben, tom, bea, vera, sam (supervisor); password {urls['demo_password']} "
            f"(.data/secrets.env)")


def _existing_model(s: Settings) -> Path:
    model = latest_model(s.models_dir)
    if model is None:
        raise StartupError(f"no trained model in {s.models_dir}; run ./run train")
    return model


def check_policy_tables(env: Dict[str, str]) -> None:
    """Check policy/*.yml before anything starts (python -m common): a clear error, not a failing action later."""
    proc = subprocess.run([sys.executable, "-m", "common"], env=env, cwd=ROOT, capture_output=True, text=True)
    if proc.returncode != 0:
        message = (proc.stderr.strip().splitlines() or ["the policy check failed"])[-1]
        raise StartupError(message[len("error: "):] if message.startswith("error: ") else message)


def _servers_line(stack: Stack) -> str:
    ports = stack.rasa_ports
    if len(ports) == 1:
        return "1 (RASA_SERVERS=2 or more: several behind HAProxy)"
    where = ", ".join(str(p) for p in ports)
    return f"{len(ports)}, behind HAProxy on port {stack.settings.rasa_port} (the servers: 127.0.0.1 ports {where})"


def run(settings: Settings, train: bool = True) -> int:
    """The run command: start everything, print where to chat, stop everything on Ctrl-C."""
    stack = Stack(settings)
    try:
        stack.acquire_lock()
    except AlreadyRunning as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1

    stopping = {"signal": None}

    def on_signal(signum: int, _frame: object) -> None:
        stopping["signal"] = signum
        raise KeyboardInterrupt

    # Installed explicitly: a job started in the background by a script inherits SIGINT as ignored.
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        urls = stack.start(train=train)
        print(f"""
==> The assistant is ready ({urls['startup_seconds']} s; services {urls['services_seconds']} s).
    Rasa servers:            {_servers_line(stack)}
    Customer chat page:      {urls['chat_page_url']}
    Agent console:           {urls['console_url']}  (supervisors' dashboard: {urls['dashboard_url']})
    Chat in this terminal:   ./run chat
    REST channel:            POST {urls['rest_url']}  {{"sender": "<handle>", "message": "hi"}}
                             (a handle: POST {urls['rest_url'].rsplit('/', 1)[0]}/conversations)
    socket.io channel:       {urls['socketio_url']}  (web-chat widgets on other origins: CHAT_ALLOWED_ORIGINS)
    Handoff service (API):   {urls['handoff_url']}/v1  (OpenAPI: {urls['handoff_url']}/v1/openapi.json,
                             metrics: {urls['handoff_url']}/metrics)
    Agents log in:           POST {urls['handoff_url']}/v1/agents/login {{"agent_id": "ann", "password": "..."}}
                             {_team_line(urls)}
    Logs:                    {settings.run_dir / 'logs'}
    Press Ctrl-C to stop everything.""", flush=True)
        while True:
            dead = stack.first_exited()
            if dead is not None and stack.restart(dead):
                continue
            if dead is not None:
                print(f"error: {dead.name} stopped unexpectedly (exit code {dead.proc.returncode}):\n"
                      f"{dead.tail()}", file=sys.stderr)
                return 1
            time.sleep(0.5)
    except KeyboardInterrupt:
        print("\n==> Stopping (Rasa, actions, handoff service, Redis)...", flush=True)
        return 0
    except (StartupError, TimeoutError, RuntimeError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        stack.stop()
        print("==> Stopped.", flush=True)
