"""The ./run entry point, as a new user meets it."""
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import ROOT


def test_setup_without_python_310_says_what_to_install(tmp_path):
    if any(Path(d, "python3.10").exists() for d in ("/usr/bin", "/bin", "/usr/local/bin")):
        pytest.skip("this machine has a system-wide Python 3.10")
    for name in ("run", "requirements.txt", "requirements-nodeps.txt", "constraints.txt"):
        shutil.copy(ROOT / name, tmp_path / name)
    result = subprocess.run(["bash", str(tmp_path / "run")], env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"},
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 3
    assert "Python 3.10 was not found" in result.stderr
    assert "pyenv install 3.10" in result.stderr and "PYTHON=" in result.stderr
    assert not (tmp_path / ".venv").exists()


def test_unknown_command_is_refused_with_a_hint():
    result = subprocess.run([str(ROOT / "run"), "frobnicate"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "unknown command 'frobnicate'" in result.stderr


def test_run_refuses_two_redis_for_the_outbox_with_a_clear_message(tmp_path):
    env = {"HOME": str(tmp_path), "PATH": "/usr/bin:/bin", "BOT_RUN_DIR": str(tmp_path / "run"),
           "REDIS_URL": "redis://127.0.0.1:6379/0", "HANDOFF_REDIS_URL": "redis://127.0.0.1:6399/0"}
    result = subprocess.run([str(ROOT / "run"), "run", "--no-train"], capture_output=True, text=True, timeout=120,
                            env=env)
    assert result.returncode == 2
    assert "REDIS_URL" in result.stderr and "HANDOFF_REDIS_URL" in result.stderr and "same Redis" in result.stderr
    assert not (tmp_path / "run" / "run.lock").exists()  # refused before anything started
