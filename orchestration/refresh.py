"""Run a job (the refresh, the download) in-process on a home and say, in plain words, what happened.

While it runs: progress bars with counts and elapsed time on a terminal (landing files read, dbt models and
tests, gates, publication), plain time-stamped lines when the output is a log or CI. Everything else, dbt's
own output, Dagster's events and every stack trace, goes to the run's log file,
`<home>/runs/<run_id>/refresh.log`. At the end, a summary: what was loaded, quarantined and published, and
each gate's result. The same summary (without the per-file notes) is written for runs that Dagster's daemon
started (`record_run_outcome`), so `belonging status` reports the last refresh however it ran.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import re
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from orchestration.settings import Home

GATE_CHECKS = ("raw_gate", "mart_gate", "extract_gate")  # the Great Expectations gates (checks.py)
LOG_NAME = "{job}.log"  # runs/<run_id>/refresh.log, download.log
LAST_REFRESH = "last_refresh.json"
CLI_TAG = "belonging/cli"  # a run `belonging` started (it records its own outcome)
FAILED_GATES_TAG = "belonging/failed_gates"  # on a failed run: the gates that failed, shown in the UI's run list
LOADER_LOGGER = "ingestion.load"  # logs one record per landing entry with the entry's FileOutcome (`outcome`)
FAMILIES = ("gias", "dfe", "surveys")
DBT_LINE = re.compile(r"^\s*(\d+) of (\d+) (OK|PASS|ERROR|FAIL|WARN|SKIP|NO-OP)\b")
NOTE_WORDS = {"quarantined_file": "quarantined"}  # a file note as `belonging status` words it: "<word> landing/<file>"
FILE_COUNTS = ("files_loaded", "files_skipped_unchanged", "files_quarantined", "files_refused", "files_ignored",
               "files_retired", "rows_loaded", "rows_quarantined")


@dataclass
class RunTotals:
    """What a run will go through, known before it starts (the progress bars' totals)."""

    landing_entries: int = 0
    gates: int = 0
    gate_names: tuple[tuple[str, str], ...] = ()  # (asset, check) of every gate the job runs
    publishes: bool = False


def run_totals(home: Home, job_name: str) -> RunTotals:
    from ingestion.landing import scan
    from orchestration.definitions import defs

    if job_name != "refresh":
        return RunTotals()
    entries = 0
    for family in FAMILIES:
        found = scan(home.landing, family)
        entries += len(found.files) + len(found.refused) + len(getattr(found, "ignored", []))
    checks = defs.resolve_asset_graph().asset_check_keys
    gates = tuple(sorted((k.asset_key.to_user_string(), k.name) for k in checks if k.name in GATE_CHECKS))
    return RunTotals(entries, len(gates), gates, True)


@dataclass
class Monitor:
    """Follows one run: Dagster's events, the loader's per-file records and dbt's output lines.

    `out` is where a person reads (None: collect only, as for a run read back from the instance); on a
    terminal it shows rich progress bars, elsewhere plain lines. `log` receives everything."""

    out: TextIO | None = None
    log: TextIO | None = None
    terminal: bool = False
    totals: RunTotals = field(default_factory=RunTotals)
    started: float = field(default_factory=time.perf_counter)
    files: list[dict] = field(default_factory=list)
    checks: list[dict] = field(default_factory=list)
    failed_steps: list[dict] = field(default_factory=list)
    step_metadata: dict[str, dict] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    dbt_done: int = 0
    dbt_total: int = 0

    def __post_init__(self):
        self.progress = None
        self.tasks: dict[str, int] = {}
        if self.out is not None and self.terminal:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                SpinnerColumn,
                TextColumn,
                TimeElapsedColumn,
            )

            self.progress = Progress(SpinnerColumn(), TextColumn("{task.description:<22}"), BarColumn(),
                                     MofNCompleteColumn(), TimeElapsedColumn(),
                                     console=Console(file=self.out), redirect_stdout=False, redirect_stderr=False)
            if self.totals.landing_entries:
                self._task("files", "landing files read", self.totals.landing_entries)
            if self.totals.gates:
                self._task("gates", "gates", self.totals.gates)
            if self.totals.publishes:
                self._task("publish", "extracts and release", 2)

    # ---- what a person sees
    def _task(self, name: str, description: str, total: int | None) -> None:
        if self.progress is not None and name not in self.tasks:
            self.tasks[name] = self.progress.add_task(description, total=total)

    def _advance(self, name: str, **kwargs) -> None:
        if self.progress is not None and name in self.tasks:
            self.progress.update(self.tasks[name], **kwargs)

    def line(self, text: str) -> None:
        """A plain progress line (not on a terminal, where the bars say it)."""
        self.write_log(text)
        if self.out is not None and self.progress is None:
            print(f"[{time.perf_counter() - self.started:7.1f}s] {text}", file=self.out, flush=True)

    def write_log(self, text: str) -> None:
        if self.log is not None:
            self.log.write(f"{datetime.now(UTC):%H:%M:%S} {text}\n")
            self.log.flush()

    @contextlib.contextmanager
    def shown(self) -> Iterator[Monitor]:
        if self.progress is None:
            yield self
            return
        with self.progress:
            yield self

    # ---- inputs
    def file_outcome(self, outcome) -> None:
        self.files.append({"status": outcome.status, "file": outcome.file, "message": outcome.message,
                           "rows_loaded": outcome.rows_loaded, "rows_quarantined": outcome.rows_quarantined})
        self._advance("files", advance=1)

    def dbt_line(self, text: str) -> None:
        match = DBT_LINE.match(text)
        if not match:
            return
        self.dbt_done, self.dbt_total = max(self.dbt_done, int(match[1])), int(match[2])
        self._task("dbt", "dbt models and tests", self.dbt_total)
        self._advance("dbt", completed=self.dbt_done)

    def event(self, entry) -> None:
        """A Dagster event log entry of the run (an instance listener, or a record read back)."""
        from dagster import DagsterEventType

        event = entry.dagster_event
        step = entry.step_key or "-"
        if event is None:  # a step's own log message (context.log)
            self.write_log(f"{logging.getLevelName(entry.level)} {step}: {entry.user_message}")
            if entry.level >= logging.WARNING:
                self.warnings.append(entry.user_message)
            return
        self.write_log(f"{event.event_type_value} {step}: {event.message or ''}")
        kind = event.event_type
        if kind == DagsterEventType.ASSET_CHECK_EVALUATION:
            self._check(event.event_specific_data)
        elif kind == DagsterEventType.ASSET_MATERIALIZATION:
            self._materialized(step, event.event_specific_data.materialization)
        elif kind == DagsterEventType.STEP_FAILURE:
            error = event.step_failure_data.error
            self.write_log(f"stack trace of {step}:\n{error.to_string() if error else ''}")
            self.failed_steps.append({"step": step, "error": root_message(error)})
            self.line(f"step {step} FAILED: {root_message(error)[:300]}")
        elif kind == DagsterEventType.STEP_START and not step.endswith(GATE_CHECKS):
            self.line(f"{step} started")
        elif kind == DagsterEventType.STEP_SUCCESS and not step.endswith(GATE_CHECKS):
            self.line(f"{step} done{self._step_detail(step)}")

    def _check(self, evaluation) -> None:
        meta = {k: getattr(v, "value", v) for k, v in (evaluation.metadata or {}).items()}
        check = {"asset": evaluation.asset_key.to_user_string(), "check": evaluation.check_name,
                 "passed": bool(evaluation.passed), "gate": evaluation.check_name in GATE_CHECKS,
                 "message": str(meta.get("message", meta.get("status", ""))),
                 "failures": str(meta.get("failures", "")), "details": meta.get("failure_details", [])}
        self.checks.append(check)
        if check["gate"]:
            self._advance("gates", advance=1)
            self.line(f"gate {check['check']} on {check['asset']}: {'passed' if check['passed'] else 'FAILED'}")

    def _materialized(self, step: str, materialization) -> None:
        key = materialization.asset_key.to_user_string()
        meta = {k: getattr(v, "value", v) for k, v in (materialization.metadata or {}).items()}
        self.step_metadata.setdefault(step, meta)
        if key in ("publication/extracts", "publication/release"):
            self._advance("publish", advance=1)

    def _step_detail(self, step: str) -> str:
        meta = self.step_metadata.get(step, {})
        if "files_loaded" in meta:
            return (f": {meta['files_loaded']} files loaded ({meta['rows_loaded']:,} rows), "
                    f"{meta['files_skipped_unchanged']} unchanged, {meta['files_quarantined']} quarantined")
        if self.dbt_total and "dbt" in step:
            return f": {self.dbt_done} of {self.dbt_total} models and tests"
        if "release_id" in meta:
            return f": release {meta['release_id']}"
        if "downloaded" in meta:
            return f": {meta['downloaded']} downloaded, {meta['unchanged']} unchanged, {meta['failed']} failed"
        return ""

    # ---- the outcome
    def file_counts(self) -> dict[str, int]:
        counts = dict.fromkeys(FILE_COUNTS, 0)
        for meta in self.step_metadata.values():
            if "files_loaded" in meta:
                for key in FILE_COUNTS:
                    counts[key] += int(meta.get(key) or 0)
        return counts


