"""A new home's dbt project is parsed in the background with its first refresh (orchestration.dbt.start_parse),
so that the refresh's dbt build finds the parse valid and does not parse the whole project again."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from orchestration.dbt import _PARSING, dbt_env, dbt_vars_args, start_parse, wait_for_parse
from orchestration.settings import DBT_PROJECT_DIR, Home


def test_the_background_parse_is_the_one_the_build_reuses(tmp_path):
    home = Home(tmp_path / "home").create()
    start_parse(home)
    assert home.dbt_target in _PARSING
    wait_for_parse(home.dbt_target)
    assert (home.dbt_target / "partial_parse.msgpack").is_file() and home.dbt_target not in _PARSING
    start_parse(home)  # parsed already: dbt's own partial parse from now on
    assert home.dbt_target not in _PARSING
    # what the build does: the same profile, environment and vars (the build's target folder is the home's)
    env = dbt_env(home.root, home.settings) | {"DBT_TARGET_PATH": str(home.dbt_target)}
    build = subprocess.run([str(Path(sys.executable).with_name("dbt")), "parse", "--project-dir", str(DBT_PROJECT_DIR),
                            "--profiles-dir", str(DBT_PROJECT_DIR), *dbt_vars_args(home.settings)],
                           env=env, capture_output=True, text=True, cwd=DBT_PROJECT_DIR)
    assert build.returncode == 0, build.stdout[-2000:]
    assert "Unable to do partial parsing" not in build.stdout
    perf = json.loads((home.dbt_target / "perf_info.json").read_text(encoding="utf-8"))
    assert perf["path_count"] > 100 and perf["parsed_path_count"] == 0  # no file parsed again


def test_a_refresh_that_ends_first_stops_the_parse(tmp_path):
    home = Home(tmp_path / "home").create()
    start_parse(home)
    parsing = _PARSING[home.dbt_target]
    wait_for_parse(home.dbt_target, stop=True)
    assert parsing.returncode is not None and home.dbt_target not in _PARSING
