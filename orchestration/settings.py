"""Where things live and the settings a user changes. One setting, one name: BELONGING_HOME."""

from __future__ import annotations

import copy
import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
DBT_PROJECT_DIR = REPO / "dbt_project"
DEFAULT_SETTINGS = REPO / "config" / "settings.yaml"
GEOGRAPHY_LOOKUP = DBT_PROJECT_DIR / "seeds" / "geography_lookups.csv"
DEMO_PSEUDONYM_KEY = "belonging-demo-key-not-secret"


def home_from_env() -> Path:
    return Path(os.environ.get("BELONGING_HOME", "./.belonging")).expanduser().resolve()


def _merge(base: dict, override: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in (override or {}).items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


@dataclass(frozen=True)
class Home:
    root: Path

    @classmethod
    def from_env(cls) -> Home:
        return cls(home_from_env())

    @property
    def landing(self) -> Path:
        return self.root / "landing"

    @property
    def landing_quarantine(self) -> Path:
        return self.landing / "quarantine"

    @property
    def lake(self) -> Path:
        return self.root / "lake"

    @property
    def warehouse(self) -> Path:
        return self.root / "warehouse" / "warehouse.duckdb"

    @property
    def releases(self) -> Path:
        return self.root / "releases"

    @property
    def runs(self) -> Path:
        return self.root / "runs"

    @property
    def dagster_home(self) -> Path:
        return self.root / "dagster"

    @property
    def dbt_target(self) -> Path:
        return self.root / "dbt" / "target"

    def run_dir(self, run_id: str) -> Path:
        return self.runs / run_id

    @cached_property
    def settings(self) -> dict:
        """config/settings.yaml overlaid with <home>/settings.yaml when present."""
        base = yaml.safe_load(DEFAULT_SETTINGS.read_text(encoding="utf-8"))
        override = self.root / "settings.yaml"
        if override.exists():
            base = _merge(base, yaml.safe_load(override.read_text(encoding="utf-8")) or {})
        return base

    def create(self) -> Home:
        for path in (self.landing / "dfe", self.landing / "gias", self.landing / "surveys", self.lake, self.runs,
                     self.releases, self.warehouse.parent, self.dagster_home):
            path.mkdir(parents=True, exist_ok=True)
        dagster_yaml = self.dagster_home / "dagster.yaml"
        if not dagster_yaml.exists():
            dagster_yaml.write_text("telemetry:\n  enabled: false\n", encoding="utf-8")
        return self


def duckdb_config(home: Path, settings: dict) -> dict:
    """The DuckDB configuration of every connection a refresh opens (config/settings.yaml `duckdb`): memory
    limit, threads and the spill folder (made absolute under the home, and created)."""
    duck = settings["duckdb"]
    temp = Path(duck["temp_directory"])
    temp = temp if temp.is_absolute() else Path(home) / temp
    temp.mkdir(parents=True, exist_ok=True)
    return {"memory_limit": str(duck["memory_limit"]), "threads": int(duck["threads"]), "temp_directory": str(temp)}


def duckdb_connect(home: Path, settings: dict, database: str | Path = ":memory:", *, read_only: bool = False):
    """A DuckDB connection with the configured memory limit, threads and spill folder."""
    import duckdb

    return duckdb.connect(str(database), read_only=read_only, config=duckdb_config(home, settings))


def pseudonym_key() -> bytes | None:
    key = os.environ.get("BELONGING_PSEUDONYM_KEY", "")
    return key.encode("utf-8") if key else None
