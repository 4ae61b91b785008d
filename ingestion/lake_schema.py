"""The lake's raw tables: their names and columns. This module is the contract between ingestion
(the only writer, through ingestion.lake) and dbt's sources (dbt_project/models/staging/*/_*__sources.yml).

Every raw table also carries the provenance columns in PROVENANCE. Measures read from DfE files are a pair
`<measure>` (Float64, null unless a number was published) and `<measure>_status` (one of STATUSES).
"""

from __future__ import annotations

import polars as pl

PROVENANCE: dict[str, pl.DataType] = {
    "_source_file": pl.String(),  # path relative to landing/, as dropped by the user
    "_source_sha256": pl.String(),
    "_loaded_at": pl.Datetime("us", "UTC"),
}

# The meaning of a published cell, keyed to the file's vintage by the reader (never turned into 0).
STATUSES = (
    "value",  # a number was published
    "suppressed",  # GSS `c`; 2019-era `x`
    "not_available",  # GSS `x` (current vintage); 2019-era `:`
    "not_applicable",  # GSS `z`; 2019-era `.`
    "low",  # GSS `low`: rounds to 0 but is not 0
    "low_reliability",  # GSS `u` (the value, when given, is kept)
    "missing",  # blank cell
)

EES_COMMON: dict[str, pl.DataType] = {
    "time_period": pl.Int32(),  # 201617
    "time_identifier": pl.String(),  # "Academic year" (normalised case)
    "geographic_level": pl.String(),  # National | Regional | Local authority | School | (others as published)
    "country_code": pl.String(),
    "country_name": pl.String(),
    "region_code": pl.String(),
    "region_name": pl.String(),
    "old_la_code": pl.String(),  # 3 digits
    "new_la_code": pl.String(),  # E06…-E10…
    "la_name": pl.String(),
    "school_urn": pl.String(),  # 6 digits; null where the file has no URN (resolved from GIAS in dbt)
    "school_laestab": pl.String(),  # 7 digits
    "school_name": pl.String(),
    "phase": pl.String(),  # the file's phase / school-type filter value; "Total" on total rows
    "publication": pl.String(),  # exclusions | absence | census | sen
    "vintage": pl.String(),  # registry vintage id, e.g. "ees2019", "ees2024"
    "row_number": pl.Int64(),  # 1-based data row in the source file (header rows excluded)
}

DFE_MEASURES: dict[str, tuple[str, ...]] = {
    "exclusions": (
        "headcount",
        "perm_excl",
        "perm_excl_rate",
        "suspension",
        "susp_rate",
        "one_plus_susp",
        "one_plus_susp_rate",
    ),
    "absence": (
        "enrolments",
        "sess_possible",
        "sess_overall",
        "sess_authorised",
        "sess_unauthorised",
        "sess_overall_percent",
        "enrolments_pa_10",
        "enrolments_pa_50",
    ),
    "census": (
        "headcount",
        "fsm_eligible",  # number of pupils known to be eligible for free school meals (Performance Tables)
        "fsm_base",  # number of pupils (used for FSM calculation in Performance Tables)
        "fsm_percent",
        "eal",  # first language known or believed to be other than English
        # pupils on roll by national curriculum year (full + part time, girls + boys): survey response rates
        *(f"pupils_year_{n}" for n in range(1, 14)),
    ),
    "sen": ("total_pupils", "sen_support", "ehc_plan"),
    # "Pupil attendance in schools" (fortnightly, from daily registers): National, Regional and Local authority
    # rows by education phase, year to date and by week; no School rows. Counts of sessions are sums over the
    # period; num_schools and enrolments are averages over its days, so they can be fractional.
    "attendance": (
        "num_schools",
        "enrolments",
        "possible_sessions",
        "overall_absence",
        "authorised_absence",
        "unauthorised_absence",
        "overall_absence_perc",  # the DfE's rate: overall_absence / possible_sessions x 100
        "pa_perc",  # persistent absence (10%+ of sessions missed) as the DfE publishes it; year to date only
    ),
}


