"""Train the Rasa model only when what it is trained from changed."""
from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path
from typing import Iterable, List, Optional

# The project root, as bot/settings.py has it. Not imported from there: this module stays standard-library only,
# because ./run doctor (bot/doctor/) computes the model's fingerprint with it before .venv exists.
ROOT = Path(__file__).resolve().parent.parent

# Everything a trained model depends on: change any of these and the model is retrained.
TRAINING_INPUTS = ("config.yml", "domain.yml", "data", "bot/nlu")


def _files(paths: Iterable[str], root: Path) -> List[Path]:
    found: List[Path] = []
    for name in paths:
        path = root / name
        if path.is_file():
            found.append(path)
        elif path.is_dir():
            found.extend(p for p in sorted(path.rglob("*")) if p.is_file() and "__pycache__" not in p.parts)
    return found


def fingerprint(root: Path = ROOT) -> str:
    """A hash of the names and contents of the training inputs."""
    digest = hashlib.sha256()
    for path in _files(TRAINING_INPUTS, root):
        digest.update(str(path.relative_to(root)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def model_path(models_dir: Path, root: Path = ROOT) -> Path:
    """Where the model for the current training inputs lives (its name carries the fingerprint)."""
    return models_dir / f"shop-{fingerprint(root)[:16]}.tar.gz"


def ensure_model(models_dir: Path, root: Path = ROOT, quiet: bool = False) -> Path:
    """Return the model for the current inputs, training it first when there is none."""
    target = model_path(models_dir, root)
    if target.exists():
        return target
    models_dir.mkdir(parents=True, exist_ok=True)
    if not quiet:
        print("==> Training the model: config.yml, domain.yml or data/ changed "
              "(a few minutes on 2 cores; progress below)", flush=True)
    cmd = [sys.executable, "-m", "rasa", "train",
           "--config", str(root / "config.yml"), "--domain", str(root / "domain.yml"),
           "--data", str(root / "data"), "--out", str(models_dir),
           "--fixed-model-name", target.name[: -len(".tar.gz")]]
    result = subprocess.run(cmd, cwd=root, stdout=subprocess.DEVNULL if quiet else None)
    if result.returncode != 0 or not target.exists():
        raise RuntimeError(f"training failed (exit code {result.returncode}); see the messages above")
    _prune(models_dir, keep=target)
    return target


def _prune(models_dir: Path, keep: Path, max_models: int = 3) -> None:
    """Keep the newest few models so a changed-back data set retrains nothing."""
    models = sorted(models_dir.glob("shop-*.tar.gz"), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in [m for m in models if m != keep][max_models - 1:]:
        old.unlink(missing_ok=True)


def latest_model(models_dir: Path) -> Optional[Path]:
    models = sorted(models_dir.glob("*.tar.gz"), key=lambda p: p.stat().st_mtime)
    return models[-1] if models else None
