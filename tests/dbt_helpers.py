"""Run the dbt project against a home directory and open its warehouse read-only (tests only).

dbt writes its `target/` and logs under `work` (a tmp_path), never inside the repository.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import duckdb

REPO = Path(__file__).resolve().parents[1]
DBT_PROJECT_DIR = REPO / "dbt_project"
DBT = Path(sys.executable).with_name("dbt")


class DbtFailed(AssertionError):
    """dbt exited non-zero; the message carries the tail of its output (the failing node and error)."""


def dbt_env(home: Path, work: Path) -> dict[str, str]:
    from orchestration.dbt import dbt_env as refresh_env

    env = refresh_env(Path(home))  # DuckDB's settings as a refresh gives them (config/settings.yaml)
    env.update(DBT_LOG_PATH=str(Path(work) / "logs"), DO_NOT_TRACK="1")
    return env


def run_dbt(home: Path, work: Path, *args: str, project_dir: Path = DBT_PROJECT_DIR,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run `dbt <args>` on dbt_project (or a copy of it: `project_dir`) with BELONGING_HOME=home (and `env`, e.g. an
    incremental build's new_files_env); raise DbtFailed on a non-zero exit."""
    work = Path(work)
    work.mkdir(parents=True, exist_ok=True)
    (Path(home) / "warehouse").mkdir(parents=True, exist_ok=True)
    cmd = [
        str(DBT),
        *args,
        "--project-dir",
        str(project_dir),
        "--profiles-dir",
        str(project_dir),
        "--target-path",
        str(work / "target"),
        "--log-path",
        str(work / "logs"),
    ]
    if args and args[0] in ("build", "run", "test", "compile", "parse", "docs") and "--vars" not in args:
        from orchestration.dbt import dbt_vars_args

        cmd += dbt_vars_args()
    proc = subprocess.run(cmd, env=dbt_env(home, work) | (env or {}), capture_output=True, text=True, cwd=work)
    if proc.returncode != 0:
        tail = "\n".join(proc.stdout.splitlines()[-60:])
        raise DbtFailed(
            f"dbt {' '.join(args)} failed (exit {proc.returncode}):\n{tail}\n{proc.stderr[-2000:]}"
        )
    return proc


def build_warehouse(home: Path, work: Path, *extra: str) -> duckdb.DuckDBPyConnection:
    """`dbt build` (seeds, models, unit and data tests) on the home's lake; return a read-only connection."""
    run_dbt(home, work, "build", *extra)
    con = duckdb.connect(str(Path(home) / "warehouse" / "warehouse.duckdb"), read_only=True)
    # the staging views, in their own database as dbt's profile attaches it (dbt_project/profiles.yml)
    con.execute("attach ? as staging (read_only)", [str(Path(home) / "warehouse" / "staging.duckdb")])
    return con
