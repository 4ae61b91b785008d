"""Shared test fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures"
# The real sample files shipped beside the project (../shared/reference): read byte for byte, never copied.
REFERENCE = REPO.parent / "shared" / "reference"


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
