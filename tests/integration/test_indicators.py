"""The dbt project on a small lake built by hand: every indicator's value worked out on paper, at every level.

The lake (tests/fixtures/indicators/): 2017/18 and 2016/17; five schools in two LAs (Newcastle upon Tyne,
North East; Leeds, Yorkshire and The Humber, which GIAS spells "Yorkshire and the Humber"), two trusts
(TR01: 100001 + 100002; TR02: 100003 + 100004), one LA-maintained primary (100005); 100004 is the academy
that replaced 100014 on 1 September 2017 (GIAS links); 100003's suspensions are suppressed in 2017/18; the
2016/17 exclusions file has only LAESTAB; 100001's 2017/18 exclusions were re-issued (latest load wins);
a cumulative pupil-survey export repeats response r1; r4 answered 3 of 6 items (below the minimum of 4).
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from ingestion.lake import Lake, SourceFile
from ingestion.lake_schema import TABLES
from tests.conftest import FIXTURES
from tests.dbt_helpers import build_warehouse

FIX = FIXTURES / "indicators"
T0 = datetime(2018, 9, 1, tzinfo=UTC)

pytestmark = pytest.mark.integration


def _frame(table: str, csv: Path, drop: tuple[str, ...] = ()) -> pl.DataFrame:
    raw = pl.read_csv(csv, infer_schema=False).drop(list(drop))
    schema = TABLES[table]

    def cast(c: str) -> pl.Expr:
        col = pl.col(c).replace("", None)
        if schema[c] == pl.Date():
            return col.str.to_date("%Y-%m-%d")
        if schema[c] == pl.Boolean():
            return col.str.to_lowercase() == "true"
        return col.cast(schema[c])

    return raw.with_columns([cast(c) for c in raw.columns])


def _source(name: str, minutes: int) -> SourceFile:
    """A landing file's provenance; `minutes` after T0 orders the loads."""
    digest = hashlib.sha256(name.encode()).hexdigest()
    return SourceFile(FIX / name, f"fixtures/{name}", digest, T0 + timedelta(minutes=minutes))


def _survey(lake: Lake, csv_name: str, minutes: int) -> None:
    src = _source(csv_name, minutes)
    raw = pl.read_csv(FIX / csv_name, infer_schema=False)
    responses = _frame("survey_responses", FIX / csv_name, drop=("scores",))
    lake.write("survey_responses", responses, src)
    items = pl.read_csv(FIX / "survey_items__instruments.csv", infer_schema=False)
    rows = []
    for r in raw.iter_rows(named=True):
        ids = items.filter(pl.col("instrument") == r["instrument"])["item_id"].to_list()
        for item_id, score in zip(ids, r["scores"].split(";"), strict=True):
            if score:
                s = float(score)
                points = 4 if r["instrument"] == "pupil_belonging" else 5
                rows.append(
                    {
                        "response_key": r["response_key"],
                        "instrument": r["instrument"],
                        "item_id": item_id,
                        "answer_code": round(s / 100 * (points - 1)) + 1,
                        "score": s,
                        "agree": s > 50,
                    }
                )
    lake.write("survey_answers", pl.DataFrame(rows), src)


def build_fixture_lake(home: Path) -> Lake:
    lake = Lake(home / "lake")
    lake.ensure_tables()
    files = [
        ("gias_establishments", "gias_establishments__two_trusts_two_las_one_conversion.csv", 0),
        ("gias_links", "gias_links__conversion.csv", 1),
        ("dfe_exclusions", "dfe_exclusions_201617__laestab_only.csv", 2),
        ("dfe_exclusions", "dfe_exclusions_201718__first_issue.csv", 3),
        ("dfe_exclusions", "dfe_exclusions_201718__suppressed_cell.csv", 4),
        ("dfe_absence", "dfe_absence_201718__severe_suppressed.csv", 5),
        ("dfe_census", "dfe_census_201718__pupils_by_year_group.csv", 6),
        ("dfe_sen", "dfe_sen_201718__send_shares.csv", 7),
        ("survey_items", "survey_items__instruments.csv", 8),
    ]
    for table, name, minutes in files:
        lake.write(table, _frame(table, FIX / name), _source(name, minutes))
    _survey(lake, "survey_pupil_201718__first_export.csv", 10)
    _survey(lake, "survey_pupil_201718__cumulative_export.csv", 20)
    _survey(lake, "survey_staff_201718__roles.csv", 30)
    return lake


@pytest.fixture(scope="session")
def warehouse(tmp_path_factory):
    home = tmp_path_factory.mktemp("home")
    build_fixture_lake(home)
    con = build_warehouse(home, tmp_path_factory.mktemp("dbt"))
    yield con
    con.close()
