"""Lake assets: landing files -> raw Parquet. Thin wrappers over ingestion.load."""


from collections import Counter
from datetime import date

import dagster as dg
import polars as pl

from ingestion.lake import Lake
from ingestion.load import LoadReport, load_dfe, load_gias, load_surveys
from orchestration.layers import LAKE, OWNERS
from orchestration.resources import HomeResource
from orchestration.settings import pseudonym_key

GIAS_TABLES = ("gias_establishments", "gias_links")
DFE_TABLES = ("dfe_exclusions", "dfe_absence", "dfe_census", "dfe_sen", "dfe_attendance", "dfe_exclusions_characteristics")
SURVEY_TABLES = ("survey_responses", "survey_answers", "survey_items")
LAKE_GROUP = LAKE
LAKE_SPEC = {"group_name": LAKE_GROUP, "owners": OWNERS[LAKE_GROUP], "kinds": {"polars", "parquet"}}
FIRST_ACADEMIC_YEAR = 2000  # 2000/01: older than any school-level file the DfE publishes


def academic_year_keys(today: date | None = None) -> list[str]:
    """Partition keys `YYYYYY` (201617 = 2016/17, as EES time_period) up to the current academic year."""
    today = today or date.today()
    last = today.year if today.month >= 9 else today.year - 1
    return [f"{y}{(y + 1) % 100:02d}" for y in range(FIRST_ACADEMIC_YEAR, last + 1)]


class DfeYears(dg.Config):
    """Which academic years a run of lake_dfe writes: `YYYYYY` keys (201617 = 2016/17, as EES time_period), from
    2000/01 to the current year. Empty (the refresh): every year, including rows of years outside that list."""

    years: list[str] = []

    def selected(self) -> set[int] | None:
        """The years as time_period values, None for every year; a key that is not an academic year is refused
        in one line naming it and the keys accepted."""
        known = academic_year_keys()
        unknown = [y for y in self.years if y not in known]
        if unknown:
            raise dg.Failure(description=f"lake_dfe config years: {', '.join(unknown)} is not an academic year key "
                             f"(YYYYYY, as 201617 for 2016/17, from {known[0]} to {known[-1]})")
        return {int(y) for y in self.years} or None


def lake_key(table: str) -> dg.AssetKey:
    return dg.AssetKey(["lake", table])


# loaded files named in the run's log up to this many, the rest counted, in one message: each message is a write to
# the Dagster event log (~5-50 ms, with the machine's load: a national load of 9,000 exports spent minutes logging)
LOADED_FILES_LOGGED = 20


def _results(context: dg.AssetExecutionContext, report: LoadReport, tables: tuple[str, ...],
             rows_by_year: dict[str, dict] | None = None):
    loaded = [o for o in report.files if o.status == "loaded"]
    for outcome in report.files:
        if outcome.status == "quarantined_file":
            context.log.warning(f"quarantined {outcome.file}: {outcome.message}")
        elif outcome.status == "refused":
            context.log.warning(f"refused landing/{outcome.file}: {outcome.message}")
    lines = [
        f"loaded {outcome.file} ({outcome.publication}, {outcome.vintage}): {outcome.rows_loaded} rows, "
        f"{outcome.rows_quarantined} quarantined" + (f", excluded {outcome.exclusions}" if outcome.exclusions else "")
        for outcome in loaded[:LOADED_FILES_LOGGED]
    ]
    if len(loaded) > LOADED_FILES_LOGGED:
        by_kind = Counter(f"{o.publication}/{o.vintage}" for o in loaded)
        lines.append(
            f"loaded {len(loaded)} files ({len(loaded) - LOADED_FILES_LOGGED} more than named above): "
            f"{sum(o.rows_loaded for o in loaded)} rows, {sum(o.rows_quarantined for o in loaded)} quarantined; "
            f"by publication/vintage {dict(sorted(by_kind.items()))} (every file: the lake's file_loads table)"
        )
    if lines:  # one line a file, one message
        context.log.info("\n".join(lines))
    meta = report.as_metadata()
    for table in tables:
        extra = {"rows_by_academic_year": dg.MetadataValue.json(rows_by_year[table])} if rows_by_year else {}
        yield dg.MaterializeResult(asset_key=lake_key(table), metadata={**meta, **extra})


@dg.multi_asset(
    specs=[dg.AssetSpec(lake_key(t), **LAKE_SPEC, description=f"Raw lake table {t} (GIAS)")
           for t in GIAS_TABLES],
    description="Reads GIAS establishment and links files from landing/gias into the lake.",
)
def lake_gias(context: dg.AssetExecutionContext, home: HomeResource):
    h = home.home()
    yield from _results(context, load_gias(h.landing, Lake(h.lake), h.settings["limits"], h.cache), GIAS_TABLES)


@dg.multi_asset(
    specs=[dg.AssetSpec(lake_key(t), **LAKE_SPEC, description=f"Raw lake table {t} (DfE EES)")
           for t in DFE_TABLES],
    description="Reads DfE EES open-data CSVs (census, SEN, absence, exclusions; every vintage) into the lake, "
    "one Parquet file per source file and academic year. Every year by default; one year or a few can be "
    "(re)loaded on their own (config `years`, e.g. [\"201617\"]). Rows per table and year: the metadata "
    "`rows_by_academic_year`.",
)
def lake_dfe(context: dg.AssetExecutionContext, config: DfeYears, home: HomeResource):
    h = home.home()
    # one step for every year: academic-year partitions made the refresh plan and record an event per table
    # and year (~300 of a demo refresh's ~800 Dagster events)
    years = config.selected()
    lake = Lake(h.lake)
    report = load_dfe(h.landing, lake, years, h.settings["limits"], h.cache)
    # rows per year when this run loaded something (an incremental refresh with no new DfE file reads no lake file)
    yield from _results(context, report, DFE_TABLES, _rows_by_year(lake, years) if report.count("loaded") else None)


def _rows_by_year(lake: Lake, years: set[int] | None) -> dict[str, dict]:
    out = {}
    for table in DFE_TABLES:
        counts = (pl.scan_parquet(lake.glob(table)).group_by("time_period").len().collect()
                  .sort("time_period"))
        out[table] = {str(tp): n for tp, n in counts.iter_rows() if years is None or tp in years}
    return out


@dg.multi_asset(
    specs=[dg.AssetSpec(lake_key(t), **LAKE_SPEC, deps=[lake_key(g) for g in GIAS_TABLES],
                        description=f"Raw lake table {t} (survey exports, personal data stripped)")
           for t in SURVEY_TABLES],
    description="Reads pupil and staff survey exports (five tools) into the lake, personal data stripped.",
)
def lake_surveys(context: dg.AssetExecutionContext, home: HomeResource):
    h = home.home()
    report = load_surveys(h.landing, Lake(h.lake), pseudonym_key=pseudonym_key(),
                          settings=h.settings.get("surveys", {}), limits=h.settings["limits"], cache=h.cache)
    yield from _results(context, report, SURVEY_TABLES)
