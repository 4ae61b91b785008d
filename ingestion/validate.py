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

import polars as pl

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


FAMILY_OF_KIND = {"gias": "gias", "dfe": "dfe", "survey": "surveys"}


def landing_family(path: Path) -> str | None:
    """The landing family a file sits in (`landing/<family>/...`), or None for a file outside landing/."""
    parents = Path(os.path.abspath(path)).parents
    for folder, above in zip(parents, list(parents)[1:], strict=False):
        if above.name == "landing" and folder.name in FAMILY_OF_KIND.values():
            return folder.name
    return None


def detect_kind(path: Path) -> str | None:
    from ingestion import characteristics, ees, gias, surveys

    if gias.sniff(path):
        return "gias"
    if characteristics.sniff(path):  # before ees: these files also have the exclusions columns (and SFR no EES ones)
        return "dfe"
    if ees.sniff(path):
        return "dfe"
    if surveys.sniff(path):
        return "survey"
    return None


def validate_file(path: Path, *, pseudonym_key: bytes | None = None, schools=None, settings: dict | None = None,
                  lake=None, limits: dict | None = None, gates: dict | None = None) -> ValidationReport:
    """Read one file with the reader its content calls for; nothing is written. With `lake`, say whether the
    file is already loaded or retired (refresh would skip it), and what the raw gate would say of it beside the
    files loaded (`gate_conflicts`, with `gates`: settings `gates:`). With `limits` (settings `limits:`), the size
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
        try:
            size_limits.check_file(path, limits)
        except UnknownFormat:
            report.kind = "over a size limit"
            raise
        report.kind = detect_kind(path)
        if (family := landing_family(path)) is not None and FAMILY_OF_KIND.get(report.kind) != family:
            from ingestion.describe import unrecognised

            raise UnknownFormat(unrecognised(path))  # as the refresh of landing/<family>/ says it
        if report.kind == "gias":
            from ingestion.gias import read_gias

            report.result = read_gias(source)
        elif report.kind == "dfe":
            from ingestion.load import dfe_reader

            report.result = dfe_reader(source, limits)
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
        if report.result is not None and not lake.loaded(source.sha256):
            report.notes.extend(gate_conflicts(lake, source, report.result, settings_gates=gates))
    return report


def gate_conflicts(lake, source: SourceFile, result: ReadResult, *, settings_gates: dict | None) -> list[str]:
    """What the raw gate (expectations/raw.py) would say at refresh of this file beside what the lake holds:
    another file holding the same schools and years that this one does not re-issue, or a newer file with far
    fewer schools; each line names the file to retire and the command that does it (ingestion/retire.py)."""
    from expectations.raw import overlap_frame, volume_frame

    lines = []
    tolerance = (settings_gates or {}).get("row_count_tolerance")
    for table, frame in result.tables.items():
        if not (table.startswith("dfe_") or table == "gias_establishments") or frame.is_empty():
            continue
        new = frame.with_columns(pl.lit(source.relative).alias("_source_file"),
                                 pl.lit(source.sha256).alias("_source_sha256"),
                                 pl.lit(source.loaded_at).cast(pl.Datetime("us", "UTC")).alias("_loaded_at"))
        old = lake.read(table)
        both = pl.concat([old.select(new.columns).cast(new.schema), new], how="vertical_relaxed")
        if table.startswith("dfe_"):
            for row in overlap_frame(both).filter(pl.col("conflict")).iter_rows(named=True):
                lines.append(f"raw gate at refresh: {table}: this file and {row['other_file']} (loaded, sha256 "
                             f"{row['other_sha256'][:12]}) both hold {row['school_years_shared']} school-years "
                             f"({row['periods']}; e.g. {row['example']}) and this one is not a re-issue of it: "
                             f"nothing would publish. If this file is the right one, retire the other first: "
                             f"belonging retire {row['other_sha256'][:12]} --reason '...'")
        if tolerance is not None:
            vol = volume_frame(table, both, row_count_tolerance=float(tolerance))
            for row in vol.filter(pl.col("collapsed") & (pl.col("file") == source.relative)).iter_rows(named=True):
                lines.append(f"raw gate at refresh: {table} {row['period']}: this file holds {row['rows']} schools "
                             f"against {row['previous_rows']} in {row['previous_file']} (more than "
                             "gates.row_count_tolerance fewer): a cut-off download or another scope; nothing "
                             "would publish with it")
    return lines


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