class _LoaderHandler(logging.Handler):
    def __init__(self, monitor: Monitor):
        super().__init__(logging.INFO)
        self.monitor = monitor

    def emit(self, record: logging.LogRecord) -> None:
        outcome = getattr(record, "outcome", None)
        if outcome is not None:
            self.monitor.file_outcome(outcome)


class _Tee(io.TextIOBase):
    """Stands in for sys.stdout and sys.stderr during a run: all into the log, dbt's lines to the monitor."""

    def __init__(self, monitor: Monitor, log: TextIO):
        self.monitor, self.log, self.pending = monitor, log, ""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self.log.write(text)
        self.pending += text
        *lines, self.pending = self.pending.split("\n")
        for line in lines:
            self.monitor.dbt_line(line)
        return len(text)

    def flush(self) -> None:
        self.log.flush()


def root_message(error) -> str:
    """The innermost cause of a step's error: what went wrong, not Dagster's wrapper around it."""
    if error is None:
        return ""
    while getattr(error, "cause", None) is not None:
        error = error.cause
    message = (error.message or "").strip()
    # "ingestion.load.PseudonymKeyMissing: ..." -> the sentence a person can act on
    return re.sub(r"^[\w.]+(Error|Exception|Missing|Failure|Refused): ", "", message)[:2000]


