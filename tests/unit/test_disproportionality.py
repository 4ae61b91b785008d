"""Disproportionality (issue 15): risk ratios with their 95% CI, from the real 2019 EES by-characteristic file
through the lake and dbt, against a hand calculation (exact fractions for the ratio, Katz's log-scale interval)."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from fractions import Fraction

import duckdb
import polars as pl
import pytest

from indicators import CatalogueError, catalogue
from ingestion.characteristics import load_labels, read_characteristics
from ingestion.lake import Lake, SourceFile
from tests.dbt_helpers import run_dbt

EES2019 = "dfe/ees2019_exclusions_by_characteristic_sample.csv"


def katz(a: int, n1: int, c: int, n2: int) -> tuple[Fraction, float, float]:
    """The hand calculation: RR = (a/n1) / (c/n2), CI = exp(ln RR -/+ 1.96 sqrt(1/a - 1/n1 + 1/c - 1/n2))."""
    rr = Fraction(a, n1) / Fraction(c, n2)
    se = math.sqrt(float(Fraction(1, a) - Fraction(1, n1) + Fraction(1, c) - Fraction(1, n2)))
    return rr, math.exp(math.log(rr) - 1.96 * se), math.exp(math.log(rr) + 1.96 * se)


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory, reference):
    home = tmp_path_factory.mktemp("home")
    lake = Lake(home / "lake")
    lake.ensure_tables()
    path = reference / EES2019
    source = SourceFile(path.resolve(), path.name, "1" * 64, datetime.now(UTC))
    result = read_characteristics(source)
    lake.write("dfe_exclusions_characteristics", result.tables["dfe_exclusions_characteristics"], source)
    work = tmp_path_factory.mktemp("dbt")
    run_dbt(home, work, "run", "--select", "stg_dfe__exclusion_characteristics", "int_characteristic_indicators_computed")
    con = duckdb.connect(str(home / "warehouse" / "warehouse.duckdb"), read_only=True)
    yield con
    con.close()


def cell(con, indicator: str, value: str, year: int = 201617) -> dict:
    rows = con.execute(
        "select value, value_status, numerator, denominator, ci_lower, ci_upper from int_characteristic_indicators_computed "
        "where indicator = ? and breakdown_value = ? and time_period = ? and geographic_level = 'National'",
        [indicator, value, year],
    ).fetchall()
    assert len(rows) == 1, rows
    return dict(zip(["value", "status", "numerator", "denominator", "ci_lower", "ci_upper"], rows[0], strict=True))


def test_ehc_plan_against_no_sen_matches_the_hand_calculation(warehouse):
    # 2016/17, all phases: EHC plan 14,555 of 225,955 pupils; no SEN 112,185 of 6,880,850
    rr, lo, hi = katz(14555, 225955, 112185, 6880850)
    got = cell(warehouse, "one_plus_suspension_risk_ratio", "Education, health and care plan")
    assert got["status"] == "value"
    assert got["value"] == pytest.approx(float(rr), rel=1e-12)
    assert round(float(rr), 2) == 3.95  # as published (2 dp)
    assert (got["ci_lower"], got["ci_upper"]) == (pytest.approx(lo, rel=1e-12), pytest.approx(hi, rel=1e-12))
    assert (round(lo, 2), round(hi, 2)) == (3.89, 4.02)
    assert got["numerator"] == pytest.approx(100 * 14555 / 225955) and got["denominator"] == pytest.approx(
        100 * 112185 / 6880850)


def test_an_ethnic_group_against_all_other_pupils(warehouse):
    # White 137,605 of 5,984,600; all pupils 183,475 of 8,025,075: the rest 45,870 of 2,040,475
    rr, lo, hi = katz(137605, 5984600, 183475 - 137605, 8025075 - 5984600)
    got = cell(warehouse, "one_plus_suspension_risk_ratio", "White")
    assert got["value"] == pytest.approx(float(rr), rel=1e-12)
    assert (got["ci_lower"], got["ci_upper"]) == (pytest.approx(lo, rel=1e-12), pytest.approx(hi, rel=1e-12))
    assert got["ci_lower"] < got["value"] < got["ci_upper"]


def test_the_comparison_group_has_no_risk_ratio_and_rates_are_published_counts(warehouse):
    none = warehouse.execute(
        "select count(*) from int_characteristic_indicators_computed where indicator = 'one_plus_suspension_risk_ratio' "
        "and breakdown_value in ('No SEN', 'Not FSM eligible')").fetchone()[0]
    assert none == 0
    rate = cell(warehouse, "group_suspension_rate", "FSM eligible")
    assert rate["value"] == pytest.approx(140225 / 1118520 * 100, rel=1e-12)


def test_the_catalogue_comparisons_are_categories_of_the_label_map():
    labels = load_labels()
    for e in catalogue():
        for breakdown, versus in e.comparison:
            assert versus == "rest" or versus in labels.categories[breakdown], (e.id, breakdown, versus)
    assert catalogue().get("one_plus_suspension_risk_ratio").comparison


def test_a_risk_ratio_without_a_comparison_is_refused(tmp_path):
    text = catalogue().path.read_text(encoding="utf-8")
    bad = tmp_path / "catalogue.yaml"
    bad.write_text(text.replace("    comparison: {sen_status: No SEN, fsm_status: Not FSM eligible, ethnicity_major: rest}\n",
                                ""), encoding="utf-8")
    with pytest.raises(CatalogueError, match="a risk_ratio has `comparison`"):
        catalogue(bad)


def test_the_reconciliation_gate_judges_each_la_total_by_characteristic():
    """An LA's all-pupils row of the by-characteristic file against the exclusions file's school rows: a shortfall
    the suppressed school cells can hold passes, a larger one fails; the allowance per suppressed cell is the
    exclusions file's (`compared_with`), as set for its measure."""
    from expectations.marts import reconciliation_frame

    rows = pl.DataFrame({
        "publication": ["exclusions_characteristics"] * 3, "compared_with": ["exclusions"] * 3,
        "geography_code": ["L1", "L2", "L3"], "measure": ["suspension"] * 3,
        "ours": [100.0, 100.0, 100.0], "theirs": [104.0, 130.0, 104.0], "shortfall": [4.0, 30.0, 4.0],
        "school_cells_suppressed": [2, 2, 1], "theirs_withheld": [False, False, False],
    })  # fmt: skip
    judged = reconciliation_frame(rows, tolerance=0.005, suppressed_cell_max={"default": 2})
    assert judged["reconciled"].to_list() == [True, False, False]
    # a home that sets the exclusions file's own allowance (counts below 5 suppressed) covers L3's 4 behind one cell
    judged = reconciliation_frame(rows, tolerance=0.005, suppressed_cell_max={"default": 2, "exclusions.suspension": 4})
    assert judged["reconciled"].to_list() == [True, False, True]
