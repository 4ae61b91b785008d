"""DuckDB's memory limit, threads and spill folder come from config/settings.yaml (`duckdb`), for the
connections the refresh opens in Python and for dbt's (profiles.yml reads what orchestration/dbt.py passes)."""

from __future__ import annotations

import re

import yaml

from orchestration.dbt import DBT_PROJECT_DIR, dbt_env, duckdb_env
from orchestration.settings import duckdb_config, duckdb_connect
from tests.conftest import SETTINGS


def _with(memory: str, threads: int, temp: str) -> dict:
    return {**SETTINGS, "duckdb": {"memory_limit": memory, "threads": threads, "temp_directory": temp}}


def test_a_connection_gets_the_configured_memory_threads_and_spill_folder(tmp_path):
    con = duckdb_connect(tmp_path, _with("300MB", 1, "spill"))
    memory, threads, temp = con.execute(
        "select current_setting('memory_limit'), current_setting('threads'), current_setting('temp_directory')"
    ).fetchone()
    assert memory in ("286.1 MiB", "300.0 MB") and threads == 1
    assert temp == str(tmp_path / "spill") and (tmp_path / "spill").is_dir()  # under the home, created
    other = duckdb_connect(tmp_path, _with("1GB", 2, str(tmp_path / "abs")))
    assert other.execute("select current_setting('threads')").fetchone() == (2,)
    assert duckdb_config(tmp_path, _with("1GB", 2, str(tmp_path / "abs")))["temp_directory"] == str(tmp_path / "abs")


def test_dbt_reads_the_same_settings_through_its_profile(tmp_path):
    settings = _with("700MB", 1, "spill")
    env = dbt_env(tmp_path, settings)
    assert env["BELONGING_DUCKDB_MEMORY_LIMIT"] == "700MB" and env["BELONGING_DUCKDB_THREADS"] == "1"
    assert env["BELONGING_DUCKDB_TEMP_DIRECTORY"] == str(tmp_path / "spill")
    # the defaults are config/settings.yaml's: one default each
    assert dbt_env(tmp_path)["BELONGING_DUCKDB_MEMORY_LIMIT"] == str(SETTINGS["duckdb"]["memory_limit"])
    profile = yaml.safe_load((DBT_PROJECT_DIR / "profiles.yml").read_text(encoding="utf-8"))
    duck = profile["belonging"]["outputs"]["warehouse"]["config_options"]  # set once, when dbt opens the file
    read = {key: re.search(r"env_var\('(\w+)'\)", value).group(1) for key, value in duck.items()}
    assert read == {"memory_limit": "BELONGING_DUCKDB_MEMORY_LIMIT", "threads": "BELONGING_DUCKDB_THREADS",
                    "temp_directory": "BELONGING_DUCKDB_TEMP_DIRECTORY"}
    assert set(read.values()) == set(duckdb_env(tmp_path, settings))