_UNSYNCED: set[str] = set()  # the Dagster homes whose SQLite run history is written without fsync


def unsynced_run_history(dagster_home: Path) -> None:
    """Dagster's SQLite run history under `dagster_home` written without waiting for the disk (`PRAGMA
    synchronous=OFF`) by this process. Dagster opens a connection and commits for each of a run's events (~400 in
    a demo refresh, one more for each asset event); on this project's reference machine each commit's fsync costs
    ~19 ms, 0.1 ms without. A killed process loses nothing (its writes are the operating system's); a power cut or
    an operating system crash mid-write can damage only the run history, which nothing published depends on (the
    lake, warehouse and releases keep their own atomic writes; last_refresh.json is the project's own): delete
    `history`, `storage` and `schedules` under `<home>/dagster` to start a new one. Dagster's own daemon and UI
    keep SQLite's default."""

    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    if not _UNSYNCED:
        @event.listens_for(Engine, "do_connect")
        def _unsynced(dialect, _record, cargs, cparams):
            # the file SQLite is asked to open (`cargs`), so no query is needed to know which one it is
            if dialect.name == "sqlite" and cargs and any(str(cargs[0]).startswith(r) for r in _UNSYNCED):
                connection = dialect.loaded_dbapi.connect(*cargs, **cparams)
                connection.execute("PRAGMA synchronous=OFF")
                return connection
            return None
    _UNSYNCED.add(os.path.join(os.path.abspath(dagster_home), ""))


def run_job(home: Home, job_name: str = "refresh", out: TextIO | None = None, terminal: bool | None = None,
            force: bool = False, full_rebuild: bool = False) -> dict:
    """Run `job_name` in-process on `home`; progress on `out`; returns the outcome (also in last_refresh.json
    for the refresh). dbt's output, warnings and stack traces go to the run's log, never to `out`.
    `force`: publish even when nothing changed since the current release; `full_rebuild`: rebuild every
    warehouse model and re-check every lake file (orchestration/dbt.py FULL_REBUILD_TAG)."""
    import uuid

    from dagster import DagsterInstance

    from orchestration.dbt import ensure_manifest, start_parse, wait_for_parse

    out = out if out is not None else sys.stdout
    terminal = out.isatty() if terminal is None else terminal
    run_id = str(uuid.uuid4())  # a Dagster run id (known before the run: its log file is named now)
    run_dir = home.run_dir(run_id)
    run_dir.mkdir(parents=True, exist_ok=True)
    log_path = run_dir / LOG_NAME.format(job=job_name)
    with open(log_path, "a", encoding="utf-8") as log:
        monitor = Monitor(log=log)  # collects only, until the totals are known
        tee = _Tee(monitor, log)
        loader = logging.getLogger(LOADER_LOGGER)
        file_log = logging.StreamHandler(log)
        file_log.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root = logging.getLogger()
        previous_level = loader.level
        with contextlib.redirect_stdout(tee), contextlib.redirect_stderr(tee):
            ensure_manifest()
            from orchestration.definitions import defs

            monitor = tee.monitor = Monitor(out=out, log=log, terminal=terminal, totals=run_totals(home, job_name),
                                            started=monitor.started)
            handler = _LoaderHandler(monitor)
            print(f"{job_name} {run_id}: log {log_path}", file=out, flush=True)
            loader.setLevel(logging.INFO)
            loader.addHandler(handler)
            root.addHandler(file_log)
            try:
                if job_name == "refresh":
                    start_parse(home)
                unsynced_run_history(home.dagster_home)
                instance = DagsterInstance.get()
                instance.add_event_listener(run_id, monitor.event)
                with monitor.shown():
                    result = defs.resolve_job_def(job_name).execute_in_process(
                        instance=instance, run_id=run_id, raise_on_error=False, tags=run_tags(full_rebuild),
                        run_config=run_config(force))
                outcome = summarise(home, monitor, run_id, job_name, succeeded=result.success)
                if outcome["failed_checks"]:  # the run list of the Dagster UI names them too
                    instance.add_run_tags(run_id, {FAILED_GATES_TAG: ", ".join(
                        f"{c['asset']} {c['check']}" for c in outcome["failed_checks"])[:1000]})
            finally:
                wait_for_parse(home.dbt_target, stop=True)
                loader.removeHandler(handler)
                loader.setLevel(previous_level)
                root.removeHandler(file_log)
    outcome["log"] = str(log_path)
    if job_name == "refresh":
        (home.runs / LAST_REFRESH).write_text(json.dumps(outcome, indent=2, default=str), encoding="utf-8")
    print(outcome_text(outcome), file=out, flush=True)
    return outcome


