"""A new indicator is one catalogue entry: added to a copy of indicators/catalogue.yaml and nothing else, a toy
admin indicator reaches the mart at every level (a ratio of sums), the mart gate's ranges, the extracts and
their .meta.csv, and the dbt docs."""

from __future__ import annotations

import json

import polars as pl
import pytest
import yaml

from expectations.marts import mart_gate, prepare_mart
from indicators import CATALOGUE, CATALOGUE_ENV, catalogue
from publication.disclosure import apply_disclosure_control
from publication.extracts import build_extracts
from tests.conftest import FIXTURES, GATES, REPO
from tests.dbt_helpers import build_warehouse, run_dbt
from tests.integration.test_indicators import build_fixture_lake

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("dbt_catalogue")]

TOY = {
    "id": "year7_share_percent",
    "family": "admin",
    "source": "admin",
    "definition": "Toy indicator for the catalogue test: Year 7 pupils as a percentage of all pupils.",
    "formula": "ratio",
    "numerator": ["census.pupils_year_7"],
    "denominator": "census.headcount",
    "scale": 100,
    "rollup": "ratio_of_sums",
    "unit": "percent",
    "range": [0, 100],
    "share": True,
    "dp": 1,
    "published": {"name": "year_7_pupils_toy_percent", "label": "Year 7 pupils, toy (%)", "grouping": "Pupils"},
    "disclosure": "admin",
}
LOOKUP = REPO / "dbt_project" / "seeds" / "geography_lookups.csv"


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    work = tmp_path_factory.mktemp("toy")
    doc = yaml.safe_load(CATALOGUE.read_text(encoding="utf-8"))
    doc["indicators"].append(TOY)
    path = work / "catalogue.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    mp = pytest.MonkeyPatch()
    mp.setenv(CATALOGUE_ENV, str(path))
    home = work / "home"
    build_fixture_lake(home)
    con = build_warehouse(home, work / "dbt", "--exclude-resource-type", "unit_test")
    mart = con.sql("select * from mart_indicators").pl()
    con.close()
    run_dbt(home, work / "dbt", "docs", "generate")
    yield {"work": work, "home": home, "mart": mart}
    mp.undo()


def expected_shares() -> dict[str, float]:
    """Year 7 share of the fixture's 2017/18 census, worked out from the file: per school and per LA (sums)."""
    census = pl.read_csv(FIXTURES / "indicators" / "dfe_census_201718__pupils_by_year_group.csv", infer_schema=False)
    rows = census.filter(pl.col("geographic_level") == "School").select(
        "school_urn", "new_la_code", pl.col("pupils_year_7").cast(pl.Float64), pl.col("headcount").cast(pl.Float64))
    out = {r["school_urn"]: r["pupils_year_7"] / r["headcount"] * 100 for r in rows.drop_nulls().iter_rows(named=True)}
    for la, part in rows.drop_nulls().group_by("new_la_code"):
        out[la[0]] = part["pupils_year_7"].sum() / part["headcount"].sum() * 100
    return out


def test_the_toy_reaches_the_mart_at_every_level_as_a_ratio_of_sums(toy):
    rows = toy["mart"].filter((pl.col("indicator") == "year7_share_percent") & (pl.col("time_period") == 201718))
    assert set(rows["geographic_level"]) == {"School", "MAT", "Local authority", "Regional", "National"}
    shares = expected_shares()
    got = {r["geography_code"]: r["value"] for r in rows.iter_rows(named=True)
           if r["geographic_level"] in ("School", "Local authority") and r["value"] is not None}
    assert got.keys() == shares.keys()
    # the primary has no Year 7: its cell keeps the DfE's `not applicable` and stays out of the LA's sums
    (primary,) = rows.filter(pl.col("geography_code") == "100005")["value_status"]
    assert primary == "not_applicable"
    for code, value in shares.items():
        assert got[code] == pytest.approx(value, abs=1e-9), code


def test_the_toy_is_in_the_mart_gate_ranges(toy):
    prepared = prepare_mart(toy["mart"]).filter(pl.col("indicator") == "year7_share_percent")
    assert set(prepared["range_min"]) == {0.0} and set(prepared["range_max"]) == {100.0}
    tolerances = GATES
    assert mart_gate(toy["mart"], **tolerances).passed
    broken = toy["mart"].with_columns(
        pl.when(pl.col("indicator") == "year7_share_percent").then(pl.lit(140.0)).otherwise(pl.col("value"))
        .alias("value"))
    gate = mart_gate(broken, **tolerances)
    (failure,) = [f for f in gate.failures if f.rule == "value_within_catalogue_range"]
    assert {o["indicator"] for o in failure.offending} == {"year7_share_percent"}


def test_the_toy_is_published_with_its_meta(toy, tmp_path):
    infos = build_extracts(apply_disclosure_control(toy["mart"], min_respondents=10, min_schools=3), tmp_path,
                           LOOKUP)
    la = next(i for i in infos if i.name == "admin_indicators_la")
    data = pl.read_csv(la.csv_path, infer_schema=False)
    assert "year_7_pupils_toy_percent" in data.columns
    leeds = data.filter((pl.col("new_la_code") == "E08000035") & (pl.col("time_period") == "201718"))
    assert leeds["year_7_pupils_toy_percent"].to_list() == [f"{expected_shares()['E08000035']:.1f}"]
    meta = {r["col_name"]: r for r in pl.read_csv(la.meta_path, infer_schema=False).iter_rows(named=True)}
    assert meta["year_7_pupils_toy_percent"] | {} == {
        "col_name": "year_7_pupils_toy_percent", "col_type": "Indicator", "label": "Year 7 pupils, toy (%)",
        "indicator_grouping": "Pupils", "indicator_unit": "%", "indicator_dp": "1", "filter_hint": None,
        "filter_grouping_column": None}


def test_the_toy_is_in_the_dbt_docs(toy):
    manifest = json.loads((toy["work"] / "dbt" / "target" / "manifest.json").read_text(encoding="utf-8"))
    meta = manifest["nodes"]["model.belonging.mart_indicators"]["config"]["meta"]["indicators"]
    (entry,) = [e for e in meta if e["id"] == "year7_share_percent"]
    assert entry["definition"] == TOY["definition"] and entry["numerator"] == ["census.pupils_year_7"]
    assert entry["label"] == "Year 7 pupils, toy (%)"
    assert catalogue().get("year7_share_percent").published.name == "year_7_pupils_toy_percent"
