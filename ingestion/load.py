"""Landing -> lake: find new files, recognise them from their content, read, write, record.

Each landing family (dfe/, gias/, surveys/) is loaded by one call. A file whose bytes are already in
`file_loads` is skipped, so loading twice changes nothing. A file that cannot be read, whose
publication/vintage/tool is unknown, or that a reader refuses whole (`FileRefused`: a breakdown with no `Total`
level) is moved to landing/quarantine/ with a `.reason.txt` beside it and a quarantine row under its rule; the
other files still load.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from ingestion import limits as size_limits
from ingestion import retire
from ingestion.files import UnreadableFile
from ingestion.lake import Lake, SourceFile
from ingestion.landing import KnownDigests, LandingRefused, move_to_quarantine, scan
from ingestion.results import ReadResult, UnknownFormat, quarantine_frame

log = logging.getLogger(__name__)


@dataclass
class FileOutcome:
    file: str
    # loaded | skipped | quarantined_file | refused (a link or non-regular file: never opened) | ignored (not
    # data: ingestion.landing.classify) | retired (taken back out of the lake: ingestion.retire)
    status: str
    publication: str | None = None
    vintage: str | None = None
    rows_loaded: int = 0
    rows_quarantined: int = 0
    exclusions: dict[str, int] = field(default_factory=dict)
    message: str = ""


@dataclass
class LoadReport:
    family: str
    files: list[FileOutcome] = field(default_factory=list)

    def add_all(self, outcomes: list[FileOutcome]) -> None:
        for outcome in outcomes:
            self.add(outcome)

    def add(self, outcome: FileOutcome) -> None:
        """Record one landing entry's outcome (and log it: the refresh's progress counts these records)."""
        self.files.append(outcome)
        log.info("%s %s%s", outcome.status, outcome.file, f": {outcome.message}" if outcome.message else "",
                 extra={"outcome": outcome})

    def count(self, status: str) -> int:
        return sum(1 for f in self.files if f.status == status)

    @property
    def rows_loaded(self) -> int:
        return sum(f.rows_loaded for f in self.files)

    @property
    def rows_quarantined(self) -> int:
        return sum(f.rows_quarantined for f in self.files)

    def as_metadata(self) -> dict:
        return {
            "files_loaded": self.count("loaded"),
            "files_skipped_unchanged": self.count("skipped"),
            "files_quarantined": self.count("quarantined_file"),
            "files_refused": self.count("refused"),
            "files_ignored": self.count("ignored"),
            "files_retired": self.count("retired"),
            "rows_loaded": self.rows_loaded,
            "rows_quarantined": self.rows_quarantined,
        }


def landing_files(landing: Path, family: str) -> Iterator[Path]:
    """The regular data files under landing/<family> (links and other entries are refused by `scan`)."""
    yield from scan(landing, family).files


def record(lake: Lake, source: SourceFile, result: ReadResult, years: set[int] | None = None) -> FileOutcome:
    """Write a file's rows, then its `file_loads` row. Tables with a `time_period` (the DfE publications) are
    written one Parquet file per academic year, so each year is a partition of its own; with `years` only
    those years are written (the rest can follow in a later run)."""
    periods: set[int] = set()
    for table, frame in result.tables.items():
        if result.source_kind == "dfe" and "time_period" in frame.columns:
            for (period,), part in frame.partition_by("time_period", as_dict=True, maintain_order=True).items():
                periods.add(int(period))
                if years is None or int(period) in years:
                    lake.write(table, part, source, part=str(period))
        else:
            lake.write(table, frame, source)
    if result.quarantine.height:
        lake.write("quarantine", result.quarantine, source)
    loads = pl.DataFrame(
        [
            {
                "source_kind": result.source_kind,
                "publication": result.publication,
                "vintage": result.vintage,
                "encoding": result.encoding,
                "rows_read": result.rows_read,
                "rows_loaded": result.rows_loaded,
                "rows_quarantined": result.quarantine.height,
                "rows_excluded": sum(result.exclusions.values()),
                "exclusions": json.dumps(result.exclusions, sort_keys=True),
                "time_periods": json.dumps(sorted(periods)) if periods else None,
                "status": "loaded",
                "message": "",
            }
        ]
    )
    # file_loads last: a file counts as loaded only once all its rows are in the lake
    lake.write("file_loads", loads, source)
    return FileOutcome(
        file=source.relative,
        status="loaded",
        publication=result.publication,
        vintage=result.vintage,
        rows_loaded=result.rows_loaded,
        rows_quarantined=result.quarantine.height,
        exclusions=result.exclusions,
    )


def missing_years(lake: Lake, sha256: str, years: set[int] | None) -> set[int]:
    """Academic years of a loaded DfE file that the lake does not hold yet (of `years`, or of all)."""
    load = lake.read_file("file_loads", sha256)
    if load.is_empty() or not load["time_periods"][0]:
        return set()
    periods = set(json.loads(load["time_periods"][0]))
    table = f"dfe_{load['publication'][0]}"
    wanted = periods if years is None else periods & years
    return {p for p in wanted if not lake.has(table, sha256, part=str(p))}


def load_family(
    landing: Path,
    lake: Lake,
    family: str,
    reader: Callable[[SourceFile], ReadResult] | None = None,
    years: set[int] | None = None,
    *,
    batch_reader: Callable[[list[SourceFile]], list[ReadResult | Exception]] | None = None,
    limits: dict | None = None,
    pool: BatchPool | None = None,
    cache: Path | None = None,
) -> LoadReport:
    """Load the new files of one landing family: `reader` reads one file, or `batch_reader` many at once
    (returning, per file, its ReadResult or the UnreadableFile / UnknownFormat that refuses it). With `limits`
    (settings `limits:`), a file over a size limit is refused whole before it is read (ingestion/limits.py).
    With `pool`, more than one batch of new files is read and written by worker processes (`BatchPool`). With a
    `cache` folder, the digests of files read before are kept there (ingestion.landing.KnownDigests)."""
    lake.ensure_tables()
    report = LoadReport(family)
    found = scan(landing, family)
    for refused in found.refused:
        log.warning(refused.line())
        report.add(FileOutcome(refused.relative, "refused", message=refused.reason))
    for ignored in found.reported:
        report.add(FileOutcome(ignored.relative, "ignored", message=ignored.reason))
    pending: list[SourceFile] = []
    first_of: dict[str, str] = {}  # sha256 -> the file read with these bytes in this run
    known = KnownDigests(cache / f"landing-sha256-{family}.json" if cache is not None else None)
    for path in found.files:
        try:
            source = SourceFile.of(path, landing, sha256=known.sha256(path))
        except OSError as exc:  # swapped for a link (ELOOP) or removed since the scan: never followed
            log.warning("refused %s: %s", path.relative_to(landing).as_posix(), exc.strerror or exc)
            report.add(FileOutcome(path.relative_to(landing).as_posix(), "refused",
                                   message=f"could not be opened as a regular file: {exc.strerror}"))
            continue
        if (note := retire.skip_note(lake.root, source.sha256)) is not None:
            report.add(FileOutcome(source.relative, "retired", message=note))
            continue
        # only the DfE's files are written by academic year: a survey or GIAS file loaded is loaded whole (reading
        # its file_loads row to find out costs a Parquet read a file: seconds for a national landing)
        if lake.loaded(source.sha256) and (family != "dfe" or not missing_years(lake, source.sha256, years)):
            report.add(FileOutcome(source.relative, "skipped", message="unchanged: already loaded"))
            continue
        if source.sha256 in first_of:
            report.add(FileOutcome(source.relative, "skipped",
                                   message=f"the same bytes as {first_of[source.sha256]}: read once"))
            continue
        first_of[source.sha256] = source.relative
        try:
            size_limits.check_file(source.path, limits)
        except UnknownFormat as over:
            report.add(_outcome(landing, lake, source, over, years))
            continue
        pending.append(source)
    known.save()
    if batch_reader is not None:
        batches = [pending[start:start + BATCH_FILES] for start in range(0, len(pending), BATCH_FILES)]
        if pool is not None and pool.processes > 1 and len(batches) > 1:
            report.add_all(o for outcomes in pool.load(landing, lake, batches, years, limits) for o in outcomes)
            return report
        # a batch's lake files are written by a second thread while the next batch is read (polars writes
        # without holding the GIL); at most one batch waits to be written
        with ThreadPoolExecutor(max_workers=1) as writer:
            writing = None
            for chunk in batches:
                results = batch_reader(chunk)
                if writing is not None:
                    report.add_all(writing.result())
                writing = writer.submit(_written, landing, lake, chunk, results, years, limits)
            if writing is not None:
                report.add_all(writing.result())
        return report
    for source in pending:
        try:
            result = reader(source)
        except (UnreadableFile, UnknownFormat) as exc:
            result = exc
        report.add(_outcome(landing, lake, source, result, years, limits))
    return report


# files read together by a batch reader: one query over all their rows, memory bounded by the batch
BATCH_FILES = 1000


def _written(landing: Path, lake: Lake, chunk: list[SourceFile], results: list[ReadResult | Exception],
             years: set[int] | None, limits: dict | None) -> list[FileOutcome]:
    return [_outcome(landing, lake, s, r, years, limits) for s, r in zip(chunk, results, strict=True)]


@dataclass(frozen=True)
class BatchPool:
    """Batches of new files read and written by `processes` worker processes at once: a national load is
    thousands of small exports, each a few milliseconds of Python (parsing, coding, hashing, one Parquet file per
    table), so one process is bound by one core. Each worker builds its batch reader once, with
    `make_reader(*args)` (module-level, so a spawned process can import it). A file's lake files are its own
    (named after its checksum, written whole then renamed), so workers never write the same file; outcomes come
    back in the files' order, whichever worker finishes first. Used only for more than one batch: a worker's
    start (imports, the register) costs about a second."""

    processes: int
    make_reader: Callable[..., Callable[[list[SourceFile]], list[ReadResult | Exception]]]
    args: tuple

    def load(self, landing: Path, lake: Lake, batches: list[list[SourceFile]], years: set[int] | None,
             limits: dict | None) -> Iterator[list[FileOutcome]]:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        # spawn, not fork: the refresh's process holds threads (Dagster, DuckDB) that a fork would copy mid-state
        with ProcessPoolExecutor(max_workers=min(self.processes, len(batches)),
                                 mp_context=multiprocessing.get_context("spawn"),
                                 initializer=_start_worker, initargs=(self.make_reader, self.args)) as workers:
            futures = [workers.submit(_load_batch, landing, lake.root, chunk, years, limits) for chunk in batches]
            for future in futures:
                yield future.result()


_worker_reader: Callable[[list[SourceFile]], list[ReadResult | Exception]] | None = None


def _start_worker(make_reader: Callable, args: tuple) -> None:
    global _worker_reader
    _worker_reader = make_reader(*args)


def _load_batch(landing: Path, lake_root: Path, chunk: list[SourceFile], years: set[int] | None,
                limits: dict | None) -> list[FileOutcome]:
    assert _worker_reader is not None, "a BatchPool worker reads only after _start_worker"
    return _written(landing, Lake(lake_root), chunk, _worker_reader(chunk), years, limits)


def _outcome(landing: Path, lake: Lake, source: SourceFile, result: ReadResult | Exception,
             years: set[int] | None, limits: dict | None = None) -> FileOutcome:
    """Record what reading a file gave: its rows, or the whole file quarantined (moved to
    landing/quarantine/ with its reason) when it could not be read or broke too many row rules."""
    if isinstance(result, ReadResult):
        try:
            size_limits.check_result(result, limits, Path(source.relative).name)
        except UnknownFormat as over:
            result = over
    if isinstance(result, ReadResult):
        return record(lake, source, result, years)
    if not isinstance(result, UnreadableFile | UnknownFormat):
        raise result
    reason = str(result)
    try:
        where = f"moved to {move_to_quarantine(landing, source.relative, source.sha256, reason)}"
    except LandingRefused as refused:
        where = f"left in place, not moved: {refused}"
    lake.write(
        "quarantine",
        quarantine_frame([{"row_number": None, "column": None, "value": source.relative,
                           "rule": "file_unreadable" if isinstance(result, UnreadableFile)
                           else result.rule, "reason": reason}]),
        source,
    )
    log.warning("quarantined %s: %s (%s)", source.relative, reason, where)
    return FileOutcome(source.relative, "quarantined_file", message=reason)


def gias_reader(source: SourceFile) -> ReadResult:
    from ingestion import gias

    if not gias.sniff(source.path):
        from ingestion.describe import unrecognised

        raise UnknownFormat(unrecognised(source.path))
    return gias.read_gias(source)


def dfe_reader(source: SourceFile, limits: dict | None = None) -> ReadResult:
    """The DfE file's reader. With `limits` (settings `limits:`), an EES file's time_period outside the plausible
    range is quarantined (ees.read_ees); the size limits are the loader's, for every reader (ingestion/limits.py)."""
    from ingestion import characteristics, ees

    # the by-characteristic files first: they also have the exclusions columns of ees.py's registry entries
    if characteristics.sniff(source.path):
        return characteristics.read_characteristics(source)
    return ees.read_ees(source, limits)


