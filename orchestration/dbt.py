"""The dbt project as Dagster sees it. The manifest is built by `dbt parse` (ensure_manifest)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from dagster_dbt import DbtProject

from orchestration.settings import DBT_PROJECT_DIR, Home, duckdb_config, home_from_env

dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)


def dbt_env(home: Path | None = None, settings: dict | None = None,
            new_files: list[str] | None = None) -> dict[str, str]:
    """The environment dbt runs in: the home, no tracking, DuckDB's memory, threads and spill folder
    (profiles.yml reads them; `duckdb_env`), and the new survey exports of an incremental build (`new_files_env`)."""
    root = (home or home_from_env()).resolve()
    env = dict(os.environ)
    env["BELONGING_HOME"] = str(root)
    env.update(new_files_env(new_files))
    env.setdefault("DO_NOT_TRACK", "1")
    env.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
    env.update(duckdb_env(root, settings if settings is not None else _default_settings()))
    return env


def _default_settings() -> dict:
    import yaml

    from orchestration.settings import DEFAULT_SETTINGS

    return yaml.safe_load(DEFAULT_SETTINGS.read_text(encoding="utf-8"))


def duckdb_env(home: Path, settings: dict) -> dict[str, str]:
    """config/settings.yaml `duckdb` as the environment variables dbt's profile reads (the one place its
    DuckDB settings come from)."""
    config = duckdb_config(home, settings)
    return {
        "BELONGING_DUCKDB_MEMORY_LIMIT": str(config["memory_limit"]),
        "BELONGING_DUCKDB_THREADS": str(config["threads"]),
        "BELONGING_DUCKDB_TEMP_DIRECTORY": str(config["temp_directory"]),
    }

def dbt_vars(settings: dict | None = None) -> dict:
    """What dbt reads from Python, as vars: the indicator catalogue (indicators/catalogue.yaml), the DfE counts
    staged per publication, and the survey settings SQL needs (a home's settings, else config/settings.yaml).
    Every dbt invocation passes them (dbt_vars_args)."""
    from indicators import catalogue, dfe_count_measures

    if settings is None:
        settings = _default_settings()
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
    """`--vars` for a dbt invocation (the same for every build of a home, so dbt's partial parse stays valid)."""
    return ["--vars", json.dumps(dbt_vars(settings), sort_keys=True)]


NEW_FILES_VAR = "BELONGING_NEW_SURVEY_FILES"


def new_files_env(new_files: list[str] | None = None) -> dict[str, str]:
    """The new survey exports' survey_responses lake files of an incremental build (their paths: dbt reads those
    files alone to find what the exports change), as the environment variable dbt reads when it runs (macro
    `new_survey_files`); none: `[]`. Not a dbt var: the vars are part of dbt's parse state, and a var that changed
    every build made dbt parse all 199 files of the project (~3.5 s a build)."""
    return {NEW_FILES_VAR: json.dumps(list(new_files or []))}


# ------------------------------------------------------------------------------------ incremental builds
#
# A refresh builds the warehouse incrementally only when nothing but survey exports is new since the last
# successful build of the home's warehouse: the same definitions (dbt project, catalogue, instruments, settings),
# the same DfE and GIAS lake files, no lake file gone, and no survey wave of an academic year the warehouse does
# not list yet (int_academic_years_listed: the years, and so the school spine, stay as they are). Then dbt builds
# only what the survey sources feed (incremental_exclusions), and of the incremental models only the rows the new
# exports (macro new_survey_files) can change: their responses, their schools and the geographies above them in
# their waves, and the year after (dbt_project/macros/survey_changes.sql, the rule); the small marts over them
# whole. Anything else, or `belonging refresh --full-rebuild`
# (run tag FULL_REBUILD_TAG), rebuilds everything (dbt --full-refresh). Nothing new at all (not even a record of
# a load in the lake's file_loads or quarantine): nothing to build, and the refresh does not run dbt (BuildPlan.nothing).

FULL_REBUILD_TAG = "belonging/full_rebuild"
SURVEY_TABLES = ("survey_responses", "survey_answers", "survey_items")
# the lake's own record of its loads (dbt source `lake`): new files there rebuild what they feed, incrementally
LOG_TABLES = ("file_loads", "quarantine")


def _definitions_digest(settings: dict) -> str:
    """What the warehouse is computed by: the dbt project's files, the instruments, the dbt vars (catalogue and
    settings) and the versions of dbt and DuckDB."""
    from importlib.metadata import version

    from ingestion.surveys.instruments import INSTRUMENTS_DIR

    digest = hashlib.sha256(json.dumps([dbt_vars(settings), version("dbt-core"), version("duckdb")],
                                       sort_keys=True).encode())
    files = [DBT_PROJECT_DIR / "dbt_project.yml", *INSTRUMENTS_DIR.glob("*.yaml")]
    for sub in ("models", "macros", "seeds", "tests"):
        files += [p for p in (DBT_PROJECT_DIR / sub).rglob("*") if p.is_file()]
    for path in sorted(files):
        digest.update(path.relative_to(DBT_PROJECT_DIR.parent).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def _lake_inputs(lake: Path) -> dict[str, list[str]]:
    """The lake's files per raw table (by name: `<sha256>[-<part>].parquet`), from the folders alone."""
    from ingestion.lake_schema import TABLES

    return {t: sorted(p.name for p in (lake / "raw" / t).glob("*.parquet") if not p.name.startswith("_"))
            for t in TABLES}


@dataclass
class BuildPlan:
    full: bool
    changed_waves: list[str]
    reason: str
    state_path: Path
    state: dict
    # the new survey exports (the sha256 their lake files are named by) an incremental build rebuilds what they change of
    new_exports: list[str] = field(default_factory=list)
    # their survey_responses lake files (paths), which dbt reads alone to find what they change (macro new_survey_files)
    new_files: list[str] = field(default_factory=list)
    # no lake file and no definition changed since the last successful build: nothing to build, dbt is not run
    nothing: bool = False

    def save(self) -> None:
        self.state_path.parent.mkdir(parents=True, exist_ok=True)
        self.state_path.write_text(json.dumps(self.state, sort_keys=True), encoding="utf-8")


def build_plan(home, *, full_rebuild: bool = False) -> BuildPlan:
    """How this refresh builds the warehouse of `home` (an orchestration.settings.Home): whole, or only the survey
    waves of the exports loaded since the last successful build."""
    state = {"definitions": _definitions_digest(home.settings), "lake": _lake_inputs(home.lake)}
    path = home.root / "dbt" / "build_state.json"
    before = json.loads(path.read_text(encoding="utf-8")) if path.exists() else None

    def full(reason: str) -> BuildPlan:
        return BuildPlan(True, [], f"dbt: full build ({reason})", path, state)

    if full_rebuild:
        return full("--full-rebuild")
    if before is None or not home.warehouse.exists():
        return full("no earlier build of this warehouse")
    if before.get("definitions") != state["definitions"]:
        return full("the dbt project, catalogue, instruments or settings changed")
    if before == state:
        return BuildPlan(False, [], "dbt: nothing to build (no lake file and no definition changed since the last "
                         "build)", path, state, nothing=True)
    old, new = before.get("lake", {}), state["lake"]
    changed = sorted(t for t in new if t not in SURVEY_TABLES + LOG_TABLES and old.get(t) != new[t])
    if changed:
        return full(f"new or changed lake files in {', '.join(changed)}")
    gone = sorted(t for t in SURVEY_TABLES if set(old.get(t, [])) - set(new[t]))
    if gone:
        return full(f"lake files removed from {', '.join(gone)}")
    added = sorted(set(new["survey_responses"]) - set(old.get("survey_responses", [])))
    waves, periods = _waves(home.lake / "raw" / "survey_responses", added)
    unlisted = sorted(set(periods) - set(_listed_years(home.warehouse)))
    if unlisted:
        return full(f"survey waves of academic years the warehouse does not list yet: {unlisted}")
    exports = sorted({Path(f).stem.split("-")[0] for f in added})
    files = [str((home.lake / "raw" / "survey_responses" / f).resolve()) for f in added]
    return BuildPlan(False, waves, f"dbt: incremental build, {len(exports)} new survey export(s), waves {waves}",
                     path, state, exports, files)


def _waves(table_dir: Path, files: list[str]) -> tuple[list[str], list[int]]:
    """The distinct survey waves in these survey_responses lake files, and their academic years."""
    if not files:
        return [], []
    import duckdb

    paths = [str(table_dir / f) for f in files]
    rows = duckdb.sql(f"select distinct wave, cast(time_period as integer) from read_parquet({paths!r}) "
                      "where wave is not null order by all").fetchall()
    return sorted({w for w, _ in rows}), sorted({p for _, p in rows if p is not None})


def _listed_years(warehouse: Path) -> list[int]:
    """The academic years the warehouse lists (int_academic_years_listed); none when it has no such table."""
    import duckdb

    with duckdb.connect(str(warehouse), read_only=True) as con:
        try:
            return [p for (p,) in con.execute("select time_period from int_academic_years_listed").fetchall()]
        except duckdb.CatalogException:
            return []


# the dbt sources a survey load writes: the exports' tables and the lake's own record of the load (file_loads,
# quarantine)
CHANGED_SOURCES = ("surveys", "lake")
# the model an incremental build does not follow them through: a survey wave of a year it already lists changes
# nothing in it (build_plan goes full otherwise), nor in the school spine and admin models below it
YEARS_MODEL = "model.belonging.int_academic_years_listed"


def incremental_exclusions(manifest: dict) -> list[str]:
    """The dbt nodes (models, seeds, data tests) an incremental build leaves as they are: all but those the
    sources a survey load writes (CHANGED_SOURCES) feed in dbt's graph, not counting through YEARS_MODEL. A test of a rebuilt model runs even
    when it also reads a model left as it is (mart_indicators' school URNs against GIAS)."""
    children = manifest["child_map"]
    fed = set()
    todo = [uid for uid, s in manifest["sources"].items() if s["source_name"] in CHANGED_SOURCES]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in fed and child != YEARS_MODEL:
                fed.add(child)
                todo.append(child)
    return sorted(n["name"] for uid, n in manifest["nodes"].items()
                  if n["resource_type"] in ("model", "seed", "test") and uid not in fed)


def build_args(plan: BuildPlan, settings: dict, manifest: dict | None = None) -> list[str]:
    """The `dbt build` arguments of a refresh's plan: dbt's data tests with the models (its unit tests check the
    SQL, not the data: they run in the test suite); a full plan rebuilds everything (--full-refresh), an
    incremental one only what the new survey exports feed (incremental_exclusions; each data test chosen by
    itself, not by its models: `--indirect-selection empty`)."""
    args = ["build", "--exclude-resource-type", "unit_test", *dbt_vars_args(settings)]
    if plan.full:
        return [*args, "--full-refresh"]
    if manifest is None:
        manifest = json.loads(ensure_manifest().read_text(encoding="utf-8"))
    return [*args, "--indirect-selection", "empty", "--exclude", " ".join(incremental_exclusions(manifest))]


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


# a new home's dbt parse, started with its refresh (start_parse): its target folder -> the parse
_PARSING: dict[Path, subprocess.Popen] = {}


def start_parse(home: Home) -> None:
    """Parse the project for a home that has never built, in the background, while the refresh loads and gates
    the lake: its first `dbt build` would otherwise parse the whole project in the dbt step (~3.5 s; a demo's
    refresh is one). The same profile, environment and vars as the build (dbt_env, dbt_vars_args), so the build
    finds the parse valid and parses only what changed since. The dbt step waits for it (wait_for_parse). A home
    that has built keeps dbt's own partial parse."""
    target = home.dbt_target
    if (target / "partial_parse.msgpack").exists() or target in _PARSING:
        return
    target.mkdir(parents=True, exist_ok=True)
    env = dbt_env(home.root, home.settings) | {"DBT_TARGET_PATH": str(target), "DBT_LOG_PATH": str(target)}
    cmd = [str(Path(sys.executable).with_name("dbt")), "parse", "--quiet", "--project-dir", str(DBT_PROJECT_DIR),
           "--profiles-dir", str(DBT_PROJECT_DIR), *dbt_vars_args(home.settings)]
    _PARSING[target] = subprocess.Popen(cmd, env=env, cwd=DBT_PROJECT_DIR, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL)


def wait_for_parse(target: Path, stop: bool = False) -> None:
    """Wait for the background parse of `target` (start_parse), if any; `stop`: end it first (a refresh that
    ends before its dbt step). A parse that failed leaves the build to parse as it would have."""
    parsing = _PARSING.pop(target, None)
    if parsing is not None:
        if stop:
            parsing.kill()
        parsing.wait()


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