def run_refresh(home: Home, out: TextIO | None = None, terminal: bool | None = None, force: bool = False,
                full_rebuild: bool = False) -> dict:
    return run_job(home, "refresh", out, terminal, force=force, full_rebuild=full_rebuild)


def run_tags(full_rebuild: bool) -> dict[str, str]:
    tags = {CLI_TAG: "true"}
    if full_rebuild:
        from orchestration.dbt import FULL_REBUILD_TAG

        tags[FULL_REBUILD_TAG] = "true"
    return tags


def run_config(force: bool) -> dict:
    config: dict = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}
    if force:  # publish even when nothing changed since the current release (the release asset's config)
        config["ops"] = {"publication__release": {"config": {"force": True}}}
    return config


def record_run_outcome(home: Home, instance, run_id: str, job_name: str, succeeded: bool) -> dict:
    """The outcome of a run started elsewhere (the Dagster daemon), read back from the instance's event log."""
    monitor = Monitor()
    for record in instance.get_records_for_run(run_id=run_id, limit=1_000_000).records:
        monitor.event(record.event_log_entry)
    outcome = summarise(home, monitor, run_id, job_name, succeeded)
    if job_name == "refresh":
        home.runs.mkdir(parents=True, exist_ok=True)
        (home.runs / LAST_REFRESH).write_text(json.dumps(outcome, indent=2, default=str), encoding="utf-8")
    return outcome


def summarise(home: Home, monitor: Monitor, run_id: str, job_name: str, succeeded: bool) -> dict:
    release = None
    release_file = home.run_dir(run_id) / "release.json"
    if release_file.exists():
        release = json.loads(release_file.read_text(encoding="utf-8"))
    extracts = public = None
    # the release's manifest (in its public part) lists its extracts; an unchanged refresh published none
    if release is not None and release.get("release_id"):
        from publication.releases import release_parts

        manifest = release_parts(home.releases / release["release_id"]).manifest
        if manifest.is_file():
            extracts = len(json.loads(manifest.read_text(encoding="utf-8")).get("extracts", []))
            public = manifest.parent.relative_to(home.root).as_posix()
    failed_checks = [c for c in monitor.checks if not c["passed"]]
    failed = bool(failed_checks or monitor.failed_steps) or not succeeded
    # nothing changed since the current release: nothing published, and the release asset says why
    unchanged = release is not None and release.get("unchanged_since") is not None
    if job_name == "refresh":
        status = ("unchanged" if unchanged else "published") if release is not None and not failed else "failed"
    else:
        status = "failed" if failed else "done"
    tests = [c for c in monitor.checks if not c["gate"]]
    return {
        "run_id": run_id,
        "job": job_name,
        "finished_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "seconds": round(time.perf_counter() - monitor.started, 1),
        "status": status,
        "release_id": release["release_id"] if release else None,
        "extracts": extracts,
        "public": public,
        "message": release.get("message") if unchanged else None,
        "files": monitor.file_counts(),
        "file_notes": [f for f in monitor.files if f["status"] not in ("loaded", "skipped")],
        "gates": gate_results(monitor),
        "dbt_tests": {"passed": sum(c["passed"] for c in tests),
                      "failed": [f"{c['asset']} / {c['check']}" for c in tests if not c["passed"]]},
        "failed_checks": failed_checks,
        # a gate's own step failing is its gate failure, said above: the steps that failed otherwise
        "failed_steps": [s for s in monitor.failed_steps if not s["step"].endswith(GATE_CHECKS)],
        "warnings": monitor.warnings if job_name != "refresh" else [],
        "run_dir": str(home.run_dir(run_id)),
    }


