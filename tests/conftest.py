"""Shared test fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures"
# The real public sample files (tests/fixtures/reference/README.md names each file's source), kept in the
# repository byte for byte: the tests read them as they are and depend on nothing outside the repository.
REFERENCE = FIXTURES / "reference"
# the settings' one default each (config/settings.yaml): tests pass them where the code takes no default
SETTINGS = yaml.safe_load((REPO / "config" / "settings.yaml").read_text(encoding="utf-8"))
DISCLOSURE = SETTINGS["disclosure"]  # min_respondents, min_schools
GATES = dict(SETTINGS["gates"])  # the mart gate's tolerances, each with its one default


@pytest.fixture(scope="session")
def reference() -> Path:
    if not REFERENCE.exists():
        pytest.fail(f"reference files not found at {REFERENCE}")
    return REFERENCE


@pytest.fixture(scope="session")
def dbt_manifest(tmp_path_factory) -> Path:
    """The dbt manifest the code location needs at import (`dbt parse`, about 3 s when stale)."""
    import os

    os.environ.setdefault("BELONGING_HOME", str(tmp_path_factory.mktemp("home")))
    os.environ.setdefault("DO_NOT_TRACK", "1")
    from orchestration.dbt import ensure_manifest

    return ensure_manifest()


@pytest.fixture(autouse=True)
def _restore_home_env():
    """`belonging` commands run in process set BELONGING_HOME and DAGSTER_HOME: put them back after each test."""
    import os

    saved = {k: os.environ.get(k) for k in ("BELONGING_HOME", "DAGSTER_HOME")}
    yield
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