# Text columns a publication carries beside its measures (null where a file's layout has none).
DFE_ATTRIBUTES: dict[str, dict[str, pl.DataType]] = {
    "census": {
        # the school's trust that January as the census names it (the long files from 2025/26 on; null in the
        # wide layouts): a trust name as published, null unless trust_status is `value`
        "trust": pl.String(),
        # `value` (a trust is named), `not_applicable` (the census says the school is in no trust: blank, `z`,
        # "Not applicable", ...), `not_available` (`x`, "Unknown": the census does not say); `missing` when the
        # file has no trust column and on aggregate rows (ingestion/registry.yaml `trust`, read by ingestion/ees.py)
        "trust_status": pl.String(),
    },
    "attendance": {
        # a weekly row (time_identifier `Week N`, time_period the calendar year YYYY as published): the week's
        # calendar year and ISO week number, and the Monday it commences; null on year-to-date rows. The row's
        # time_period in the lake is its academic year (the week of 8 September 2025 is in 202526).
        "week_year": pl.Int32(),
        "week_number": pl.Int32(),
        "week_commencing": pl.Date(),
    },
}


def dfe_schema(publication: str) -> dict[str, pl.DataType]:
    schema = dict(EES_COMMON)
    for m in DFE_MEASURES[publication]:
        schema[m] = pl.Float64()
        schema[f"{m}_status"] = pl.String()
    return schema | DFE_ATTRIBUTES.get(publication, {}) | PROVENANCE


# Suspensions and permanent exclusions by pupil characteristic (ingestion/characteristics.py): the exclusions
# measures at National, Regional and Local authority level, one row per geography x phase x characteristic.
CHARACTERISTIC_PUBLICATION = "exclusions_characteristics"
CHARACTERISTIC_ATTRIBUTES: dict[str, pl.DataType] = {
    "characteristic_group": pl.String(),  # as published (`SEN_provision`, `SEN provision`, a filter column's name)
    "characteristic": pl.String(),  # as published (`SEN_provision_SEN_with_statement_EHC`, `FSM - Eligible`)
    # the category it maps to (config/characteristics.yaml): sen_status | fsm_status | sex | ethnicity_major, or
    # Total on the all-pupils row
    "breakdown": pl.String(),
    "breakdown_value": pl.String(),  # EHC plan | SEN support | No SEN | FSM eligible | Female | White | ... | Total
}


def characteristic_schema() -> dict[str, pl.DataType]:
    schema = dict(EES_COMMON) | CHARACTERISTIC_ATTRIBUTES
    for m in DFE_MEASURES["exclusions"]:
        schema[m] = pl.Float64()
        schema[f"{m}_status"] = pl.String()
    return schema | PROVENANCE


GIAS_ESTABLISHMENTS: dict[str, pl.DataType] = {
    "snapshot_date": pl.Date(),  # the extract's date (edubasealldataYYYYMMDD), else its latest LastChangedDate
    "urn": pl.String(),
    "la_code": pl.String(),
    "la_name": pl.String(),
    "establishment_number": pl.String(),
    "laestab": pl.String(),  # LA code * 10000 + establishment number
    "establishment_name": pl.String(),
    "type_of_establishment": pl.String(),
    "establishment_type_group": pl.String(),
    "establishment_status": pl.String(),
    "phase_of_education": pl.String(),
    "open_date": pl.Date(),
    "close_date": pl.Date(),
    "trust_code": pl.String(),
    "trust_name": pl.String(),
    "region_name": pl.String(),  # GOR (name)
    "gss_la_code": pl.String(),
    "number_of_pupils": pl.Int64(),
    "percentage_fsm": pl.Float64(),
    "parliamentary_constituency_code": pl.String(),
    "row_number": pl.Int64(),
} | PROVENANCE

GIAS_LINKS: dict[str, pl.DataType] = {
    "snapshot_date": pl.Date(),
    "urn": pl.String(),
    "link_urn": pl.String(),
    "link_name": pl.String(),
    "link_type": pl.String(),  # Predecessor | Successor | "Predecessor - merged" | ...
    "link_established_date": pl.Date(),
    "row_number": pl.Int64(),
} | PROVENANCE

