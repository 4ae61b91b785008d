"""`belonging status`: current release, its age, row counts, the last refresh and quarantined inputs."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import polars as pl

from ingestion.lake import Lake
from ingestion.landing import scan
from orchestration.settings import Home


def _age(created: str) -> str:
    try:
        then = datetime.fromisoformat(created.replace("Z", "+00:00"))
    except (ValueError, AttributeError):
        return "unknown age"
    seconds = (datetime.now(UTC) - then).total_seconds()
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f}{unit} old"
    return f"{seconds:.0f}s old"


def status_text(home: Home) -> str:
    from publication.releases import current_release

    lines = [f"home: {home.root}"]
    current = current_release(home.root)
    if current is None:
        lines.append("current release: none yet (run `belonging refresh`)")
    else:
        manifest = json.loads((current / "manifest.json").read_text(encoding="utf-8"))
        created = manifest.get("created_at", "")
        lines.append(f"current release: {current.name} (created {created}, {_age(created)})")
        for extract in manifest.get("extracts", []):
            lines.append(f"  {extract.get('name')}: {extract.get('rows')} rows")
        gates = manifest.get("gates", [])
        if gates:
            passed = sum(1 for g in gates if g.get("passed"))
            lines.append(f"  gates: {passed}/{len(gates)} passed")
    last = home.runs / "last_refresh.json"
    if last.exists():
        outcome = json.loads(last.read_text(encoding="utf-8"))
        lines.append(f"last refresh: {outcome['status']} at {outcome['finished_at']} ({outcome['seconds']}s)"
                     + (f", release {outcome['release_id']}" if outcome.get("release_id") else ""))
        for check in outcome.get("failed_checks", []):
            lines.append(f"  gate failed: {check['asset']} / {check['check']}: {check['message']}")
        for step in outcome.get("failed_steps", []):
            lines.append(f"  step failed: {step['step']}: {step['error'][:300]}")
    else:
        lines.append("last refresh: none")
    lake = Lake(home.lake)
    loads = lake.read("file_loads")
    lines.append(f"lake: {loads.height} files loaded")
    excluded = loads.filter(pl.col("rows_excluded") > 0)
    if excluded.height:
        totals: dict[str, int] = {}
        for row in excluded.iter_rows(named=True):
            for reason, n in json.loads(row["exclusions"] or "{}").items():
                totals[reason] = totals.get(reason, 0) + n
        lines.append(f"survey responses excluded (counted, not loaded) in {excluded.height} files: "
                     + ", ".join(f"{k}={v}" for k, v in sorted(totals.items())))
        for row in excluded.sort("rows_excluded", descending=True).head(5).iter_rows(named=True):
            lines.append(f"  e.g. {row['_source_file']}: {row['exclusions']}")
    quarantine = lake.read("quarantine")
    whole = quarantine.filter(pl.col("row_number").is_null())
    rows = quarantine.filter(pl.col("row_number").is_not_null())
    lines.append(f"quarantined inputs: {whole.height} whole files, {rows.height} rows")
    for row in whole.sort("_source_file").iter_rows(named=True):
        lines.append(f"  file {row['_source_file']}: {row['reason']}")
    if rows.height:
        summary = (rows.group_by("_source_file", "rule").agg(pl.len().alias("rows"),
                                                             pl.col("reason").first())
                   .sort("_source_file", "rule"))
        for row in summary.iter_rows(named=True):
            lines.append(f"  {row['_source_file']}: {row['rows']} rows broke {row['rule']} (e.g. {row['reason']})")
    refused = [r for family in ("gias", "dfe", "surveys") for r in scan(home.landing, family).refused]
    if refused:
        lines.append(f"refused in landing (never opened, moved or deleted): {len(refused)}")
        lines.extend(f"  {r.line()}" for r in refused)
    return "\n".join(lines)
