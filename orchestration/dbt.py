"""The dbt project as Dagster sees it. The manifest is built by `dbt parse` (ensure_manifest)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from dagster_dbt import DbtProject

from orchestration.settings import DBT_PROJECT_DIR, home_from_env

dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)


def dbt_env(home: Path | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env["BELONGING_HOME"] = str((home or home_from_env()).resolve())
    env.setdefault("DO_NOT_TRACK", "1")
    env.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
    return env


def dbt_vars(settings: dict | None = None) -> dict:
    """What dbt reads from Python, as vars: the indicator catalogue (indicators/catalogue.yaml), the DfE counts
    staged per publication, and the survey settings SQL needs (a home's settings, else config/settings.yaml).
    Every dbt invocation passes them (dbt_vars_args)."""
    import yaml

    from indicators import catalogue, dfe_count_measures
    from orchestration.settings import DEFAULT_SETTINGS

    if settings is None:
        settings = yaml.safe_load(DEFAULT_SETTINGS.read_text(encoding="utf-8"))
    surveys = settings["surveys"]
    return {
        **catalogue().dbt_vars(),
        "dfe_counts": dfe_count_measures(),
        "surveyed_year_groups": surveys["surveyed_year_groups"] or {},
        "min_year_group_share": surveys["min_year_group_share"],
        # survey figures below the disclosure threshold are flagged low_reliability and never ranked
        "min_respondents": settings["disclosure"]["min_respondents"],
    }


def dbt_vars_args(settings: dict | None = None) -> list[str]:
    return ["--vars", json.dumps(dbt_vars(settings), sort_keys=True)]


def _newest_source_mtime() -> float:
    from indicators import catalogue_path
    from ingestion.surveys.instruments import INSTRUMENTS_DIR

    newest = max(catalogue_path().stat().st_mtime, *(p.stat().st_mtime for p in INSTRUMENTS_DIR.glob("*.yaml")))
    for sub in ("models", "macros", "seeds", "tests", "dbt_project.yml", "profiles.yml"):
        path = DBT_PROJECT_DIR / sub
        paths = [path] if path.is_file() else path.rglob("*") if path.exists() else []
        for p in paths:
            if p.is_file():
                newest = max(newest, p.stat().st_mtime)
    return newest


def ensure_manifest(force: bool = False) -> Path:
    """Run `dbt parse` when the manifest is missing or older than the project's files (about 3 s)."""
    manifest = dbt_project.manifest_path
    if force or not manifest.exists() or manifest.stat().st_mtime < _newest_source_mtime():
        dbt = Path(sys.executable).with_name("dbt")
        cmd = [str(dbt), "parse", "--quiet", "--project-dir", str(DBT_PROJECT_DIR),
               "--profiles-dir", str(DBT_PROJECT_DIR), *dbt_vars_args()]
        proc = subprocess.run(cmd, env=dbt_env(), capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"dbt parse failed:\n{proc.stdout}\n{proc.stderr}")
    return manifest