SURVEY_RESPONSES: dict[str, pl.DataType] = {
    "response_key": pl.String(),  # keyed hash of tool + survey + response id (no raw id is kept)
    "respondent_key": pl.String(),  # keyed hash of a pupil/staff identifier when the export has one
    "instrument": pl.String(),  # pupil_belonging | staff_belonging | ...
    "tool": pl.String(),  # qualtrics | qualtrics_legacy | surveymonkey | msforms | googleforms | redcap
    "wave": pl.String(),  # instrument/2025-26[/autumn]
    "time_period": pl.Int32(),  # 202526, from the response date (1 September - 31 August)
    "term": pl.String(),  # autumn | spring | summer, or null when waves are yearly
    "response_date": pl.Date(),  # coarsened to the date
    "reported_urn": pl.String(),  # the school as the export gave it
    "school_urn": pl.String(),  # after following GIAS links from a closed URN to its open successor
    "year_group": pl.String(),  # "Year 7" ... ; "Prefer not to say"; null when not asked/answered
    "gender": pl.String(),
    "send": pl.String(),
    "fsm": pl.String(),
    "role": pl.String(),  # staff instrument
    "items_answered": pl.Int32(),
    "items_total": pl.Int32(),
    "row_number": pl.Int64(),
} | PROVENANCE

SURVEY_ANSWERS: dict[str, pl.DataType] = {
    "response_key": pl.String(),
    "instrument": pl.String(),
    "item_id": pl.String(),
    "answer_code": pl.Int32(),  # 1-based position in the instrument's answer list, as written
    "score": pl.Float64(),  # 0-100 for this item, higher = more belonging (negative items reversed)
    "agree": pl.Boolean(),  # answer on the belonging side (agree/strongly agree after reversal)
} | PROVENANCE

SURVEY_ITEMS: dict[str, pl.DataType] = {
    # one row per instrument item, written from the instrument configuration on every load
    "instrument": pl.String(),
    "item_id": pl.String(),
    "item_text": pl.String(),
    "negative": pl.Boolean(),
    "scale_points": pl.Int32(),
    "min_items_answered": pl.Int32(),
    "items_total": pl.Int32(),
} | PROVENANCE

FILE_LOADS: dict[str, pl.DataType] = {
    "source_kind": pl.String(),  # dfe | gias_establishments | gias_links | survey
    "publication": pl.String(),  # exclusions | absence | census | sen | survey tool name | gias
    "vintage": pl.String(),
    "encoding": pl.String(),
    "rows_read": pl.Int64(),
    "rows_loaded": pl.Int64(),
    "rows_quarantined": pl.Int64(),
    "rows_excluded": pl.Int64(),
    "exclusions": pl.String(),  # JSON object: reason -> count (surveys: preview, spam, duplicate, ...)
    "time_periods": pl.String(),  # JSON list of the academic years (YYYYYY) the file holds; DfE files only
    "status": pl.String(),  # loaded | quarantined_file
    "message": pl.String(),
} | PROVENANCE

QUARANTINE: dict[str, pl.DataType] = {
    "row_number": pl.Int64(),  # 1-based data row; null for a whole-file rejection
    "column": pl.String(),
    "value": pl.String(),
    "rule": pl.String(),  # short rule id, e.g. urn_format, unknown_symbol, school_not_in_gias
    "reason": pl.String(),  # a sentence a person can act on
} | PROVENANCE

TABLES: dict[str, dict[str, pl.DataType]] = {
    "dfe_exclusions": dfe_schema("exclusions"),
    "dfe_absence": dfe_schema("absence"),
    "dfe_census": dfe_schema("census"),
    "dfe_sen": dfe_schema("sen"),
    "dfe_attendance": dfe_schema("attendance"),
    "dfe_exclusions_characteristics": characteristic_schema(),
    "gias_establishments": GIAS_ESTABLISHMENTS,
    "gias_links": GIAS_LINKS,
    "survey_responses": SURVEY_RESPONSES,
    "survey_answers": SURVEY_ANSWERS,
    "survey_items": SURVEY_ITEMS,
    "file_loads": FILE_LOADS,
    "quarantine": QUARANTINE,
}


def empty_frame(table: str) -> pl.DataFrame:
    return pl.DataFrame(schema=TABLES[table])


def conform(table: str, frame: pl.DataFrame) -> pl.DataFrame:
    """Select and cast a frame to the table's declared columns (missing columns become null).

    Raises ValueError naming any column the frame has that the table does not declare, so a reader
    cannot silently add an undeclared (possibly personal) column to the lake.
    """
    schema = TABLES[table]
    extra = [c for c in frame.columns if c not in schema]
    if extra:
        raise ValueError(f"{table}: undeclared columns {extra}")
    return frame.select(
        [
            (pl.col(c) if c in frame.columns else pl.lit(None)).cast(dtype).alias(c)
            for c, dtype in schema.items()
        ]
    )
