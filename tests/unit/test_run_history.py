"""The refresh writes Dagster's SQLite run history without fsync, and nothing else it opens."""

from __future__ import annotations

from sqlalchemy import create_engine, text

from orchestration.refresh import unsynced_run_history


def _synchronous(path) -> int:
    engine = create_engine(f"sqlite:///{path}")
    with engine.connect() as conn:
        value = conn.execute(text("PRAGMA synchronous")).scalar()
    engine.dispose()
    return value


def test_only_the_dagster_home_is_written_without_fsync(tmp_path):
    home = tmp_path / "home" / "dagster"
    (home / "history").mkdir(parents=True)
    (tmp_path / "home" / "dagster-other").mkdir()
    assert _synchronous(home / "history" / "runs.db") == 2  # SQLite's default: FULL
    unsynced_run_history(home)
    unsynced_run_history(home)  # once is enough; again changes nothing
    assert _synchronous(home / "history" / "runs.db") == 0  # OFF
    assert _synchronous(home / "index.db") == 0
    # a sibling whose name starts the same, and any other SQLite file, keep the default
    assert _synchronous(tmp_path / "home" / "dagster-other" / "x.db") == 2
    assert _synchronous(tmp_path / "elsewhere.db") == 2
