"""Where things live and the settings a user changes, each read from one place.

- Paths: `BELONGING_HOME` (default `./.belonging`).
- Secrets and paths in the environment, with a documented precedence: the process environment, then
  `<home>/.env`, then `.env` in the repository checkout (beside `.env.example`). A `.env` never overrides a
  variable the environment already sets (`load_env`).
- Settings: `config/settings.yaml` holds each setting's one default; `<home>/settings.yaml` overrides any of
  them. A key the defaults do not know, a value of the wrong type, or a setting missing from both is one
  line naming the setting and the file (`SettingError`).
"""

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
DEMO_MARKER = "DEMO"  # <home>/DEMO: written by `belonging demo`; such a home hashes with the demo's key
ENV_FILE = ".env"
PSEUDONYM_KEY_VAR = "BELONGING_PSEUDONYM_KEY"
# settings whose keys are data, not names (any key is accepted; values are checked against the defaults')
FREE_FORM = ("gates.suppressed_cell_max", "surveys.surveyed_year_groups")


class SettingError(ValueError):
    """A setting that is missing or invalid; the message is one line naming the setting and the file."""


def home_from_env() -> Path:
    return Path(os.environ.get("BELONGING_HOME") or "./.belonging").expanduser().resolve()


def _dotenv(path: Path) -> dict[str, str]:
    from dotenv import dotenv_values

    if not path.is_file():
        return {}
    return {k: v for k, v in dotenv_values(path).items() if v is not None}


def load_env(home: Path | str | None = None) -> Path:
    """Fill the environment from the `.env` files, never overriding what it already holds, and return the home.

    Precedence: environment > `<home>/.env` > `<repository>/.env`. The home is `home` (a `--home` option),
    else BELONGING_HOME from the environment or the repository's `.env`, else `./.belonging`.
    """
    repo_values = _dotenv(REPO / ENV_FILE)
    if home is not None:
        os.environ["BELONGING_HOME"] = str(Path(home).expanduser().resolve())
    elif not os.environ.get("BELONGING_HOME") and repo_values.get("BELONGING_HOME"):
        os.environ["BELONGING_HOME"] = repo_values["BELONGING_HOME"]
    root = home_from_env()
    home_values = {k: v for k, v in _dotenv(root / ENV_FILE).items() if k != "BELONGING_HOME"}
    for key, value in {**repo_values, **home_values}.items():
        if key not in os.environ:
            os.environ[key] = value
    os.environ["BELONGING_HOME"] = str(root)
    return root


def _merge(base: dict, override: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in (override or {}).items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def read_yaml(path: Path) -> dict:
    """A settings file as a mapping; a file that is not YAML, or not a mapping, is one line naming it."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise SettingError(f"{path}{where}: not valid YAML ({problem})") from None
    except OSError as exc:
        raise SettingError(f"{path}: cannot be read ({exc.strerror})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise SettingError(f"{path}: must be a mapping of settings (got {type(data).__name__})")
    return data


def _kind(value) -> str:
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return "empty"


def check_settings(defaults: dict, override: dict, path: Path, prefix: str = "") -> None:
    """Every key of `override` is a setting of `defaults` with a value of the same kind (a number for a number,
    a list for a list...), numbers not negative. Raises SettingError naming the first that is not."""
    for key, value in override.items():
        name = f"{prefix}{key}"
        free = prefix.rstrip(".") in FREE_FORM
        if not free and key not in defaults:
            known = ", ".join(f"{prefix}{k}" for k in defaults)
            raise SettingError(f"{path}: unknown setting {name} (settings here: {known})")
        default = defaults.get(key) if not free else next(iter(defaults.values()), None)
        if default is None:
            continue
        if _kind(value) != _kind(default):
            raise SettingError(f"{path}: setting {name} must be {_kind(default)} (as in {DEFAULT_SETTINGS.name}), "
                               f"got {value!r}")
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value < 0:
            raise SettingError(f"{path}: setting {name} must not be negative, got {value!r}")
        if isinstance(value, dict):
            check_settings(default, value, path, f"{name}.")


class Settings(dict):
    """A settings mapping whose missing key is a SettingError naming it and where to set it (not a KeyError)."""

    def __init__(self, data: dict, name: str = "", files: tuple[Path, ...] = ()):
        super().__init__({k: Settings(v, f"{name}{k}.", files) if isinstance(v, dict) else v
                          for k, v in data.items()})
        self._name, self._files = name, files

    def __missing__(self, key):
        where = " or ".join(str(f) for f in self._files)
        raise SettingError(f"setting {self._name}{key} is missing: set it in {where}")


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
    def cache(self) -> Path:
        """What a refresh keeps to avoid repeating work (extract pieces, landing digests): safe to delete."""
        return self.root / "cache"

    @property
    def dbt_target(self) -> Path:
        return self.root / "dbt" / "target"

    @property
    def settings_file(self) -> Path:
        return self.root / "settings.yaml"

    @property
    def is_demo(self) -> bool:
        return (self.root / DEMO_MARKER).is_file()

    def run_dir(self, run_id: str) -> Path:
        return self.runs / run_id

    @cached_property
    def settings(self) -> Settings:
        """config/settings.yaml overlaid with <home>/settings.yaml when present (checked: SettingError)."""
        base = read_yaml(DEFAULT_SETTINGS)
        files: tuple[Path, ...] = (DEFAULT_SETTINGS,)
        if self.settings_file.exists():
            override = read_yaml(self.settings_file)
            check_settings(base, override, self.settings_file)
            base = _merge(base, override)
            files = (self.settings_file, DEFAULT_SETTINGS)
        return Settings(base, files=files)

    def create(self) -> Home:
        for path in (self.landing / "dfe", self.landing / "gias", self.landing / "surveys", self.lake, self.runs,
                     self.releases, self.warehouse.parent, self.dagster_home):
            path.mkdir(parents=True, exist_ok=True)
        dagster_yaml = self.dagster_home / "dagster.yaml"
        if not dagster_yaml.exists():
            dagster_yaml.write_text("telemetry:\n  enabled: false\n", encoding="utf-8")
        return self

    def mark_demo(self) -> None:
        (self.root / DEMO_MARKER).write_text(
            "Written by `belonging demo`: this home holds generated sample data, and its survey identifiers are\n"
            f"hashed with the demo's published key ({DEMO_PSEUDONYM_KEY!r}), never with BELONGING_PSEUDONYM_KEY.\n"
            "A home without this file never uses the demo's key.\n", encoding="utf-8")

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


def pseudonym_key(home: Home | None = None) -> bytes | None:
    """The key for hashing respondent identifiers: the demo's own in a demo home, else BELONGING_PSEUDONYM_KEY
    (None when unset). A home that is not a demo refuses the demo's published key (SettingError)."""
    home = home or Home.from_env()
    if home.is_demo:
        return DEMO_PSEUDONYM_KEY.encode("utf-8")
    key = os.environ.get(PSEUDONYM_KEY_VAR, "")
    if key == DEMO_PSEUDONYM_KEY:
        raise SettingError(f"{PSEUDONYM_KEY_VAR} is the demo's published key, and {home.root} is not a demo home: "
                           "set a secret key of your own")
    return key.encode("utf-8") if key else None