def gate_results(monitor: Monitor) -> list[dict]:
    """Each gate's result: passed, failed, or not run (a gate before it failed and stopped the run)."""
    ran = {(c["asset"], c["check"]): c for c in monitor.checks if c["gate"]}
    gates = [{"asset": c["asset"], "check": c["check"], "passed": c["passed"], "message": c["message"],
              "result": "passed" if c["passed"] else "FAILED"} for c in ran.values()]
    gates += [{"asset": asset, "check": check, "passed": False, "message": "", "result": "not run"}
              for asset, check in monitor.totals.gate_names if (asset, check) not in ran]
    return sorted(gates, key=lambda g: (GATE_CHECKS.index(g["check"]), g["asset"]))


def outcome_text(outcome: dict) -> str:
    """The closing summary: loaded, quarantined, published, and each gate's result."""
    name = outcome.get("job", "refresh")
    head = f"{name} {outcome['run_id'][:8]}"
    if outcome["status"] == "published":
        lines = [f"{head}: published release {outcome['release_id']} in {outcome['seconds']}s; "
                 f"releases/current -> {outcome['release_id']}"]
        if outcome.get("extracts") is not None:
            lines.append(f"  published: {outcome['extracts']} extracts (.csv, .meta.csv, .parquet) and the manifest in "
                         f"{outcome['public']}/")
    elif outcome["status"] == "unchanged":
        lines = [f"{head}: {outcome['message']} ({outcome['seconds']}s)"]
    elif outcome["status"] == "done":
        lines = [f"{head}: done in {outcome['seconds']}s"]
    else:
        lines = [f"{head}: FAILED after {outcome['seconds']}s"
                 + ("; nothing published, releases/current unchanged." if name == "refresh" else ".")]
    files = outcome.get("files") or {}
    if name == "refresh" and files:
        lines.append(f"  loaded: {files['files_loaded']} files ({files['rows_loaded']:,} rows); "
                     f"{files['files_skipped_unchanged']} unchanged files skipped")
        lines.append(f"  quarantined: {files['files_quarantined']} whole files, {files['rows_quarantined']:,} rows"
                     + ("" if not files["rows_quarantined"] else " (rows: `belonging status`)"))
        for key, label in (("files_refused", "refused"), ("files_ignored", "ignored"), ("files_retired", "retired")):
            if files.get(key):
                lines.append(f"  {label}: {files[key]} files")
    for note in outcome.get("file_notes", [])[:20]:
        lines.append(f"    {NOTE_WORDS.get(note['status'], note['status'])} landing/{note['file']}: {note['message']}")
    if len(outcome.get("file_notes", [])) > 20:
        lines.append(f"    ... and {len(outcome['file_notes']) - 20} more (in the log)")
    for warning in outcome.get("warnings", [])[:20]:
        lines.append(f"  {warning}")
    gates = outcome.get("gates", [])
    if gates:
        lines.append(f"  gates: {sum(g['passed'] for g in gates)} of {len(gates)} passed")
        for gate in gates:
            result = gate.get("result", "passed" if gate["passed"] else "FAILED")
            lines.append(f"    {result:<7} {gate['check']:<12} {gate['asset']}"
                         + (" (stopped by the failed gate)" if result == "not run" else ""))
    tests = outcome.get("dbt_tests") or {}
    if tests.get("passed") or tests.get("failed"):
        lines.append(f"  dbt tests: {tests['passed']} of {tests['passed'] + len(tests['failed'])} passed")
    for check in outcome["failed_checks"]:
        lines.append(f"  gate failed: {check['asset']} / {check['check']}: {check['message']}")
        if check.get("failures"):
            lines.append("    " + str(check["failures"]).replace("\n", "\n    "))
        if check["check"] == "raw_gate":
            lines.append("    to take a loaded file back out: belonging retire FILE|SHA256 --reason '...' "
                         "(undo: belonging retire --undo)")
    for step in outcome["failed_steps"]:
        lines.append(f"  step failed: {step['step']}: {step['error']}")
    if outcome.get("log"):
        lines.append(f"  log (dbt output, stack traces): {outcome['log']}")
    lines.append(f"  details: {outcome['run_dir']}")
    return "\n".join(lines)