def survey_reader(
    lake: Lake, pseudonym_key: bytes | None, settings: dict
) -> Callable[[list[SourceFile]], list[ReadResult | Exception]]:
    """A batch reader of survey exports, resolving schools against the GIAS register in the lake."""
    from ingestion import surveys
    from ingestion.surveys.schools import SchoolRegister

    loaded: dict = {}  # the register and instruments, read at the first batch (none when nothing is new)

    def read(sources: list[SourceFile]) -> list[ReadResult | Exception]:
        if not pseudonym_key:
            raise PseudonymKeyMissing(
                "BELONGING_PSEUDONYM_KEY is not set: survey exports are not read without a key for hashing "
                "respondent identifiers (the demo sets its own)"
            )
        if not loaded:
            loaded["schools"] = SchoolRegister.from_frames(lake.read("gias_establishments"), lake.read("gias_links"))
            loaded["instruments"] = surveys.load_instruments(settings.get("instruments_dir"))
        return surveys.read_surveys(sources, schools=loaded["schools"], pseudonym_key=pseudonym_key,
                                    settings=settings, instruments=loaded["instruments"])

    return read


class PseudonymKeyMissing(RuntimeError):
    pass


def load_gias(landing: Path, lake: Lake, limits: dict | None = None, cache: Path | None = None) -> LoadReport:
    return load_family(landing, lake, "gias", gias_reader, limits=limits, cache=cache)


def load_dfe(landing: Path, lake: Lake, years: set[int] | None = None, limits: dict | None = None,
             cache: Path | None = None) -> LoadReport:
    """Load DfE files; with `years` (academic years as 201617), only those years' rows are written. With
    `limits`, a time_period outside the plausible range is quarantined (ingestion/ees.py `read_ees`)."""
    return load_family(landing, lake, "dfe", lambda s: dfe_reader(s, limits), years, limits=limits, cache=cache)


def load_surveys(landing: Path, lake: Lake, *, pseudonym_key: bytes | None, settings: dict,
                 limits: dict | None = None, cache: Path | None = None) -> LoadReport:
    files = list(landing_files(landing, "surveys"))
    if files and not pseudonym_key:
        raise PseudonymKeyMissing(
            f"{len(files)} survey export(s) in {landing / 'surveys'} but BELONGING_PSEUDONYM_KEY is not set: "
            "set it (keep it secret, outside the repository) to hash respondent identifiers"
        )
    processes = int(settings.get("read_processes", 1))
    return load_family(landing, lake, "surveys", batch_reader=survey_reader(lake, pseudonym_key, settings),
                       limits=limits, pool=BatchPool(processes, survey_reader, (lake, pseudonym_key, settings)),
                       cache=cache)
