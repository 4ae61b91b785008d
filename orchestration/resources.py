"""Resources: the home (paths and settings) and dbt. Both read BELONGING_HOME.

Importing this module (as the code location does) reads the `.env` files first (orchestration.settings.load_env:
environment > <home>/.env > <repository>/.env), so `dagster dev` sees the same settings as `belonging`."""

from __future__ import annotations

import sys
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


def build_resources() -> dict:
    return {
        "home": HomeResource(root=dg.EnvVar("BELONGING_HOME")),
        "dbt": DbtCliResource(project_dir=dbt_project, global_config_flags=["--no-use-colors"],
                              dbt_executable=str(Path(sys.executable).with_name("dbt"))),
    }
