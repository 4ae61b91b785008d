"""`belonging status`: current release, its age, row counts, where each year's trust membership came from (a GIAS
snapshot of the year, the census's trust column, or unknown), the last refresh and quarantined inputs."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

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


@dataclass(frozen=True)
class YearTrusts:
    """Where one academic year's trust membership came from (int_school_years_spined.trust_source)."""

    academic_year: str
    gias_snapshot: date | None  # the GIAS snapshot taken during the year, if any
    from_census: int  # schools whose trust that year the census's trust column gave
    unknown: int  # schools whose trust that year is `unknown`

    def source(self) -> str:
        if self.gias_snapshot is not None:
            return f"GIAS snapshot {self.gias_snapshot.isoformat()}"
        if self.from_census:
            return (
                f"the school census's trust column ({self.from_census} school{_s(self.from_census)}"
                + (f"; {self.unknown} unknown" if self.unknown else "")
                + ")"
            )
        return "unknown"


def _s(n: int) -> str:
    return "" if n == 1 else "s"


def trusts_by_year(warehouse: Path) -> list[YearTrusts] | None:
    """Each academic year of the release with the source of its trusts: the GIAS snapshot taken during it, else
    the census's trust column, else none (int_academic_years_listed, int_school_years_spined); None when the
    warehouse cannot say (a release built before these columns existed). A release built before the census's
    trust was read has no `trust_source`: its years have a snapshot or none."""
    import duckdb

    if not warehouse.is_file():
        return None
    try:
        con = duckdb.connect(str(warehouse), read_only=True)
    except duckdb.Error:
        return None
    query = """
        select y.academic_year, y.gias_snapshot_date, {census}, count(s.urn) filter (where s.trust_id = 'unknown')
        from int_academic_years_listed as y
        left join int_school_years_spined as s on y.time_period = s.time_period
        group by y.time_period, y.academic_year, y.gias_snapshot_date
        order by y.time_period
    """
    try:
        for census in ("count(s.urn) filter (where s.trust_source = 'census')", "0"):
            try:
                rows = con.execute(query.format(census=census)).fetchall()
            except duckdb.Error:
                continue
            return [YearTrusts(year, snap, int(c), int(u)) for year, snap, c, u in rows]
        return None
    finally:
        con.close()


def status_text(home: Home) -> str:
    from publication.releases import current_release, release_parts

    lines = [f"home: {home.root}"]
    current = current_release(home.root)
    if current is None:
        lines.append("current release: none yet (run `belonging refresh`)")
    else:
        parts = release_parts(current)
        manifest = json.loads(parts.manifest.read_text(encoding="utf-8"))
        created = manifest.get("created_at", "")
        lines.append(f"current release: {current.name} (created {created}, {_age(created)})")
        for extract in manifest.get("extracts", []):
            lines.append(f"  {extract.get('name')}: {extract.get('rows')} rows")
        gates = manifest.get("gates", [])
        if gates:
            passed = sum(1 for g in gates if g.get("passed"))
            lines.append(f"  gates: {passed}/{len(gates)} passed")
        years = trusts_by_year(parts.warehouse)
        if years:
            lines.append(
                "  trust membership by year: " + "; ".join(f"{y.academic_year} {y.source()}" for y in years)
            )
        # a year no snapshot covers whose census names no trust for some schools: those count in no trust
        lacking = [y for y in years or () if y.gias_snapshot is None and y.unknown]
        if lacking:
            lines.append(
                "  trust membership unknown (no GIAS snapshot taken during the year and no trust in its census; "
                "its schools count in no trust): "
                + ", ".join(f"{y.academic_year} ({y.unknown} school{_s(y.unknown)})" for y in lacking)
            )
            lines.append(
                "    add that year's edubasealldataYYYYMMDD.csv (nearest its January census) to landing/gias"
            )
    last = home.runs / "last_refresh.json"
    if last.exists():
        outcome = json.loads(last.read_text(encoding="utf-8"))
        lines.append(f"last refresh: {outcome['status']} at {outcome['finished_at']} ({outcome['seconds']}s)"
                     + (f", release {outcome['release_id']}" if outcome.get("release_id") else ""))
        if outcome.get("message"):
            lines.append(f"  {outcome['message']}")
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
        lines.append(
            f"survey responses excluded (counted, not loaded) in {excluded.height} files: "
            + ", ".join(f"{k}={v}" for k, v in sorted(totals.items()))
        )
        for row in excluded.sort("rows_excluded", descending=True).head(5).iter_rows(named=True):
            lines.append(f"  e.g. {row['_source_file']}: {row['exclusions']}")
    quarantine = lake.read("quarantine")
    whole = quarantine.filter(pl.col("row_number").is_null())
    rows = quarantine.filter(pl.col("row_number").is_not_null())
    lines.append(f"quarantined inputs: {whole.height} whole files, {rows.height} rows")
    for row in whole.sort("_source_file").iter_rows(named=True):
        lines.append(f"  file {row['_source_file']}: {row['reason']}")
    if rows.height:
        summary = (
            rows.group_by("_source_file", "rule")
            .agg(pl.len().alias("rows"), pl.col("reason").first())
            .sort("_source_file", "rule")
        )
        for row in summary.iter_rows(named=True):
            lines.append(f"  {row['_source_file']}: {row['rows']} rows broke {row['rule']} (e.g. {row['reason']})")
    scans = [scan(home.landing, family) for family in ("gias", "dfe", "surveys")]
    refused = [r for found in scans for r in found.refused]
    if refused:
        lines.append(f"refused in landing (never opened, moved or deleted): {len(refused)}")
        lines.extend(f"  {r.line()}" for r in refused)
    ignored = [i for found in scans for i in found.reported]
    if ignored:
        lines.append(f"ignored in landing (not data): {len(ignored)}")
        lines.extend(f"  {i.line()}" for i in ignored)
    from ingestion.retire import retired

    records = retired(home.lake)
    lines.append(f"retired files (out of the lake; `belonging retire --undo SHA256` brings one back): {len(records)}")
    lines.extend(f"  {r['sha256'][:12]} {r['file']}: retired {r['retired_at']} by {r['retired_by']}: {r['reason']}"
                 for r in records)
    return "\n".join(lines)
