"""Run the refresh job in-process on a home and say, in plain words, what happened."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime

from orchestration.settings import Home


def run_refresh(home: Home, echo: Callable[[str], None] = print, log_level: str = "WARNING",
                full_rebuild: bool = False) -> dict:
    from dagster import DagsterInstance

    from orchestration.dbt import FULL_REBUILD_TAG, ensure_manifest

    ensure_manifest()
    from orchestration.definitions import defs

    started = time.perf_counter()
    job = defs.resolve_job_def("refresh")
    instance = DagsterInstance.get()
    result = job.execute_in_process(
        instance=instance,
        raise_on_error=False,
        tags={FULL_REBUILD_TAG: "true"} if full_rebuild else None,
        run_config={"loggers": {"console": {"config": {"log_level": log_level}}}},
    )
    elapsed = time.perf_counter() - started
    outcome = summarise(home, result, elapsed)
    (home.runs / "last_refresh.json").write_text(json.dumps(outcome, indent=2), encoding="utf-8")
    echo(outcome_text(outcome))
    return outcome


def summarise(home: Home, result, elapsed: float) -> dict:
    failed_checks = []
    for evaluation in result.get_asset_check_evaluations():
        if not evaluation.passed:
            meta = {k: getattr(v, "value", v) for k, v in (evaluation.metadata or {}).items()}
            failed_checks.append({
                "asset": evaluation.asset_key.to_user_string(),
                "check": evaluation.check_name,
                "severity": str(getattr(evaluation.severity, "value", evaluation.severity)),
                "message": str(meta.get("message", "")),
                "failures": meta.get("failures", ""),
                "details": meta.get("failure_details", []),
            })
    failed_steps = []
    for event in result.get_step_failure_events():
        failed_steps.append({"step": event.step_key, "error": _root_message(event.step_failure_data.error)})
    release = None
    release_file = home.run_dir(result.run_id) / "release.json"
    if release_file.exists():
        release = json.loads(release_file.read_text(encoding="utf-8"))
    published = release is not None and not failed_checks and not failed_steps
    return {
        "run_id": result.run_id,
        "finished_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "seconds": round(elapsed, 1),
        "status": "published" if published else "failed",
        "release_id": release["release_id"] if release else None,
        "failed_checks": failed_checks,
        "failed_steps": failed_steps,
        "run_dir": str(home.run_dir(result.run_id)),
    }


def _root_message(error) -> str:
    """The innermost cause of a step's error: what went wrong, not Dagster's wrapper around it."""
    if error is None:
        return ""
    while getattr(error, "cause", None) is not None:
        error = error.cause
    return (error.message or "").strip()[:2000]


def outcome_text(outcome: dict) -> str:
    if outcome["status"] == "published":
        return (f"refresh {outcome['run_id'][:8]}: published release {outcome['release_id']} "
                f"in {outcome['seconds']}s; releases/current -> {outcome['release_id']}")
    lines = [f"refresh {outcome['run_id'][:8]}: FAILED after {outcome['seconds']}s; nothing published, "
             "releases/current unchanged."]
    for check in outcome["failed_checks"]:
        lines.append(f"  gate failed: {check['asset']} / {check['check']}: {check['message']}")
        if check.get("failures"):
            lines.append("    " + str(check["failures"]).replace("\n", "\n    "))
    for step in outcome["failed_steps"]:
        lines.append(f"  step failed: {step['step']}: {step['error']}")
    lines.append(f"  details: {outcome['run_dir']}")
    return "\n".join(lines)
