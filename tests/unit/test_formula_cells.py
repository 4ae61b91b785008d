"""Spreadsheet formulas never reach a published CSV as formulas (OWASP CSV injection).

School and trust names come from GIAS, so a supplier can name a school `=HYPERLINK(...)`. In every CSV
extract such a cell is prefixed with `'`; the Parquet file keeps the true value; the manifest (and the
`.meta.csv` of a filter that holds one) says so; and the extract gate fails on a formula cell that got through.
"""

from __future__ import annotations

import csv

import polars as pl
import pytest

from expectations.extracts import extract_gate
from publication.disclosure import apply_disclosure_control
from publication.extracts import FORMULA_NOTE, build_extracts, neutralise_formula, neutralised_cells
from tests.conftest import DISCLOSURE, REPO
from tests.unit.test_disclosure import load_mart

LOOKUP = REPO / "dbt_project" / "seeds" / "geography_lookups.csv"
FORMULAS = ['=HYPERLINK("http://x","y")', "+cmd|' /C calc'!A0", "@SUM(1)", "-2+3"]


@pytest.mark.parametrize("text,shown", [
    ('=HYPERLINK("http://x","y")', '\'=HYPERLINK("http://x","y")'),
    ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"),
    ("@SUM(1)", "'@SUM(1)"),
    ("-2+3", "'-2+3"),
    ("\tx", "'\tx"),
    ("\rx", "'\rx"),
    ("-1.25", "-1.25"),  # a number is data
    ("-3", "-3"),
    ("St Mary's C of E Primary", "St Mary's C of E Primary"),
    ("", ""),
])
def test_neutralise_formula(text, shown):
    assert neutralise_formula(text) == shown


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The small mart with schools and a trust renamed as a careless (or hostile) GIAS file would."""
    mart = load_mart()
    schools = sorted(mart.filter(pl.col("geographic_level") == "School")["school_urn"].unique().to_list())
    trust = mart.filter(pl.col("trust_id").is_not_null())["trust_id"].unique().sort()[0]
    names = dict(zip(schools, FORMULAS, strict=False))
    mart = mart.with_columns(
        pl.col("school_urn").replace_strict(names, default=pl.col("school_name")).alias("school_name"),
        pl.when(pl.col("trust_id") == trust).then(pl.lit(FORMULAS[1])).otherwise(pl.col("trust_name"))
        .alias("trust_name"),
    )
    out = tmp_path_factory.mktemp("formula_extracts")
    infos = build_extracts(apply_disclosure_control(mart, **DISCLOSURE), out, LOOKUP)
    return {i.name: i for i in infos}, names, trust


def cells(path, column: str) -> set[str]:
    with open(path, encoding="utf-8", newline="") as fh:
        return {row[column] for row in csv.DictReader(fh)}


def test_school_and_trust_names_are_neutralised_in_csv_and_true_in_parquet(built):
    infos, names, _ = built
    school = infos["admin_indicators_school"]
    shown = cells(school.csv_path, "school_name")
    for formula in names.values():
        assert "'" + formula in shown and formula not in shown
    assert set(names.values()) <= set(pl.read_parquet(school.parquet_path)["school_name"].to_list())
    assert school.neutralised == {"school_name": len(names)}
    assert neutralised_cells(school.csv_path) == {"school_name": len(names)}
    mat = infos["admin_indicators_mat"]
    assert "'" + FORMULAS[1] in cells(mat.csv_path, "trust_name")
    assert FORMULAS[1] in pl.read_parquet(mat.parquet_path)["trust_name"].to_list()
    assert neutralised_cells(mat.csv_path) == {"trust_name": 1}
    # no other column changes: a negative change or gap stays a number
    assert neutralised_cells(infos["admin_indicators_national"].csv_path) == {}


def test_the_extract_gate_passes_neutralised_files_and_fails_a_formula_cell(built, tmp_path):
    infos, names, _ = built
    school = infos["admin_indicators_school"]
    assert extract_gate(school.csv_path, school.meta_path, LOOKUP, **DISCLOSURE).passed
    raw = tmp_path / "admin_indicators_school.csv"
    raw.write_text(school.csv_path.read_text(encoding="utf-8").replace("'=HYPERLINK", "=HYPERLINK"),
                   encoding="utf-8")
    gate = extract_gate(raw, school.meta_path, LOOKUP, **DISCLOSURE)
    assert not gate.passed
    assert {f.rule for f in gate.failures} == {"no_formula_cells"}


def test_a_filter_holding_a_formula_says_so_in_its_meta(tmp_path):
    mart = load_mart()
    survey = mart.filter((pl.col("source") != "admin") & (pl.col("breakdown") == "gender"))
    value = survey["breakdown_value"].unique().sort()[0]
    mart = mart.with_columns(
        pl.when((pl.col("breakdown") == "gender") & (pl.col("breakdown_value") == value))
        .then(pl.lit("=1+1")).otherwise(pl.col("breakdown_value")).alias("breakdown_value")
    )
    infos = {i.name: i for i in build_extracts(apply_disclosure_control(mart, **DISCLOSURE), tmp_path, LOOKUP)}
    national = next(i for n, i in infos.items() if n.endswith("_national") and not n.startswith("admin"))
    assert "'=1+1" in cells(national.csv_path, "breakdown_value")
    with open(national.meta_path, encoding="utf-8", newline="") as fh:
        meta = {row["col_name"]: row for row in csv.DictReader(fh)}
    assert meta["breakdown_value"]["filter_hint"] == FORMULA_NOTE
    assert FORMULA_NOTE not in meta["breakdown"]["filter_hint"]


CELLS = ['=HYPERLINK("http://x","y")', "-2+3", "-1.25", "-3", "\tx", "St Mary's", "", None, "x-=", "@"]


@pytest.mark.parametrize("dtype", [pl.String, pl.Categorical])
def test_key_cells_as_text_are_neutralised_one_cell_at_a_time(dtype):
    """The fast path (String: only cells starting with a formula's first character are matched) and the general
    one (any other type: every cell's text) agree with `neutralise_formula` cell by cell."""
    from publication.extracts import _text_cells

    shown, n = _text_cells(pl.Series(CELLS, dtype=dtype))
    expected = [neutralise_formula(str(c)) for c in CELLS]
    assert shown == expected and n == 4
    assert _text_cells(pl.Series([-5, None, 12], dtype=pl.Int64)) == (["-5", "None", "12"], 0)


def test_number_cells_round_as_python_formats_without_a_negative_zero():
    """Exact decimal rounding of the binary value (0.15 is 0.1499... so 0.1; 0.25 is a true tie, to even: 0.2);
    a negative that rounds to zero, and -0.0 itself, shows no sign; a cell with no number shows its symbol."""
    from publication.extracts import _fmt_column

    values = pl.Series([-0.0, -0.04, -0.05, 0.15, -0.15, 0.25, 0.35, 2.675, None, None, 0.0])
    statuses = pl.Series(["value"] * 8 + ["suppressed", "not_applicable", "value"])
    assert _fmt_column(values, statuses, 1) == ["0.0", "0.0", "-0.1", "0.1", "-0.1", "0.2", "0.3", "2.7", "c", "z",
                                                "0.0"]
