"""`belonging validate FILE|FOLDER`: what would be loaded, rejected and why, without loading anything.

It follows the loader's rules (`ingestion.landing.classify` and `walk`): a folder is read as a landing
folder would be (every data file in it, companions and notes named), a hidden file, a `.md` or `.json` note or
an EES `.meta.csv` is reported as the loader reports it, and with a lake at hand it says whether the file is
already loaded (refresh would skip it) or retired (refresh would skip it with a note).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from ingestion import limits as size_limits
from ingestion.files import UnreadableFile, sha256_file
from ingestion.lake import SourceFile
from ingestion.landing import LINK, NOT_REGULAR, classify, walk
from ingestion.results import ReadResult, UnknownFormat


@dataclass
class ValidationReport:
    file: Path
    kind: str | None = None
    result: ReadResult | None = None
    error: str | None = None
    refused: bool = False  # a link or non-regular file: landing/ would refuse it without opening it
    missing: bool = False  # no such file: nothing to say about quarantine
    ignored: str | None = None  # not read on its own (the loader's reason)
    companion: bool = False  # read with a data file beside it (an EES .meta.csv)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.companion or (self.result is not None and self.error is None)

    def text(self) -> str:
        lines = [f"file: {self.file}"]
        if self.missing:
            lines.append("no such file")
            return "\n".join(lines)
        if self.refused:
            lines.append(f"REFUSED: {self.error}")
            lines.append("in landing/ it would be refused: never opened, moved or deleted")
            return "\n".join(lines)
        if self.ignored:
            lines.append(f"{'COMPANION' if self.companion else 'IGNORED'}: {self.ignored}")
            lines.append("refresh reads it with its data file" if self.companion
                         else "in landing/ refresh would list it as ignored, with this reason, and not read it")
            return "\n".join(lines)
        if self.error:
            lines.append(f"REJECTED ({self.kind or 'unrecognised'}): {self.error}")
            lines.append("the whole file would be moved to landing/quarantine/ with this reason")
            lines.extend(self.notes)
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


def validate_path(path: Path, *, lake=None, **kwargs) -> list[ValidationReport]:
    """One report per entry a refresh would meet at `path`: the file itself, or everything under a folder
    (data files read, links refused, notes and companions named, as `ingestion.landing.walk` finds them)."""
    path = Path(path)
    if path.is_dir() and not path.is_symlink():
        found = walk(path, path.parent)
        reports = [ValidationReport(path.parent / r.relative, refused=True, error=r.reason) for r in found.refused]
        reports += [ValidationReport(path.parent / i.relative, ignored=i.reason, companion=i.companion)
                    for i in found.ignored]
        reports += [validate_file(f, lake=lake, **kwargs) for f in found.files]
        if not reports:
            reports.append(ValidationReport(path, ignored="an empty folder: nothing to read"))
        return sorted(reports, key=lambda r: str(r.file))
    return [validate_file(path, lake=lake, **kwargs)]


def detect_kind(path: Path) -> str | None:
    from ingestion import ees, gias, surveys

    if gias.sniff(path):
        return "gias"
    if ees.sniff(path):
        return "dfe"
    if surveys.sniff(path):
        return "survey"
    return None


def validate_file(path: Path, *, pseudonym_key: bytes | None = None, schools=None, settings: dict | None = None,
                  lake=None, limits: dict | None = None) -> ValidationReport:
    """Read one file with the reader its content calls for; nothing is written. With `lake`, say whether the
    file is already loaded or retired (refresh would skip it). With `limits` (settings `limits:`), the size
    limits a refresh applies (ingestion/limits.py)."""
    path = Path(path)
    report = ValidationReport(path)
    if path.is_symlink():  # never read through a link, as landing/ never is
        report.refused, report.error = True, LINK
        return report
    if not path.exists():
        report.missing = True
        return report
    if not path.is_file():
        report.refused, report.error = True, NOT_REGULAR
        return report
    siblings = {p.name for p in path.parent.iterdir()}
    if (ignored := classify(path.name, siblings)) is not None:
        report.ignored, report.companion = ignored.reason, ignored.companion
        return report
    try:
        source = SourceFile(Path(os.path.abspath(path)), path.name, sha256_file(path), datetime.now(UTC))
    except OSError as exc:  # swapped for a link since the check (ELOOP), or unreadable
        report.refused, report.error = True, f"cannot be opened as a regular file: {exc.strerror}"
        return report
    try:
        size_limits.check_file(path, limits)
        report.kind = detect_kind(path)
        if report.kind == "gias":
            from ingestion.gias import read_gias

            report.result = read_gias(source)
        elif report.kind == "dfe":
            from ingestion.ees import read_ees

            report.result = read_ees(source, limits)
        elif report.kind == "survey":
            report.result = _validate_survey(source, pseudonym_key, schools, settings)
        else:
            from ingestion.describe import unrecognised

            raise UnknownFormat(unrecognised(path))  # the line a refresh gives, whichever folder it sits in
        size_limits.check_result(report.result, limits, path.name)
    except (UnreadableFile, UnknownFormat) as exc:
        report.error = str(exc)
        report.result = None
    if lake is not None:
        report.notes.extend(_lake_notes(lake, source.sha256))
    return report


def _lake_notes(lake, sha256: str) -> list[str]:
    from ingestion.retire import skip_note

    if (note := skip_note(lake.root, sha256)) is not None:
        return [f"in the lake: {note}"]
    if lake.loaded(sha256):
        load = lake.read_file("file_loads", sha256)
        return [f"in the lake: these bytes were loaded on {load['_loaded_at'][0]:%Y-%m-%d} as "
                f"{load['_source_file'][0]}: refresh would skip them as unchanged"]
    return []


def _validate_survey(source: SourceFile, pseudonym_key, schools, settings) -> ReadResult:
    from ingestion.surveys import read_survey
    from ingestion.surveys.schools import SchoolRegister

    if schools is None:
        from ingestion.lake_schema import empty_frame

        schools = SchoolRegister.from_frames(empty_frame("gias_establishments"), empty_frame("gias_links"))
    key = pseudonym_key or b"validate-only: nothing is written"
    return read_survey(source, schools=schools, pseudonym_key=key, settings=settings or {})
