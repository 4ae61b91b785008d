"""`belonging validate FILE`: what would be loaded, rejected and why, without loading anything."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from ingestion.files import UnreadableFile, sha256_file
from ingestion.lake import SourceFile
from ingestion.landing import LINK, NOT_REGULAR
from ingestion.results import ReadResult, UnknownFormat


@dataclass
class ValidationReport:
    file: Path
    kind: str | None = None
    result: ReadResult | None = None
    error: str | None = None
    refused: bool = False  # a link or non-regular file: landing/ would refuse it without opening it
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.result is not None and self.error is None

    def text(self) -> str:
        lines = [f"file: {self.file}"]
        if self.refused:
            lines.append(f"REFUSED: {self.error}")
            lines.append("in landing/ it would be refused: never opened, moved or deleted")
            return "\n".join(lines)
        if self.error:
            lines.append(f"REJECTED ({self.kind or 'unrecognised'}): {self.error}")
            lines.append("the whole file would be moved to landing/quarantine/ with this reason")
            return "\n".join(lines)
        r = self.result
        assert r is not None
        lines.append(f"recognised: {r.source_kind} / {r.publication} / vintage {r.vintage} (encoding {r.encoding})")
        lines.append(f"rows read: {r.rows_read}; would load: " + ", ".join(
            f"{t}={f.height}" for t, f in r.tables.items()))
        for key, value in r.summary.items():
            lines.append(f"{key}: {json.dumps(value, default=str, ensure_ascii=False)}")
        if r.exclusions:
            lines.append("excluded (counted, not loaded): " + ", ".join(f"{k}={v}" for k, v in r.exclusions.items()))
        q = r.quarantine
        lines.append(f"rows that would be quarantined: {q.height}")
        if q.height:
            by_rule = q.group_by("rule").len().sort("rule")
            for rule, n in by_rule.iter_rows():
                lines.append(f"  {rule}: {n}")
            for row in q.head(20).iter_rows(named=True):
                lines.append(f"  row {row['row_number']}, column {row['column']!r}, value {row['value']!r}: "
                             f"{row['reason']}")
            if q.height > 20:
                lines.append(f"  ... and {q.height - 20} more")
        lines.extend(self.notes)
        return "\n".join(lines)


def detect_kind(path: Path) -> str | None:
    from ingestion import ees, gias, surveys

    if gias.sniff(path):
        return "gias"
    if ees.sniff(path):
        return "dfe"
    if surveys.sniff(path):
        return "survey"
    return None


def validate_file(path: Path, *, pseudonym_key: bytes | None = None, schools=None, settings: dict | None = None
                  ) -> ValidationReport:
    """Read one file with the reader its content calls for; nothing is written."""
    path = Path(path)
    report = ValidationReport(path)
    if path.is_symlink():  # never read through a link, as landing/ never is
        report.refused, report.error = True, LINK
        return report
    if path.exists() and not path.is_file():
        report.refused, report.error = True, NOT_REGULAR
        return report
    if not path.is_file():
        report.error = "no such file"
        return report
    try:
        source = SourceFile(Path(os.path.abspath(path)), path.name, sha256_file(path), datetime.now(UTC))
    except OSError as exc:  # swapped for a link since the check (ELOOP), or unreadable
        report.refused, report.error = True, f"cannot be opened as a regular file: {exc.strerror}"
        return report
    try:
        report.kind = detect_kind(path)
        if report.kind == "gias":
            from ingestion.gias import read_gias

            report.result = read_gias(source)
        elif report.kind == "dfe":
            from ingestion.ees import read_ees

            report.result = read_ees(source)
        elif report.kind == "survey":
            report.result = _validate_survey(source, pseudonym_key, schools, settings)
        else:
            from ingestion.ees import read_ees

            report.result = read_ees(source)  # raises UnknownFormat naming the columns it cannot place
    except (UnreadableFile, UnknownFormat) as exc:
        report.error = str(exc)
    return report


def _validate_survey(source: SourceFile, pseudonym_key, schools, settings) -> ReadResult:
    from ingestion.surveys import read_survey
    from ingestion.surveys.schools import SchoolRegister

    if schools is None:
        from ingestion.lake_schema import empty_frame

        schools = SchoolRegister.from_frames(empty_frame("gias_establishments"), empty_frame("gias_links"))
    key = pseudonym_key or b"validate-only: nothing is written"
    return read_survey(source, schools=schools, pseudonym_key=key, settings=settings or {})
