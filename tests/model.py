"""The trained model shared by the content and integration tests (trained once, like the run command does)."""
from __future__ import annotations

from pathlib import Path

import pytest

from bot.settings import Settings
from bot.training import ensure_model


@pytest.fixture(scope="session")
def trained_model() -> Path:
    return ensure_model(Settings.from_env().models_dir, quiet=False)
