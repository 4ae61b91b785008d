"""Resources: the home (paths and settings) and dbt. Both read BELONGING_HOME.

Importing this module (as the code location does) reads the `.env` files first (orchestration.settings.load_env:
environment > <home>/.env > <repository>/.env), so `dagster dev` sees the same settings as `belonging`."""

from __future__ import annotations

import sys
from functools import cached_property
from pathlib import Path

import dagster as dg
from dagster_dbt import DbtCliResource

from orchestration.dbt import dbt_project
from orchestration.settings import Home, load_env

# dbt resolves its DuckDB path from BELONGING_HOME: make sure it is set, and absolute, for every process.
load_env()


class HomeResource(dg.ConfigurableResource):
    """Where landing/, lake/, warehouse/ and releases/ live (BELONGING_HOME, default ./.belonging)."""

    root: str

    def home(self) -> Home:
        return Home(Path(self.root).expanduser().resolve()).create()


class WarehouseDbt(DbtCliResource):
    """dagster-dbt's dbt resource without two costs it pays before each refresh's dbt command, in this process:
    - the dbt adapter it builds (dbt imported, the project loaded, every macro parsed: ~2 s) only to fetch row
      counts and column metadata, which no asset here asks for; dagster-dbt carries on with no adapter when
      building one fails, so none is a state it handles;
    - `dbt --version` run as a command (~1.7 s) to learn the version of the dbt it runs: that dbt is this
      environment's (`dbt_executable` beside this Python), so the installed dbt-core's version is the answer.
    Both are private members: the test (tests/unit/test_dbt_plan.py) fails if an upgrade of dagster-dbt renames
    them. dbt itself runs in its own process as before."""

    def _initialize_dbt_core_adapter(self, args):  # noqa: ARG002 - dagster-dbt's signature
        return None

    @cached_property
    def _cli_version(self):
        from importlib.metadata import version as installed

        from packaging.version import parse

        return parse(installed("dbt-core"))


def build_resources() -> dict:
    return {
        "home": HomeResource(root=dg.EnvVar("BELONGING_HOME")),
        "dbt": WarehouseDbt(project_dir=dbt_project, global_config_flags=["--no-use-colors"],
                            dbt_executable=str(Path(sys.executable).with_name("dbt"))),
    }
