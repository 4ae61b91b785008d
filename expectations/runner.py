"""Run a list of checks as a Great Expectations suite over one frame and turn the validation into a
`GateResult` a person (and a Dagster asset check) can act on.

GX is imported inside `run_suite` (a 2-3 s import). The context is ephemeral; the frame is fed through a
pandas data source (GX's SQL data source does not work on DuckDB: ../shared/STACK-NOTES.md). With
`data_docs_dir`, the validation runs through a checkpoint with an UpdateDataDocsAction so GX writes its
Data Docs site (index.html + the validation page) under that folder.

Polars narrows, Great Expectations judges. A national extract or mart is millions of rows, and GX's pandas
path runs its regular expressions in Python (90 s and 6 GB for one school extract). So a polars frame is first
narrowed to its candidate rows: those that could break at least one check (`candidates`: a duplicated key,
a value in a forbidden set, a value not matching a pattern, ...; a superset of what GX will find, so nothing
GX would report is lost). GX then validates only those rows, which keep their row numbers. A check whose
expectation has no candidate rule sees the whole frame. The Data Docs show the candidate rows as the rows
evaluated.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ERROR, WARNING = "error", "warning"
MAX_OFFENDING = 5
BIG_FRAME = 100_000  # rows handed to GX after which its memory is collected at once (`_release`)
_ids = itertools.count()
# within `data_docs_once`: per Data Docs folder, the pages (suites, validations) to render when it ends
# (None: each suite renders its own pages as it runs)
_DEFERRED_DOCS: dict[str, list] | None = None
# one ephemeral context per Data Docs folder (None: no docs), reused: creating one costs ~0.2 s
_CONTEXTS: dict[str, object] = {}


@dataclass(frozen=True)
class Check:
    """One named check: a GX expectation type (snake_case) and its arguments, a severity and an
    actionable message (what is wrong and what to do)."""

    name: str
    expectation: str  # e.g. "expect_column_values_to_match_regex"
    kwargs: dict[str, Any]
    message: str
    severity: str = ERROR
    # extra columns of the offending rows to show beside the value (e.g. the row's key)
    context_columns: tuple[str, ...] = ()
    # a pattern every value the check can fail matches (for `candidates`), where the check's own regex has what
    # polars' regex engine lacks (look-around); None: the check's own regex
    candidate_regex: str | None = None


def candidates(check: Check):
    """A polars expression true on every row `check` could fail (a superset), or None when there is no such
    rule for its expectation (the check then sees every row). Nulls are never candidates of a column-map
    expectation: GX skips them."""
    import polars as pl

    kw, e = check.kwargs, check.expectation
    if "mostly" in kw or kw.get("row_condition"):
        return None
    col = pl.col(kw["column"]) if "column" in kw else None
    text = col.cast(pl.String) if col is not None else None
    regex = check.candidate_regex or kw.get("regex")
    for pattern in (regex, *kw.get("regex_list", ())):
        if pattern is None:
            continue
        try:
            pl.Series([""]).str.contains(pattern)
        except pl.exceptions.ComputeError:  # a pattern polars cannot run (look-around): no narrowing
            return None
    rules = {
        "expect_column_values_to_be_unique": lambda: col.is_duplicated() & col.is_not_null(),
        "expect_compound_columns_to_be_unique": lambda: pl.struct(kw["column_list"]).is_duplicated(),
        "expect_column_values_to_not_be_in_set": lambda: col.is_in(kw["value_set"]).fill_null(False),
        "expect_column_values_to_be_in_set": lambda: ~col.is_in(kw["value_set"]).fill_null(True),
        "expect_column_values_to_match_regex": lambda: ~text.str.contains(regex).fill_null(True),
        "expect_column_values_to_not_match_regex": lambda: text.str.contains(regex).fill_null(False),
        "expect_column_values_to_not_match_regex_list": lambda: (
            pl.any_horizontal([text.str.contains(r) for r in kw["regex_list"]]).fill_null(False)
        ),
        "expect_column_values_to_be_null": lambda: col.is_not_null(),
        "expect_column_values_to_not_be_null": lambda: col.is_null(),
        # the first `min_value` rows keep the count at or above it exactly when the whole frame's is
        "expect_table_row_count_to_be_between": lambda: (
            pl.int_range(pl.len()) < kw["min_value"] if kw.get("max_value") is None else None
        ),
        "expect_column_values_to_be_between": lambda: (
            (col <= kw["min_value"] if kw.get("min_value") is not None else pl.lit(False))
            | (col >= kw["max_value"] if kw.get("max_value") is not None else pl.lit(False))
        ).fill_null(False),
    }
    return rules[e]() if e in rules else None  # a rule may itself be None (no narrowing in that case)


def narrow(frame, checks: list[Check]):
    """`frame` (polars) as pandas, only its candidate rows for `checks` (their index: their row numbers in
    `frame`); every row when a check has no candidate rule or reads a column the frame lacks (GX reports that)."""
    import polars as pl

    exprs = []
    for check in checks:
        named = [c for c in (check.kwargs.get("column"), *check.kwargs.get("column_list", ())) if c]
        expr = candidates(check) if all(c in frame.columns for c in named) else None
        if expr is None:
            return frame.to_pandas()
        exprs.append(expr)
    rows = frame.with_row_index("__row").filter(pl.any_horizontal(exprs) if exprs else pl.lit(False))
    return rows.drop("__row").to_pandas().set_axis(rows["__row"].to_list(), axis=0)


@dataclass
class Failure:
    table: str
    column: str | None
    rule: str  # check name
    expectation: str  # GX expectation type or "python" for a non-GX rule
    severity: str
    offending: list[Any]
    message: str

    def __str__(self) -> str:
        where = f"{self.table}.{self.column}" if self.column else self.table
        return f"[{self.severity}] {where}: {self.rule} ({self.expectation}): {self.message}; e.g. {self.offending}"


@dataclass
class GateResult:
    name: str
    passed: bool
    failures: list[Failure] = field(default_factory=list)
    checks_run: int = 0
    data_docs: Path | None = None  # index.html of the Data Docs site written for this validation
    # what the gate validated when it did not validate everything (new lake files, changed periods or extracts),
    # in words for the check's metadata; None: everything
    scope: str | None = None

    @property
    def errors(self) -> list[Failure]:
        return [f for f in self.failures if f.severity == ERROR]

    def summary(self) -> str:
        if self.passed and not self.failures:
            return f"{self.name}: all {self.checks_run} checks passed"
        return f"{self.name}: {len(self.failures)} of {self.checks_run} checks failed\n" + "\n".join(
            f"  {f}" for f in self.failures
        )

    def as_dict(self) -> dict:
        return {
            "name": self.name,
            "passed": self.passed,
            "checks_run": self.checks_run,
            "failures": [
                {
                    "table": f.table,
                    "column": f.column,
                    "rule": f.rule,
                    "expectation": f.expectation,
                    "severity": f.severity,
                    "offending": [str(o) for o in f.offending],
                    "message": f.message,
                }
                for f in self.failures
            ],
            "data_docs": str(self.data_docs) if self.data_docs else None,
            "scope": self.scope,
        }


def merge(name: str, results: list[GateResult]) -> GateResult:
    """One gate made of several suites (several frames)."""
    docs = next((r.data_docs for r in results if r.data_docs), None)
    scopes = [r.scope for r in results if r.scope]
    return GateResult(
        name=name,
        passed=all(r.passed for r in results),
        failures=[f for r in results for f in r.failures],
        checks_run=sum(r.checks_run for r in results),
        data_docs=docs,
        scope="; ".join(dict.fromkeys(scopes)) or None,
    )


def python_result(name: str, table: str, failures: list[Failure], checks_run: int) -> GateResult:
    """A gate result for rules computed in Python (e.g. the screener's file-level rules)."""
    return GateResult(name, not any(f.severity == ERROR for f in failures), failures, checks_run)


def _class_name(expectation: str) -> str:
    return "".join(part.capitalize() for part in expectation.split("_"))


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]+", "_", name)


