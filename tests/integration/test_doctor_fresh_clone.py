"""./run doctor on a fresh clone of the project, as a newcomer runs it.

Before set-up (no .venv, no model, no secrets, nothing running) it says what is missing and what is fine, exits 1
and creates nothing. After set-up it says every service is healthy and exits 0: that check runs in
tests/integration/test_stack.py (`doctor_after_set_up` below), on the stack that module's tests already run, so
that the suite starts no second one. Neither installs nor trains anything: the clone is given the project's .venv
and the model the other tests trained, as ./run would have made them."""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Dict, List, Mapping, Tuple

from tests.conftest import ROOT, free_port


def fresh_clone(tmp_path: Path) -> Path:
    """A git clone of the code under test: HEAD, with the uncommitted changes to tracked files applied."""
    target = tmp_path / "clone"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(target)], check=True)
    changes = subprocess.run(["git", "diff", "--binary", "HEAD"], cwd=ROOT, capture_output=True, check=True).stdout
    if changes:
        subprocess.run(["git", "apply", "--whitespace=nowarn"], cwd=target, input=changes, check=True)
    return target


def doctor(clone: Path, env: Mapping[str, str]) -> Tuple[int, List[str]]:
    """`./run doctor` in the clone: its exit code and its lines."""
    done = subprocess.run(["./run", "doctor"], cwd=clone, env=dict(env), capture_output=True, text=True, timeout=120)
    assert done.stderr == "", done.stderr
    return done.returncode, done.stdout.splitlines()


def line_about(lines: List[str], topic: str) -> Tuple[str, str]:
    """(level, text) of the line about `topic`."""
    found = [line for line in lines if line[6:].startswith(topic + " ")]
    assert len(found) == 1, f"no single line about {topic!r} in:\n" + "\n".join(lines)
    return found[0].split()[0], found[0][6 + 18 + 1:]


def files(root: Path) -> Dict[str, Tuple[int, int]]:
    """Every file and folder under `root` with its size and modification time."""
    found = {}
    for folder, dirs, names in os.walk(root):
        for name in dirs + names:
            path = os.path.join(folder, name)
            info = os.lstat(path)
            found[os.path.relpath(path, root)] = (info.st_size, info.st_mtime_ns)
    return found


def base_env(tmp_path: Path) -> Dict[str, str]:
    """A newcomer's environment: PATH and HOME only."""
    return {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", str(tmp_path)), "LANG": "C.UTF-8"}


def test_before_set_up_it_says_what_is_missing_exits_1_and_creates_nothing(tmp_path: Path) -> None:
    clone = fresh_clone(tmp_path)
    ports = {name: str(free_port()) for name in ("RASA_PORT", "ACTION_PORT", "HANDOFF_PORT", "REDIS_PORT")}
    before = files(clone)

    code, lines = doctor(clone, {**base_env(tmp_path), **ports})

    assert files(clone) == before, "./run doctor created or changed files"
    assert code == 1
    assert line_about(lines, ".venv") == ("fix", "missing: ./run creates it and installs the requirements (about "
                                                 "2-3 minutes; needs Python 3.10)")
    assert line_about(lines, "model") == ("fix", "no trained model in models/: run ./run train (a few minutes on 2 "
                                                 "cores; ./run also trains at start)")
    level, text = line_about(lines, "secrets")
    assert level == "note" and text.startswith("not generated yet: ./run creates .data/secrets.env (mode 0600)")
    level, text = line_about(lines, "Python 3.10")
    assert (level, "(Python 3.10." in text) in (("ok", True), ("fix", False)), text
    for name, port in (("Rasa server", ports["RASA_PORT"]), ("action server", ports["ACTION_PORT"]),
                       ("handoff service", ports["HANDOFF_PORT"])):
        level, text = line_about(lines, name)
        assert level == "fix" and f"nothing listens on port {port}" in text and "start everything with ./run" in text
        assert line_about(lines, f"port {port}")[0] == "ok"
    assert line_about(lines, "Redis") == ("fix", f"the embedded Redis on port {ports['REDIS_PORT']} is not running: "
                                                 "./run starts it (data in .data/redis)")
    assert line_about(lines, "redis-server")[0] == ("ok" if shutil.which("redis-server") else "note")
    has_haproxy = shutil.which("haproxy") or os.access("/usr/sbin/haproxy", os.X_OK)
    assert line_about(lines, "HAProxy")[0] == ("ok" if has_haproxy else "note")
    assert line_about(lines, "Chromium")[0] == ("ok" if shutil.which("chromium") else "note")
    fixes = sum(line.startswith("fix ") for line in lines)
    assert lines[-1].startswith(f"{fixes} things to fix (the lines marked fix), ")


def doctor_after_set_up(stack, trained_model: Path, tmp_path: Path) -> None:
    """./run doctor in a fresh clone set up as ./run sets it up (.venv, a model trained from this data), pointed
    at the running `stack` (tests.integration.running.RunCommand) by the settings the stack runs with: every
    service healthy, nothing to fix, exit code 0."""
    clone = fresh_clone(tmp_path)
    (clone / ".venv").symlink_to(ROOT / ".venv")
    (clone / "models").mkdir()
    (clone / "models" / trained_model.name).symlink_to(trained_model)
    names = ("RASA_PORT", "ACTION_PORT", "HANDOFF_PORT", "REDIS_PORT", "BOT_RUN_DIR", "BOT_DATA_DIR",
             "REDIS_PASSWORD", "CHAT_SESSION_SECRET", "RASA_SERVERS")
    env = {**base_env(tmp_path), **{name: stack.env[name] for name in names if name in stack.env}}

    code, lines = doctor(clone, env)

    assert code == 0, "\n".join(lines)
    assert line_about(lines, ".venv")[0] == "ok"
    assert line_about(lines, "model") == ("ok", f"models/{trained_model.name} is trained from the current "
                                                "config.yml, domain.yml, data/ and bot/nlu/")
    assert line_about(lines, "secrets")[0] == "ok"
    for name, variable in (("Rasa server", "RASA_PORT"), ("action server", "ACTION_PORT"),
                           ("handoff service", "HANDOFF_PORT")):
        level, text = line_about(lines, name)
        assert level == "ok" and text.startswith(f"healthy: http://127.0.0.1:{stack.env[variable]}/"), text
        assert line_about(lines, f"port {stack.env[variable]}") == ("ok", f"{variable}: in use by this project's "
                                                                          f"{name}")
    assert line_about(lines, "Redis") == ("ok", f"the embedded Redis on port {stack.env['REDIS_PORT']} answers PING "
                                                "(password accepted)")
    assert lines[-1].startswith("Nothing to fix")
