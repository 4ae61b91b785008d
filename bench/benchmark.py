"""National-scale benchmark of the refresh, with a plain-DuckDB baseline doing the same work in the same run.

    .venv/bin/python bench/benchmark.py [--scale national|small] [--out bench/out] [--results FILE] [--home DIR]
                                        [--landing-from HOME] [--seed N] [--keep] [--incremental-responses N]
                                        [--max-rss-gb G]

1. Writes the demo landing set (`demo.generate`) into a fresh home (or copies the landing/ of an earlier
   home with --landing-from, so two runs read identical inputs).
2. Full refresh: `belonging refresh` in a child process while a sampler thread reads the RSS of that process
   and every descendant (dbt runs as a grandchild) from /proc every 0.2 s; CPU time from wait4. Each step's wall
   time and peak memory come from the run's Dagster events, dbt's slowest nodes from run_results.json.
3. Its baseline, plain DuckDB doing the same work in child processes measured the same way: every landing CSV
   parsed by DuckDB's CSV reader and every .xlsx by fastexcel (the parse cost ingestion cannot beat), then the
   indicators from the lake's raw Parquet (school suspension rate, persistent absence, pupil belonging mean;
   trust, LA, regional and national ratio-of-sums rollups) materialised in a DuckDB file.
4. Incremental refresh: one new Qualtrics export of 1,000 responses (--incremental-responses) dropped into
   landing/, `belonging refresh` again; its baseline parses that export and runs the indicators SQL again.
5. Three analyst queries (README's examples) through `belonging sql` (a new process each), against the same
   query in a plain read-only DuckDB connection.
6. Writes `<out>/benchmark-<scale>.json` and `.md`, and for --scale national bench/RESULTS.md (the latest
   results with the machine's description, committed). Absolute times on shared 2-core machines are noisy:
   read the RATIOS (both sides measured in the same run).

Not a pytest test. See bench/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PYTHON = Path(sys.executable)
BELONGING = PYTHON.with_name("belonging")
PAGE = os.sysconf("SC_PAGE_SIZE")
SAMPLE_SECONDS = 0.2


# --------------------------------------------------------------------------------------------------- memory
def _children_map() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as fh:
                stat = fh.read()
        except OSError:
            continue
        # the command name (field 2) may hold spaces and parentheses: split after its closing one
        ppid = int(stat[stat.rindex(b")") + 2 :].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    return children


def tree_rss(root: int) -> int:
    """Resident bytes of `root` and all its descendants now (0 once it is gone)."""
    children = _children_map()
    total, stack = 0, [root]
    while stack:
        pid = stack.pop()
        try:
            with open(f"/proc/{pid}/statm", "rb") as fh:
                total += int(fh.read().split()[1]) * PAGE
        except (OSError, IndexError, ValueError):
            pass
        stack.extend(children.get(pid, ()))
    return total


class Sampler(threading.Thread):
    """Samples tree_rss(pid) until stopped: a list of (epoch seconds, bytes)."""

    def __init__(self, pid: int, limit_bytes: int | None = None):
        super().__init__(daemon=True)
        self.pid = pid
        self.limit = limit_bytes
        self.killed_at: tuple[float, int] | None = None
        self.samples: list[tuple[float, int]] = []
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.is_set():
            now, rss = time.time(), tree_rss(self.pid)
            self.samples.append((now, rss))
            if self.limit and rss > self.limit and self.killed_at is None:
                # the machine is shared: stop our own child's process group (started with a new session)
                # before the kernel's OOM killer picks a process, and report where it happened
                self.killed_at = (now, rss)
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.pid, signal.SIGKILL)
            self._stop_event.wait(SAMPLE_SECONDS)

    def stop(self) -> None:
        self._stop_event.set()
        self.join()

    def peak(self, start: float | None = None, end: float | None = None) -> int:
        values = [b for t, b in self.samples if (start is None or t >= start) and (end is None or t <= end)]
        return max(values, default=0)


def run_measured(cmd: list[str], env: dict[str, str], log: Path, limit_gb: float | None = None) -> dict:
    """Run a child process; its wall time, exit code and peak RSS (sampled tree and the kernel's maxrss).

    With `limit_gb`, the child's process group is killed once the tree's RSS passes it."""
    started_epoch, started = time.time(), time.perf_counter()
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            cmd, env=env, cwd=REPO, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        sampler = Sampler(proc.pid, int(limit_gb * 2**30) if limit_gb else None)
        sampler.start()
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        sampler.stop()
    return {
        "seconds": round(time.perf_counter() - started, 2),
        "started": started_epoch,
        "exit_code": proc.returncode,
        # user + system CPU of the child and every descendant it waited for (dbt, DuckDB's threads)
        "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 2),
        # ru_maxrss (KiB): the largest single process of the tree (the child or a waited-for descendant)
        "maxrss_single_process_mb": round(usage.ru_maxrss / 1024, 1),
        "peak_tree_rss_mb": round(sampler.peak() / 2**20, 1),
        "killed_over_rss_limit_mb": round(sampler.killed_at[1] / 2**20, 1) if sampler.killed_at else None,
        "log": str(log),
        "_sampler": sampler,
    }


# ------------------------------------------------------------------------------------------- plain SQL
def landing_csv_read_sql(landing: Path, files: list[Path] | None = None) -> list[str]:
    """DuckDB's CSV reader over every landing CSV (or `files`): the parse cost ingestion cannot beat."""
    if files is None:
        files = sorted(
            p for p in landing.rglob("*.csv") if not p.name.endswith(".meta.csv") and "quarantine" not in p.parts
        )
    return [
        f"create or replace temp table t{i} as select * from read_csv('{p}', all_varchar=true, header=false, "
        f"null_padding=true, strict_mode=false, ignore_errors=true, parallel=false)"
        for i, p in enumerate(files)
    ]


def read_workbooks(landing: Path) -> int:
    """Every landing .xlsx read by fastexcel (calamine), as the pipeline reads Forms workbooks: cells read."""
    import fastexcel

    cells = 0
    for path in sorted(p for p in landing.rglob("*.xlsx") if "quarantine" not in p.parts):
        frame = fastexcel.read_excel(path.read_bytes()).load_sheet(0, header_row=None, dtypes="string").to_polars()
        cells += frame.height * frame.width
    return cells


def indicators_sql(lake: Path) -> list[str]:
    """The indicators' core work from the raw lake, ratio-of-sums rollups at every level."""
    raw = lake / "raw"

    def src(table: str) -> str:
        return f"read_parquet('{raw / table}/*.parquet', union_by_name=true)"

    return [
        # latest GIAS row per URN: laestab -> URN for files without URNs, trust membership
        f"""create or replace table gias as
            select * from {src("gias_establishments")}
            qualify row_number() over (partition by urn order by snapshot_date desc) = 1""",
        # school geography per year from the census (LA, region)
        f"""create or replace table school_geo as
            select time_period, coalesce(c.school_urn, g.urn) as urn,
                   any_value(c.new_la_code) as new_la_code, any_value(c.region_code) as region_code
            from {src("dfe_census")} c left join gias g on c.school_urn is null and g.laestab = c.school_laestab
            where c.geographic_level = 'School' group by all""",
        f"""create or replace table school_admin as
            with excl as (
                select e.time_period, coalesce(e.school_urn, g.urn) as urn,
                       sum(e.suspension) as suspensions, sum(e.headcount) as headcount
                from {src("dfe_exclusions")} e
                left join gias g on e.school_urn is null and g.laestab = e.school_laestab
                where e.geographic_level = 'School' and e.phase = 'Total'
                  and e.suspension_status = 'value' and e.headcount_status = 'value'
                group by all),
            absn as (
                select a.time_period, coalesce(a.school_urn, g.urn) as urn,
                       sum(a.enrolments_pa_10) as pa, sum(a.enrolments) as enrolments
                from {src("dfe_absence")} a
                left join gias g on a.school_urn is null and g.laestab = a.school_laestab
                where a.geographic_level = 'School' and a.phase = 'Total'
                  and a.enrolments_pa_10_status = 'value' and a.enrolments_status = 'value'
                group by all)
            select coalesce(excl.time_period, absn.time_period) as time_period,
                   coalesce(excl.urn, absn.urn) as urn,
                   suspensions, headcount, 100 * suspensions / nullif(headcount, 0) as suspension_rate,
                   pa, enrolments, 100 * pa / nullif(enrolments, 0) as persistent_absence_percent
            from excl full join absn using (time_period, urn)""",
        f"""create or replace table school_belonging as
            with responses as (
                select * from {src("survey_responses")}
                where instrument = 'pupil_belonging' and school_urn is not null
                qualify row_number() over (partition by response_key order by _source_file) = 1),
            rules as (select instrument, max(min_items_answered) as min_items
                      from {src("survey_items")} group by instrument),
            scores as (select response_key, avg(score) as score from {src("survey_answers")}
                       where instrument = 'pupil_belonging' and score is not null group by response_key)
            select r.time_period, r.school_urn as urn, count(*) as respondents,
                   sum(s.score) as score_sum, avg(s.score) as belonging_score_mean
            from responses r join rules using (instrument) join scores s using (response_key)
            where r.items_answered >= rules.min_items
            group by all""",
        """create or replace table school_indicators as
            select coalesce(a.time_period, b.time_period) as time_period, coalesce(a.urn, b.urn) as urn,
                   geo.new_la_code, geo.region_code, gias.trust_code,
                   a.suspensions, a.headcount, a.suspension_rate, a.pa, a.enrolments,
                   a.persistent_absence_percent, b.respondents, b.score_sum, b.belonging_score_mean
            from school_admin a full join school_belonging b using (time_period, urn)
            left join school_geo geo on geo.time_period = coalesce(a.time_period, b.time_period)
                 and geo.urn = coalesce(a.urn, b.urn)
            left join gias on gias.urn = coalesce(a.urn, b.urn)""",
        # ratio of sums, never means of rates; schools_included / schools_total per level
        """create or replace table rollups as
            select time_period,
                   case when grouping(trust_code) = 0 then 'MAT' when grouping(new_la_code) = 0
                        then 'Local authority' when grouping(region_code) = 0 then 'Regional'
                        else 'National' end as geographic_level,
                   coalesce(trust_code, new_la_code, region_code, 'E92000001') as geography_code,
                   100 * sum(suspensions) / sum(headcount) as suspension_rate,
                   100 * sum(pa) / sum(enrolments) as persistent_absence_percent,
                   sum(score_sum) / sum(respondents) as belonging_score_mean,
                   count(respondents) as belonging_schools_included, count(*) as schools_total
            from school_indicators
            group by grouping sets ((time_period, trust_code), (time_period, new_la_code),
                                    (time_period, region_code), (time_period))
            having geography_code is not null""",
    ]


def plain_sql_main(argv: list[str]) -> int:
    """Child-process entry: `_plain_sql <landing|lake|file> <path> <duckdb file> <timings json>`."""
    import duckdb

    kind, path, db, timings = argv
    if kind == "landing":
        statements = landing_csv_read_sql(Path(path))
    elif kind == "file":
        statements = landing_csv_read_sql(Path(path).parent, [Path(path)])
    else:
        statements = indicators_sql(Path(path))
    con = duckdb.connect(db)
    started = time.perf_counter()
    steps = []
    for sql in statements:
        t = time.perf_counter()
        con.execute(sql)
        steps.append(round(time.perf_counter() - t, 3))
    out = {"seconds": round(time.perf_counter() - started, 3), "statements": len(statements)}
    if kind == "landing":
        t = time.perf_counter()
        out["xlsx_cells"] = read_workbooks(Path(path))
        out["xlsx_seconds"] = round(time.perf_counter() - t, 3)
        out["seconds"] = round(out["seconds"] + out["xlsx_seconds"], 3)
    if kind == "lake":
        out["statement_seconds"] = steps
        out["rows"] = {
            t: con.execute(f"select count(*) from {t}").fetchone()[0]
            for t in ("school_indicators", "rollups")
        }
        out["national"] = con.execute(
            "select time_period, round(suspension_rate, 3), round(persistent_absence_percent, 3), "
            "round(belonging_score_mean, 2) from rollups where geographic_level = 'National' order by 1"
        ).fetchall()
    con.close()
    Path(timings).write_text(json.dumps(out), encoding="utf-8")
    return 0


def plain_sql(kind: str, path: Path, logs: Path, name: str, env: dict) -> dict:
    """Run one plain-DuckDB step in a child process, measured like the refresh."""
    timings, db = logs / f"{name}.json", logs / f"{name}.duckdb"
    m = run_measured([str(PYTHON), str(Path(__file__).resolve()), "_plain_sql", kind, str(path), str(db),
                      str(timings)], env, logs / f"{name}.log")
    m.pop("_sampler")
    if m["exit_code"] == 0:
        m |= {"inner": json.loads(timings.read_text(encoding="utf-8"))}
    db.unlink(missing_ok=True)
    return m


# ------------------------------------------------------------------------------------ incremental export
def write_new_export(landing: Path, responses: int = 1000) -> Path:
    """One new Qualtrics export of `responses` responses, as a school adds to the current wave: the header of the
    largest Qualtrics export of the latest wave, its rows repeated to `responses` with new response ids."""
    import polars as pl

    from ingestion.surveys import detect_tool

    exports = sorted((landing / "surveys").rglob("*.csv"), key=lambda p: -p.stat().st_size)
    source = next(p for p in exports if detect_tool(p) == "qualtrics")
    table = pl.read_csv(source, has_header=False, infer_schema=False, truncate_ragged_lines=True)
    header, rows = table.head(3), table.slice(3)
    id_col = next(c for c in table.columns if (header[c][0] or "").strip() == "ResponseId")
    rows = pl.concat([rows] * (responses // max(rows.height, 1) + 1)).head(responses)
    rows = rows.with_columns(pl.format("R_bench{}", pl.int_range(pl.len()).cast(pl.String).str.zfill(7))
                             .alias(id_col))
    out = landing / "surveys" / "bench_incremental" / f"new_export_{responses}.csv"
    out.parent.mkdir(parents=True, exist_ok=True)
    pl.concat([header, rows]).write_csv(out, include_header=False)
    return out


# --------------------------------------------------------------------------------------- analyst queries
ANALYST_QUERIES = {
    # the three README examples
    "inclusion_profile": """select academic_year, school_name, phase, round(belonging_score_mean, 1) as belonging
        from mart_inclusion_profile
        where belonging_score_mean_percentile >= 75 and suspension_rate_percentile <= 25
          and persistent_absence_percent_percentile <= 50
        order by academic_year desc, belonging desc""",
    "trust_suspensions": """select academic_year, trust_name, round(value, 2) as suspension_rate, numerator,
               denominator, schools_included, schools_total, round(change, 2) as change
        from mart_indicators
        where geographic_level = 'MAT' and indicator = 'suspension_rate' and breakdown = 'Total'
        order by trust_name, academic_year""",
    "send_gap_by_la": """select academic_year, time_identifier, la_name, round(value, 1) as gap, round(ci_lower, 1),
               round(ci_upper, 1), respondents
        from mart_indicators
        where geographic_level = 'Local authority' and indicator = 'belonging_gap_send'
        order by academic_year, la_name""",
}


def analyst_queries(home: Path, env: dict) -> list[dict]:
    """Each query as an analyst runs it (`belonging sql`, a new process each time) and its plain-DuckDB
    baseline (a read-only connection to the same release warehouse, in this process)."""
    import duckdb

    from publication.releases import current_release, release_parts

    warehouse = release_parts(current_release(home)).warehouse  # the internal part, as `belonging sql` opens it
    out = []
    for name, sql in ANALYST_QUERIES.items():
        started = time.perf_counter()
        proc = subprocess.run([str(BELONGING), "sql", "--home", str(home), "--format", "csv", sql], env=env,
                              capture_output=True, text=True)
        cli = time.perf_counter() - started
        started = time.perf_counter()
        con = duckdb.connect(str(warehouse), read_only=True)
        rows = len(con.execute(sql).fetchall())
        con.close()
        plain = time.perf_counter() - started
        out.append({"query": name, "belonging_sql_seconds": round(cli, 3), "plain_duckdb_seconds": round(plain, 3),
                    "rows": rows, "exit_code": proc.returncode,
                    "ratio_to_plain_sql": round(cli / plain, 1) if plain else None})
    return out


# ------------------------------------------------------------------------------------------- event log
def step_events(home: Path, run_id: str) -> list[dict]:
    os.environ["DAGSTER_HOME"] = str(home / "dagster")
    from dagster import DagsterInstance

    instance = DagsterInstance.get()
    steps: dict[str, dict] = {}
    for entry in instance.all_logs(run_id):
        event = entry.dagster_event
        if event is None or not event.step_key:
            continue
        kind = event.event_type_value
        if kind == "STEP_START":
            steps.setdefault(event.step_key, {})["start"] = entry.timestamp
        elif kind in ("STEP_SUCCESS", "STEP_FAILURE"):
            steps.setdefault(event.step_key, {}).update(
                end=entry.timestamp, status=kind.removeprefix("STEP_")
            )
    instance.dispose()
    out = [{"step": k, **v} for k, v in steps.items() if "start" in v]
    return sorted(out, key=lambda s: s["start"])


def latest_run_id(home: Path) -> str | None:
    os.environ["DAGSTER_HOME"] = str(home / "dagster")
    from dagster import DagsterInstance

    if not (home / "dagster").exists():
        return None
    instance = DagsterInstance.get()
    runs = instance.get_runs(limit=1)
    instance.dispose()
    return runs[0].run_id if runs else None


def dbt_models(home: Path, run_id: str, top: int = 12) -> list[dict]:
    # the dbt target folder was per run, then per home: whichever this run wrote
    candidates = [
        home / "dbt" / "target" / run_id / "run_results.json",
        home / "dbt" / "target" / "run_results.json",
    ]
    path = next((c for c in candidates if c.exists()), None)
    if path is None:
        return []
    results = json.loads(path.read_text(encoding="utf-8")).get("results", [])
    rows = [
        {"node": r["unique_id"], "seconds": round(r.get("execution_time") or 0, 2), "status": r["status"]}
        for r in results
    ]
    return sorted(rows, key=lambda r: -r["seconds"])[:top]


# ------------------------------------------------------------------------------------------------ report
def _mb(b: int) -> float:
    return round(b / 2**20, 1)


def machine() -> dict:
    """What the figures were measured on."""
    from importlib.metadata import version

    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.processor())
    mem = next((int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                if line.startswith("MemTotal")), 0)
    return {
        "cpu": model,
        "cpus": os.cpu_count(),
        "memory_gb": round(mem / 2**20, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "duckdb": version("duckdb"),
        "polars": version("polars"),
        "dbt_core": version("dbt-core"),
        "great_expectations": version("great-expectations"),
        "loadavg_before": [round(x, 2) for x in os.getloadavg()],
    }


def measure_refresh(home: Path, env: dict, log: Path, limit_gb: float | None, *extra: str) -> dict:
    """`belonging refresh` in a child process: wall, CPU, peak tree memory, outcome, each step's seconds and peak
    memory (from the run's Dagster events) and dbt's slowest nodes."""
    m = run_measured([str(BELONGING), "refresh", "--home", str(home), *extra], env, log, limit_gb)
    sampler: Sampler = m.pop("_sampler")
    outcome_path = home / "runs" / "last_refresh.json"
    fresh = outcome_path.exists() and outcome_path.stat().st_mtime >= m["started"]  # this run's, not an earlier
    outcome = json.loads(outcome_path.read_text(encoding="utf-8")) if fresh else {}
    m["status"] = outcome.get("status")
    if m["killed_over_rss_limit_mb"]:
        m["status"] = f"killed: tree RSS passed --max-rss-gb {limit_gb}"
    elif not m["status"] or m["exit_code"] not in (0, 1):
        m["status"] = f"crashed (exit code {m['exit_code']}): see {m['log']}"
    m["run_id"] = outcome.get("run_id") or (latest_run_id(home) if fresh else None)
    m["failed_steps"] = outcome.get("failed_steps", [])
    m["failed_checks"] = [f"{c['asset']}/{c['check']}" for c in outcome.get("failed_checks", [])]
    steps = []
    for st in step_events(home, m["run_id"]) if m["run_id"] else []:
        end = st.get("end", m["started"] + m["seconds"])
        steps.append({"step": st["step"], "seconds": round(end - st["start"], 2),
                      "share_percent": round(100 * (end - st["start"]) / m["seconds"], 1),
                      "peak_tree_rss_mb": _mb(sampler.peak(st["start"] - SAMPLE_SECONDS, end + SAMPLE_SECONDS)),
                      "status": st.get("status", "UNFINISHED")})
    m["steps"] = steps
    m["outside_steps_seconds"] = round(m["seconds"] - sum(st["seconds"] for st in steps), 2)
    m["dbt_models"] = dbt_models(home, m["run_id"]) if m["run_id"] else []
    return m


def _ratio(a: float, b: float) -> float | None:
    return round(a / b, 2) if b else None


def _cpu(baseline: dict) -> float:
    """CPU seconds of an incremental baseline (its two child processes)."""
    return round(sum(baseline[k].get("cpu_seconds", 0) for k in ("read", "indicators_sql")), 2)


TARGETS = (
    # (what, measured key, target, unit, how it compares)
    ("full refresh / plain DuckDB (same work, same run)", "full_ratio", 2.0, "x"),
    ("peak memory of the refresh's process tree", "peak_gb", 4.0, "GB"),
    ("incremental refresh / full refresh", "incremental_share", 0.20, ""),
    ("analyst query via `belonging sql` (slowest of three)", "query_seconds", 1.0, "s"),
)


def targets(report: dict) -> list[dict]:
    full, inc = report["full"], report.get("incremental") or {}
    measured = {
        "full_ratio": full["ratio_to_plain_sql"],
        "peak_gb": round(max(full["peak_tree_rss_mb"], inc.get("peak_tree_rss_mb", 0)) / 1024, 2),
        "incremental_share": _ratio(inc["seconds"], full["seconds"]) if inc else None,
        "query_seconds": max((q["belonging_sql_seconds"] for q in report["queries"]), default=None),
    }
    if report["scale"] == "small":  # the demo's size: its refresh is the newcomer's first run
        measured["demo_seconds"] = full["seconds"]
    rows = []
    failed = {"full_ratio", "peak_gb", "demo_seconds"} if full["status"] != "published" else set()
    if inc and inc.get("status") != "published":
        failed |= {"incremental_share", "peak_gb"}
    for what, key, target, unit in (*TARGETS, ("demo refresh (about 300 schools)", "demo_seconds", 20.0, "s")):
        value = measured.get(key)
        if value is None:
            continue
        if key in failed:  # a refresh that did not publish measured nothing: never "met"
            rows.append({"target": what, "limit": target, "unit": unit, "measured": value, "met": False,
                         "missed_by": None, "failed": "the refresh did not publish"})
            continue
        rows.append({"target": what, "limit": target, "unit": unit, "measured": value, "met": value <= target,
                     "missed_by": None if value <= target else round(value / target, 2)})
    return rows


def _steps_table(r: dict, base: float) -> list[str]:
    """A refresh's steps (seconds, share, ratio to its baseline, peak memory) and dbt's slowest nodes."""
    lines = ["| step | seconds | share | x plain SQL | peak tree RSS MB | status |", "|---|---:|---:|---:|---:|---|"]
    for st in r["steps"]:
        lines.append(f"| {st['step']} | {st['seconds']} | {st['share_percent']}% | {_ratio(st['seconds'], base)} | "
                     f"{st['peak_tree_rss_mb']} | {st['status']} |")
    lines.append(f"| (outside steps: start-up, imports, dbt parse) | {r['outside_steps_seconds']} | | | | |")
    if r["dbt_models"]:
        lines += ["", "Slowest dbt nodes:", "", "| node | seconds |", "|---|---:|"]
        lines += [f"| {x['node']} | {x['seconds']} |" for x in r["dbt_models"]]
    return lines


def markdown(report: dict) -> str:
    full, inc, plain = report["full"], report.get("incremental"), report["plain_sql"]
    base = plain["total_seconds"] or float("nan")
    landing = plain["landing_csv_read"].get("inner", {})
    m = report["machine"]
    lines = [
        f"# Benchmark: {report['scale']} ({report['created']})",
        "",
        f"Machine: {m['cpu']}, {m['cpus']} CPUs, {m['memory_gb']} GB; Linux {m['kernel']}; Python {m['python']}, "
        f"DuckDB {m['duckdb']}, polars {m['polars']}, dbt-core {m['dbt_core']}, GX {m['great_expectations']}. "
        f"Load average before: {m['loadavg_before']} (the machine is shared: read the ratios).",
        f"Inputs: {report['inputs']['landing_files']} landing files ({report['inputs']['xlsx_files']} .xlsx), "
        f"{report['inputs']['landing_mb']} MB; lake {report['inputs']['lake_rows'].get('survey_responses', 0):,} "
        f"survey responses, {report['inputs']['lake_rows'].get('survey_answers', 0):,} answers. Generating them: "
        f"{report['generate']['seconds']} s, peak {report['generate']['peak_tree_rss_mb']} MB.",
        "",
        "## Targets",
        "",
        "| target | limit | measured | met |",
        "|---|---:|---:|---|",
    ]
    for t in report["targets"]:
        verdict = ("yes" if t["met"] else f"no: {t['failed']}" if t.get("failed")
                   else f"no: {t['missed_by']}x the limit")
        lines.append(f"| {t['target']} | {t['limit']}{t['unit']} | {t['measured']}{t['unit']} | {verdict} |")
    lines += [
        "",
        "## Full refresh",
        "",
        f"Plain DuckDB, same work (child processes, same run): every landing CSV parsed by DuckDB "
        f"{landing.get('seconds', 0) - landing.get('xlsx_seconds', 0):.2f} s"
        f" and every .xlsx by fastexcel {landing.get('xlsx_seconds', 0)} s, then the "
        f"indicators SQL from the lake {plain['indicators_sql']['seconds']} s: **{base} s** wall, "
        f"{plain['cpu_seconds']} s CPU, peak {plain['peak_tree_rss_mb']} MB.",
        "",
        f"`belonging refresh`: **{full['seconds']} s** wall = **{full['ratio_to_plain_sql']}x** plain DuckDB; "
        f"{full['cpu_seconds']} s CPU = {_ratio(full['cpu_seconds'], plain['cpu_seconds'])}x its CPU (CPU time "
        f"holds better than wall time when the machine is busy); peak tree RSS **{full['peak_tree_rss_mb']} MB**; "
        f"{full['status']}.",
        "",
        *_steps_table(full, base),
    ]
    if inc:
        ib = report["plain_sql_incremental"]
        lines += [
            "",
            f"## Incremental refresh (one new export of {report['incremental_responses']:,} responses)",
            "",
            f"Plain DuckDB, same work: the new export parsed, then the indicators SQL again: **{ib['seconds']} s** "
            f"wall, {_cpu(ib)} s CPU.",
            "",
            f"`belonging refresh`: **{inc['seconds']} s** wall = {_ratio(inc['seconds'], full['seconds'])} of the "
            f"full refresh, {inc['ratio_to_plain_sql']}x its plain DuckDB; {inc['cpu_seconds']} s CPU "
            f"({_ratio(inc['cpu_seconds'], full['cpu_seconds'])} of the full refresh's); "
            f"peak {inc['peak_tree_rss_mb']} MB; {inc['status']}.",
            "",
            *_steps_table(inc, ib["seconds"]),
        ]
    if report["queries"]:
        lines += ["", "## Analyst queries on the current release", "",
                  "| query | `belonging sql` (new process) s | plain DuckDB s | x plain | rows |",
                  "|---|---:|---:|---:|---:|"]
        lines += [f"| {q['query']} | {q['belonging_sql_seconds']} | {q['plain_duckdb_seconds']} | "
                  f"{q['ratio_to_plain_sql']} | {q['rows']} |" for q in report["queries"]]
    return "\n".join(lines) + "\n"


def lake_rows(lake: Path) -> dict[str, int]:
    import duckdb

    con = duckdb.connect()
    out = {}
    for d in sorted((lake / "raw").glob("*")):
        out[d.name] = con.execute(f"select count(*) from read_parquet('{d}/*.parquet')").fetchone()[0]
    con.close()
    return out


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "_plain_sql":
        return plain_sql_main(argv[1:])
    if argv and argv[0] == "--render":  # the report of an earlier run's JSON, again (after a change of its layout)
        report = json.loads(Path(argv[1]).read_text(encoding="utf-8"))
        report["targets"] = targets(report)
        Path(argv[2]).write_text(markdown(report), encoding="utf-8")
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", choices=("small", "national"), default="national")
    parser.add_argument("--out", default=str(REPO / "bench" / "out"))
    parser.add_argument("--results", help="also write the report here (default: bench/RESULTS.md for national)")
    parser.add_argument("--home", help="home to use (default: a temporary folder, removed unless --keep)")
    parser.add_argument("--landing-from", help="copy landing/ from this earlier home instead of generating")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--keep", action="store_true", help="keep the temporary home")
    parser.add_argument("--incremental-responses", type=int, default=1000,
                        help="responses in the new export of the incremental refresh (0: no incremental run)")
    parser.add_argument(
        "--max-rss-gb",
        type=float,
        default=16.0,
        help="kill the refresh when its process tree passes this resident memory (shared machines; 0: no limit)",
    )
    args = parser.parse_args(argv)

    out_dir = Path(args.out).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    home = Path(args.home).resolve() if args.home else Path(tempfile.mkdtemp(prefix=f"bench-{args.scale}-"))
    if (home / "lake").exists() or (home / "landing").exists():
        print(f"{home} already holds a landing/ or lake/: give an empty or new --home", file=sys.stderr)
        return 2
    home.mkdir(parents=True, exist_ok=True)
    logs = home / "bench-logs"
    logs.mkdir()
    env = dict(os.environ, BELONGING_HOME=str(home), DAGSTER_HOME=str(home / "dagster"), DO_NOT_TRACK="1")
    # a key of the run's own (the refresh refuses the demo's published key outside a demo home)
    env.setdefault("BELONGING_PSEUDONYM_KEY", secrets.token_hex(32))
    limit = args.max_rss_gb or None
    report: dict = {
        "scale": args.scale,
        "seed": args.seed,
        "created": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "home": str(home),
        "machine": machine(),
    }

    # 1. landing files
    if args.landing_from:
        t = time.perf_counter()
        shutil.copytree(
            Path(args.landing_from) / "landing", home / "landing",
            ignore=shutil.ignore_patterns("quarantine", "bench_incremental"),
        )
        gen = {"seconds": round(time.perf_counter() - t, 2), "peak_tree_rss_mb": 0, "copied_from": args.landing_from}
    else:
        code = (
            "import sys; from pathlib import Path; from demo import generate; "
            f"s = generate(Path(sys.argv[1]), scale={args.scale!r}, seed={args.seed}); "
            "print({k: v for k, v in s.items() if k != 'paths'})"
        )
        gen = run_measured([str(PYTHON), "-c", code, str(home / "landing")], env, logs / "generate.log")
        gen.pop("_sampler")
        if gen["exit_code"]:
            print(f"demo generation failed: see {gen['log']}", file=sys.stderr)
            return 1
    report["generate"] = gen
    landing_files = [p for p in (home / "landing").rglob("*") if p.is_file()]
    print(f"landing: {len(landing_files)} files in {gen['seconds']} s", flush=True)

    # 2. the full refresh, then its plain-DuckDB baseline (same home, same machine, same run)
    full = measure_refresh(home, env, logs / "refresh.log", limit)
    print(f"full refresh: {full['status']} in {full['seconds']} s, peak {full['peak_tree_rss_mb']} MB", flush=True)
    plain = {
        "landing_csv_read": plain_sql("landing", home / "landing", logs, "landing_read", env),
        "indicators_sql": plain_sql("lake", home / "lake", logs, "indicators_sql", env),
    }
    parts = ("landing_csv_read", "indicators_sql")
    plain["total_seconds"] = round(sum(plain[k]["seconds"] for k in parts), 2)
    plain["cpu_seconds"] = round(sum(plain[k]["cpu_seconds"] for k in parts), 2)
    plain["peak_tree_rss_mb"] = max(plain[k]["peak_tree_rss_mb"] for k in parts)
    full["ratio_to_plain_sql"] = _ratio(full["seconds"], plain["total_seconds"])
    report["plain_sql"], report["full"] = plain, full
    print(f"plain DuckDB: {plain['total_seconds']} s", flush=True)

    # 3. one new export, the incremental refresh, and its baseline (the export parsed, the indicators again)
    report["incremental"] = None
    if args.incremental_responses and full["status"] == "published":
        export = write_new_export(home / "landing", args.incremental_responses)
        inc = measure_refresh(home, env, logs / "refresh_incremental.log", limit)
        read = plain_sql("file", export, logs, "incremental_read", env)
        again = plain_sql("lake", home / "lake", logs, "incremental_indicators_sql", env)
        report["plain_sql_incremental"] = {"seconds": round(read["seconds"] + again["seconds"], 2),
                                           "read": read, "indicators_sql": again}
        inc["ratio_to_plain_sql"] = _ratio(inc["seconds"], report["plain_sql_incremental"]["seconds"])
        report["incremental"], report["incremental_responses"] = inc, args.incremental_responses
        print(f"incremental refresh: {inc['status']} in {inc['seconds']} s", flush=True)

    # 4. an analyst's queries on the current release
    published = (home / "releases" / "current").exists()
    report["queries"] = analyst_queries(home, env) if published else []
    report["inputs"] = {
        "landing_files": len(landing_files),
        "xlsx_files": sum(1 for p in landing_files if p.suffix == ".xlsx"),
        "landing_mb": round(sum(p.stat().st_size for p in landing_files) / 2**20, 1),
        "lake_rows": lake_rows(home / "lake") if (home / "lake" / "raw").exists() else {},
    }
    report["targets"] = targets(report)

    stem = f"benchmark-{args.scale}"
    text = markdown(report)
    (out_dir / f"{stem}.json").write_text(json.dumps(report, indent=2), encoding="utf-8")
    (out_dir / f"{stem}.md").write_text(text, encoding="utf-8")
    results = args.results or (str(REPO / "bench" / "RESULTS.md") if args.scale == "national" else None)
    if results:
        Path(results).write_text(text, encoding="utf-8")
    print(text)
    print(f"wrote {out_dir / stem}.json and .md" + (f", and {results}" if results else ""))
    if not args.home and not args.keep:
        shutil.rmtree(home, ignore_errors=True)
    return 0 if full["status"] == "published" else 1


if __name__ == "__main__":
    sys.exit(main())