@contextlib.contextmanager
def data_docs_once():
    """Within it, each suite's validation is stored and its Data Docs pages are rendered once, at the end,
    with the site's index: rendering the index after each suite costs more than a gate's validations. Only
    the pages of the suites run within the block are rendered (GX's incremental build): a run's gates share
    one site, and a gate does not render again the pages of the gates before it."""
    global _DEFERRED_DOCS
    outer, _DEFERRED_DOCS = _DEFERRED_DOCS, {}
    try:
        yield
    finally:
        pending, _DEFERRED_DOCS = _DEFERRED_DOCS, outer
        for data_docs_dir, pages in sorted(pending.items()):
            if outer is not None:  # nested: the outer block renders them
                outer.setdefault(data_docs_dir, []).extend(pages)
            else:
                _build_docs(data_docs_dir, pages)


def _build_docs(data_docs_dir: str, pages: list) -> None:
    """Render `pages` (suite and validation identifiers) of the site in `data_docs_dir`, and its index."""
    _CONTEXTS[data_docs_dir].build_data_docs(site_names=["gates"], resource_identifiers=pages)


def run_suite(
    name: str,
    frame,
    expectations: list[Check],
    *,
    data_docs_dir: Path | None = None,
    table: str | None = None,
) -> GateResult:
    """Validate `frame` (polars or pandas) against `expectations`; `table` names it in failures."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig
    from great_expectations.data_context.types.resource_identifiers import ExpectationSuiteIdentifier

    logging.getLogger("great_expectations").setLevel(logging.ERROR)
    table = table or name
    pdf = narrow(frame, expectations) if hasattr(frame, "with_row_index") else frame
    # GX's pandas path wants object columns for text: pandas 3's string dtype is converted explicitly
    pdf = pdf.astype({c: object for c, t in pdf.dtypes.items() if str(t) in ("str", "string")})

    context = _CONTEXTS.get(str(data_docs_dir))
    if context is None:
        context = gx.get_context(mode="ephemeral")
        context.variables.progress_bars = ProgressBarsConfig(globally=False)
        _CONTEXTS[str(data_docs_dir)] = context
    uid = f"{_safe(name)}_{next(_ids)}"
    source = context.data_sources.add_pandas(f"src_{uid}")
    asset = source.add_dataframe_asset(_safe(table))
    batch_definition = asset.add_batch_definition_whole_dataframe(f"batch_{uid}")
    suite_name = _safe(name) if data_docs_dir else uid
    by_id: dict[int, Check] = {}
    built = []
    for i, check in enumerate(expectations):
        cls = getattr(gx.expectations, _class_name(check.expectation))
        meta = {"check": check.name, "severity": check.severity, "message": check.message, "index": i}
        built.append(cls(**check.kwargs, meta=meta))
        by_id[i] = check
    # the suite with every expectation at once (adding them one by one stores the suite again after each); a
    # re-run in the same process replaces the suite of that name (its Data Docs page is rewritten)
    suite = context.suites.add_or_update(gx.ExpectationSuite(name=suite_name, expectations=built))
    result_format = {"result_format": "COMPLETE", "partial_unexpected_count": MAX_OFFENDING}

    docs_index = None
    if data_docs_dir is not None:
        base = Path(data_docs_dir)
        base.mkdir(parents=True, exist_ok=True)
        site = {
            "class_name": "SiteBuilder",
            "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(base)},
            "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
        }
        if "gates" not in (context.variables.data_docs_sites or {}):
            context.add_data_docs_site("gates", site)
        vd = context.validation_definitions.add(
            gx.ValidationDefinition(name=f"vd_{uid}", data=batch_definition, suite=suite)
        )
        checkpoint = context.checkpoints.add(
            gx.Checkpoint(name=f"cp_{uid}", validation_definitions=[vd], actions=[], result_format=result_format)
        )
        run = checkpoint.run(batch_parameters={"dataframe": pdf})
        # this suite's pages: its expectations and its validation (rendered now, or when data_docs_once ends)
        pages = [ExpectationSuiteIdentifier(name=suite_name), *run.run_results]
        if _DEFERRED_DOCS is not None:
            _DEFERRED_DOCS.setdefault(str(data_docs_dir), []).extend(pages)
        else:
            _build_docs(str(data_docs_dir), pages)
        validation = next(iter(run.run_results.values()))
        docs_index = base / "index.html"
    else:
        batch = batch_definition.get_batch(batch_parameters={"dataframe": pdf})
        validation = batch.validate(suite, result_format=result_format)

    failures = []
    for r in validation.results:
        if r.success:
            continue
        check = by_id[r.expectation_config.meta["index"]]
        failures.append(_failure(table, check, r, pdf))
    passed = not any(f.severity == ERROR for f in failures)
    _release(context, source.name, collect=len(pdf) > BIG_FRAME)
    return GateResult(name, passed, failures, len(expectations), docs_index)


def _release(context, source_name: str, collect: bool) -> None:
    """Drop the validation's data source from the (reused) context, so the frame it was fed can be freed:
    a national mart is gigabytes as pandas objects, and the next step needs that memory."""
    import gc

    try:
        context.data_sources.delete(source_name)
    except Exception:  # noqa: BLE001 - freeing memory must never fail a gate
        logging.getLogger(__name__).debug("could not delete GX data source %s", source_name, exc_info=True)
    if collect:  # a full collection costs ~0.4 s: worth it only after a frame that big
        gc.collect()


def _failure(table: str, check: Check, r, pdf) -> Failure:
    res = r.result or {}
    column = check.kwargs.get("column") or ",".join(check.kwargs.get("column_list", [])) or None
    offending: list[Any] = []
    index = res.get("unexpected_index_list") or res.get("partial_unexpected_index_list")
    if index:
        cols = [
            c
            for c in (*check.context_columns, *([check.kwargs["column"]] if "column" in check.kwargs else []))
            if c in pdf.columns
        ]
        cols += [c for c in check.kwargs.get("column_list", []) if c in pdf.columns and c not in cols]
        for i in list(index)[:MAX_OFFENDING]:
            row = i if isinstance(i, int) else i.get("index", i) if isinstance(i, dict) else i
            try:
                offending.append({"row": int(row) + 1, **{c: _plain(pdf.at[row, c]) for c in cols}})
            except (KeyError, TypeError, ValueError):
                offending.append(i)
    elif res.get("partial_unexpected_list"):
        offending = list(res["partial_unexpected_list"])[:MAX_OFFENDING]
    elif "observed_value" in res:
        offending = [{"observed_value": res["observed_value"]}]
    if r.exception_info and r.exception_info.get("raised_exception"):
        offending.append({"exception": r.exception_info.get("exception_message")})
    count = res.get("unexpected_count")
    message = check.message + (f" ({count} rows)" if count else "")
    return Failure(table, column, check.name, check.expectation, check.severity, offending, message)


def _plain(v):
    try:
        import pandas as pd

        if pd.isna(v):
            return None
    except (TypeError, ValueError):
        pass
    return v.item() if hasattr(v, "item") else v


@contextlib.contextmanager
def frames_in_duckdb(**frames):
    """An in-memory DuckDB connection with each polars frame (lazy or not; None: left out) registered under its
    name: what the gates' in-memory entry points give their DuckDB rules (`*_db`), which the refresh runs on the
    warehouse itself."""
    import duckdb

    con = duckdb.connect()
    try:
        for name, frame in frames.items():
            if frame is not None:
                con.register(name, frame.lazy().collect().to_arrow())
        yield con
    finally:
        con.close()
