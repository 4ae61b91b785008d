"""Lake assets: landing files -> raw Parquet. Thin wrappers over ingestion.load."""


import dagster as dg

from ingestion.lake import Lake
from ingestion.load import LoadReport, load_dfe, load_gias, load_surveys
from orchestration.resources import HomeResource
from orchestration.settings import pseudonym_key

GIAS_TABLES = ("gias_establishments", "gias_links")
DFE_TABLES = ("dfe_exclusions", "dfe_absence", "dfe_census", "dfe_sen")
SURVEY_TABLES = ("survey_responses", "survey_answers", "survey_items")
LAKE_GROUP = "lake"


def lake_key(table: str) -> dg.AssetKey:
    return dg.AssetKey(["lake", table])


def _results(context: dg.AssetExecutionContext, report: LoadReport, tables: tuple[str, ...]):
    for outcome in report.files:
        if outcome.status == "quarantined_file":
            context.log.warning(f"quarantined {outcome.file}: {outcome.message}")
        elif outcome.status == "loaded":
            context.log.info(
                f"loaded {outcome.file} ({outcome.publication}, {outcome.vintage}): {outcome.rows_loaded} rows, "
                f"{outcome.rows_quarantined} quarantined"
                + (f", excluded {outcome.exclusions}" if outcome.exclusions else "")
            )
    meta = report.as_metadata()
    for table in tables:
        yield dg.MaterializeResult(asset_key=lake_key(table), metadata=meta)


@dg.multi_asset(
    specs=[dg.AssetSpec(lake_key(t), group_name=LAKE_GROUP, description=f"Raw lake table {t} (GIAS)")
           for t in GIAS_TABLES],
    description="Reads GIAS establishment and links files from landing/gias into the lake.",
)
def lake_gias(context: dg.AssetExecutionContext, home: HomeResource):
    h = home.home()
    yield from _results(context, load_gias(h.landing, Lake(h.lake)), GIAS_TABLES)


@dg.multi_asset(
    specs=[dg.AssetSpec(lake_key(t), group_name=LAKE_GROUP, description=f"Raw lake table {t} (DfE EES)")
           for t in DFE_TABLES],
    description="Reads DfE EES open-data CSVs (census, SEN, absence, exclusions; every vintage) into the lake.",
)
def lake_dfe(context: dg.AssetExecutionContext, home: HomeResource):
    h = home.home()
    yield from _results(context, load_dfe(h.landing, Lake(h.lake)), DFE_TABLES)


@dg.multi_asset(
    specs=[dg.AssetSpec(lake_key(t), group_name=LAKE_GROUP, deps=[lake_key(g) for g in GIAS_TABLES],
                        description=f"Raw lake table {t} (survey exports, personal data stripped)")
           for t in SURVEY_TABLES],
    description="Reads pupil and staff survey exports (five tools) into the lake, personal data stripped.",
)
def lake_surveys(context: dg.AssetExecutionContext, home: HomeResource):
    h = home.home()
    report = load_surveys(h.landing, Lake(h.lake), pseudonym_key=pseudonym_key(),
                          settings=h.settings.get("surveys", {}))
    yield from _results(context, report, SURVEY_TABLES)
