"""National-scale benchmark of the refresh, with a plain-DuckDB baseline measured in the same run.

    .venv/bin/python bench/benchmark.py [--scale national|small] [--out bench/out] [--home DIR]
                                        [--landing-from HOME] [--seed N] [--keep]

1. Writes the demo landing set (`demo.generate`) into a fresh home (or copies the landing/ of an earlier
   home with --landing-from, so two runs read identical inputs).
2. Runs `belonging refresh` on it in a child process while a sampler thread reads the RSS of that process
   and every descendant (dbt runs as a grandchild) from /proc every 0.2 s.
3. Reads the run's STEP_START / STEP_SUCCESS / STEP_FAILURE events from the home's Dagster instance and
   reports each step's wall time and the peak RSS of the process tree during it; dbt's per-model timings
   come from the run's run_results.json.
4. Runs the same core work in plain DuckDB SQL in a child process (sampled the same way):
   - `landing_csv_read`: every landing CSV parsed by DuckDB's CSV reader (the parse cost ingestion cannot
     beat);
   - `indicators_sql`: from the lake's raw Parquet, school-level suspension rate, persistent absence and
     pupil belonging mean, with trust, LA, regional and national ratio-of-sums rollups, materialised in a
     DuckDB file.
5. Writes `<out>/benchmark-<scale>.json` and `<out>/benchmark-<scale>.md`. Absolute times on shared 2-core
   machines are noisy, so read the RATIOS (pipeline / plain SQL, both measured in this run).

Not a pytest test. See bench/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
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
DEMO_KEY = "belonging-demo-key-not-secret"  # orchestration.settings.DEMO_PSEUDONYM_KEY


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
        # ru_maxrss (KiB): the largest single process of the tree (the child or a waited-for descendant)
        "maxrss_single_process_mb": round(usage.ru_maxrss / 1024, 1),
        "peak_tree_rss_mb": round(sampler.peak() / 2**20, 1),
        "killed_over_rss_limit_mb": round(sampler.killed_at[1] / 2**20, 1) if sampler.killed_at else None,
        "log": str(log),
        "_sampler": sampler,
    }


# ------------------------------------------------------------------------------------------- plain SQL
def landing_csv_read_sql(landing: Path) -> list[str]:
    files = sorted(
        p for p in landing.rglob("*.csv") if not p.name.endswith(".meta.csv") and "quarantine" not in p.parts
    )
    return [
        f"create or replace temp table t{i} as select * from read_csv('{p}', all_varchar=true, header=false, "
        f"null_padding=true, strict_mode=false, ignore_errors=true)"
        for i, p in enumerate(files)
    ]


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
    """Child-process entry: `_plain_sql <landing|lake> <path> <duckdb file> <timings json>`."""
    import duckdb

    kind, path, db, timings = argv
    statements = landing_csv_read_sql(Path(path)) if kind == "landing" else indicators_sql(Path(path))
    con = duckdb.connect(db)
    started = time.perf_counter()
    steps = []
    for sql in statements:
        t = time.perf_counter()
        con.execute(sql)
        steps.append(round(time.perf_counter() - t, 3))
    out = {"seconds": round(time.perf_counter() - started, 3), "statements": len(statements)}
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


def markdown(report: dict) -> str:
    base = report["plain_sql"]["total_seconds"] or float("nan")
    r = report["refresh"]
    lines = [
        f"# Benchmark: {report['scale']} ({report['created']})",
        "",
        f"Inputs: {report['inputs']['landing_files']} landing files, {report['inputs']['landing_mb']} MB; "
        f"lake {report['inputs']['lake_rows'].get('survey_responses', 0):,} survey responses, "
        f"{report['inputs']['lake_rows'].get('survey_answers', 0):,} answers.",
        f"Machine: {report['machine']['cpus']} CPUs, load average before {report['machine']['loadavg_before']}.",
        "",
        f"Plain DuckDB baseline (same run): landing CSV parse {report['plain_sql']['landing_csv_read']['seconds']} s, "
        f"indicators SQL {report['plain_sql']['indicators_sql']['seconds']} s; total **{base} s**, "
        f"peak {report['plain_sql']['peak_tree_rss_mb']} MB.",
        "",
        f"Refresh: **{r['seconds']} s** = **{r['ratio_to_plain_sql']}x** plain SQL; "
        f"peak RSS {r['peak_tree_rss_mb']} MB (process tree), status {r['status']}."
        + (f" Killed at {r['killed_over_rss_limit_mb']} MB." if r.get("killed_over_rss_limit_mb") else ""),
        f"Demo generation (not part of the refresh): {report['generate']['seconds']} s, "
        f"peak {report['generate']['peak_tree_rss_mb']} MB.",
        "",
        "| step | seconds | share of refresh | x plain SQL | peak tree RSS MB | status |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for s in report["steps"]:
        lines.append(
            f"| {s['step']} | {s['seconds']} | {s['share_percent']}% | {s['ratio_to_plain_sql']} | "
            f"{s['peak_tree_rss_mb']} | {s['status']} |"
        )
    lines.append(f"| (outside steps: start-up, imports, dbt parse) | {r['outside_steps_seconds']} | | | | |")
    if report["dbt_models"]:
        lines += ["", "Slowest dbt nodes:", "", "| node | seconds |", "|---|---:|"]
        lines += [f"| {m['node']} | {m['seconds']} |" for m in report["dbt_models"]]
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
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", choices=("small", "national"), default="national")
    parser.add_argument("--out", default=str(REPO / "bench" / "out"))
    parser.add_argument("--home", help="home to use (default: a temporary folder, removed unless --keep)")
    parser.add_argument("--landing-from", help="copy landing/ from this earlier home instead of generating")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--keep", action="store_true", help="keep the temporary home")
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
    env.setdefault("BELONGING_PSEUDONYM_KEY", DEMO_KEY)
    report: dict = {
        "scale": args.scale,
        "seed": args.seed,
        "created": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "home": str(home),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "loadavg_before": [round(x, 2) for x in os.getloadavg()],
        },
    }

    # 1. landing files
    if args.landing_from:
        t = time.perf_counter()
        shutil.copytree(
            Path(args.landing_from) / "landing", home / "landing", ignore=shutil.ignore_patterns("quarantine")
        )
        gen = {
            "seconds": round(time.perf_counter() - t, 2),
            "peak_tree_rss_mb": 0,
            "copied_from": args.landing_from,
        }
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

    # 2. the refresh, sampled
    refresh = run_measured(
        [str(BELONGING), "refresh", "--home", str(home)], env, logs / "refresh.log", args.max_rss_gb or None
    )
    sampler: Sampler = refresh.pop("_sampler")
    outcome_path = home / "runs" / "last_refresh.json"
    outcome = json.loads(outcome_path.read_text(encoding="utf-8")) if outcome_path.exists() else {}
    refresh["status"] = outcome.get("status") or (
        f"killed: tree RSS passed --max-rss-gb {args.max_rss_gb}"
        if refresh["killed_over_rss_limit_mb"]
        else f"crashed (exit code {refresh['exit_code']}): see {refresh['log']}"
    )
    refresh["run_id"] = outcome.get("run_id") or latest_run_id(home)  # none written when it was killed
    refresh["failed_steps"] = outcome.get("failed_steps", [])
    refresh["failed_checks"] = [f"{c['asset']}/{c['check']}" for c in outcome.get("failed_checks", [])]
    print(
        f"refresh: {refresh['status']} in {refresh['seconds']} s, peak {refresh['peak_tree_rss_mb']} MB",
        flush=True,
    )

    # 3. the plain SQL baseline, same home, same machine, same run
    plain = {}
    for name, kind, path in (
        ("landing_csv_read", "landing", home / "landing"),
        ("indicators_sql", "lake", home / "lake"),
    ):
        timings = logs / f"{name}.json"
        db = logs / f"{name}.duckdb"
        m = run_measured(
            [
                str(PYTHON),
                str(Path(__file__).resolve()),
                "_plain_sql",
                kind,
                str(path),
                str(db),
                str(timings),
            ],
            env,
            logs / f"{name}.log",
        )
        m.pop("_sampler")
        if m["exit_code"] == 0:
            m |= {"inner": json.loads(timings.read_text(encoding="utf-8"))}
        plain[name] = m
        db.unlink(missing_ok=True)
    plain["total_seconds"] = round(
        sum(plain[k]["seconds"] for k in ("landing_csv_read", "indicators_sql")), 2
    )
    plain["peak_tree_rss_mb"] = max(
        plain[k]["peak_tree_rss_mb"] for k in ("landing_csv_read", "indicators_sql")
    )
    report["plain_sql"] = plain
    base = plain["total_seconds"]
    print(f"plain SQL: {base} s", flush=True)

    # 4. per step
    steps = []
    if refresh["run_id"]:
        for s in step_events(home, refresh["run_id"]):
            end = s.get("end", refresh["started"] + refresh["seconds"])
            seconds = end - s["start"]
            steps.append(
                {
                    "step": s["step"],
                    "seconds": round(seconds, 2),
                    "share_percent": round(100 * seconds / refresh["seconds"], 1),
                    "ratio_to_plain_sql": round(seconds / base, 2) if base else None,
                    "peak_tree_rss_mb": _mb(sampler.peak(s["start"] - SAMPLE_SECONDS, end + SAMPLE_SECONDS)),
                    "status": s.get("status", "UNFINISHED"),
                }
            )
    refresh["ratio_to_plain_sql"] = round(refresh["seconds"] / base, 2) if base else None
    refresh["outside_steps_seconds"] = round(refresh["seconds"] - sum(s["seconds"] for s in steps), 2)
    report["refresh"] = refresh
    report["steps"] = steps
    report["dbt_models"] = dbt_models(home, refresh["run_id"]) if refresh["run_id"] else []
    report["inputs"] = {
        "landing_files": len(landing_files),
        "landing_mb": round(sum(p.stat().st_size for p in landing_files) / 2**20, 1),
        "lake_rows": lake_rows(home / "lake") if (home / "lake" / "raw").exists() else {},
    }

    stem = f"benchmark-{args.scale}"
    (out_dir / f"{stem}.json").write_text(json.dumps(report, indent=2), encoding="utf-8")
    (out_dir / f"{stem}.md").write_text(markdown(report), encoding="utf-8")
    print(markdown(report))
    print(f"wrote {out_dir / stem}.json and .md")
    if not args.home and not args.keep:
        shutil.rmtree(home, ignore_errors=True)
    return 0 if refresh["status"] == "published" else 1


if __name__ == "__main__":
    sys.exit(main())
