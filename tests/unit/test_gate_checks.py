"""The blocking Dagster checks read their thresholds from the home's settings (config/settings.yaml overlaid
with <home>/settings.yaml), not from defaults: the extract gate's `disclosure.min_respondents`.

In process and fast (~10 s): the extracts asset is stood in by one that writes, into the run's folder,
extracts disclosure-controlled at a threshold of the test's choosing; the real `extract_gate` check then
audits them with the home's setting.
"""

from pathlib import Path

import polars as pl
import pytest

from publication.disclosure import apply_disclosure_control
from publication.extracts import build_extracts
from tests.conftest import DISCLOSURE, REPO
from tests.unit.test_disclosure import load_mart

LOOKUP = REPO / "dbt_project" / "seeds" / "geography_lookups.csv"


def run_extract_gate(home: Path, *, disclosed_at: int, setting: int) -> tuple[bool, str]:
    import dagster as dg

    from orchestration.assets.publication import EXTRACTS_KEY
    from orchestration.checks import extract_gate_check
    from orchestration.resources import HomeResource

    home.mkdir(parents=True)
    (home / "settings.yaml").write_text(f"disclosure:\n  min_respondents: {setting}\n", encoding="utf-8")
    published = apply_disclosure_control(load_mart(), min_respondents=disclosed_at, min_schools=DISCLOSURE["min_schools"])
    schools = published.filter((pl.col("source") == "pupil_belonging") & (pl.col("geographic_level") == "School"))

    @dg.asset(key=EXTRACTS_KEY)
    def extracts(context: dg.AssetExecutionContext, home: HomeResource) -> None:
        build_extracts(schools, home.home().run_dir(context.run_id) / "extracts", LOOKUP)

    result = dg.materialize(
        [extracts, extract_gate_check], resources={"home": HomeResource(root=str(home))}, raise_on_error=False
    )
    (evaluation,) = result.get_asset_check_evaluations()
    assert evaluation.check_name == "extract_gate"
    return evaluation.passed, str(evaluation.metadata["message"].value)


def test_extract_gate_check_uses_the_homes_min_respondents(tmp_path, monkeypatch):
    monkeypatch.setenv("BELONGING_HOME", str(tmp_path / "unused"))  # orchestration.resources reads it at import
    # extracts shown from 10 respondents, a home that asks for 15: cells of 10-14 respondents must fail
    passed, message = run_extract_gate(tmp_path / "strict", disclosed_at=10, setting=15)
    assert not passed, f"settings say min_respondents 15, the gate passed cells of 10-14 respondents: {message}"
    assert "respondents_below_threshold_suppressed" in message and "fewer than 15 respondents" in message
    # extracts shown from 5 respondents, a home that allows 5: they pass (the default 10 would fail them)
    passed, message = run_extract_gate(tmp_path / "lenient", disclosed_at=5, setting=5)
    assert passed, f"settings say min_respondents 5, the gate failed cells of 5-9 respondents: {message}"


@pytest.mark.parametrize(("disclosed_at", "threshold", "shown"), [(10, 15, {10, 12, 13}), (5, 10, {5, 6, 8, 9})])
def test_extracts_gate_uses_the_min_respondents_it_is_given(tmp_path, disclosed_at, threshold, shown):
    from expectations.extracts import extracts_gate

    published = apply_disclosure_control(load_mart(), min_respondents=disclosed_at, min_schools=DISCLOSURE["min_schools"])
    schools = published.filter((pl.col("source") == "pupil_belonging") & (pl.col("geographic_level") == "School"))
    infos = build_extracts(schools, tmp_path, LOOKUP)
    assert [i.name for i in infos] == ["pupil_belonging_school"]
    min_schools = DISCLOSURE["min_schools"]
    assert extracts_gate(infos, LOOKUP, min_respondents=disclosed_at, min_schools=min_schools).passed
    result = extracts_gate(infos, LOOKUP, min_respondents=threshold, min_schools=min_schools)
    assert [f.rule for f in result.failures] == ["respondents_below_threshold_suppressed"]
    offending = {int(o["respondents"]) for o in result.failures[0].offending}
    assert offending <= shown and min(offending) >= disclosed_at and max(offending) < threshold


def run_mart_gate(home: Path, *, settings: str, reconciliation: pl.DataFrame) -> tuple[bool, str]:
    """The real `mart_gate` check on a warehouse holding the test mart and `reconciliation`, with the home's
    `settings`; the mart asset is stood in by one that writes that warehouse."""
    import dagster as dg
    import duckdb

    from orchestration.assets.publication import MART_KEY
    from orchestration.checks import mart_gate_check
    from orchestration.resources import HomeResource

    home.mkdir(parents=True)
    (home / "settings.yaml").write_text(settings, encoding="utf-8")

    @dg.asset(key=MART_KEY)
    def mart(home: HomeResource) -> None:
        warehouse = home.home().warehouse
        warehouse.parent.mkdir(parents=True, exist_ok=True)
        con = duckdb.connect(str(warehouse))
        try:
            con.register("indicators", load_mart())
            con.register("reconciliation", reconciliation)
            con.execute("create table mart_indicators as select * from indicators")
            con.execute("create table mart_reconciliation as select * from reconciliation")
        finally:
            con.close()

    result = dg.materialize([mart, mart_gate_check], resources={"home": HomeResource(root=str(home))},
                            raise_on_error=False)
    (evaluation,) = result.get_asset_check_evaluations()
    assert evaluation.check_name == "mart_gate"
    return evaluation.passed, str(evaluation.metadata["failures"].value)


def test_mart_gate_check_uses_the_homes_suppressed_cell_max(tmp_path, monkeypatch):
    """Leeds 30 of the DfE's 35 with one suppressed school cell: the default (one `c` hides at most 2) fails the
    row by name; a home whose setting says the DfE's suppression hides up to 5 suspensions per cell passes it."""
    monkeypatch.setenv("BELONGING_HOME", str(tmp_path / "unused"))  # orchestration.resources reads it at import
    reconciliation = pl.DataFrame({
        "publication": ["exclusions"], "time_period": [201718], "time_identifier": ["Academic year"],
        "geographic_level": ["Local authority"], "geography_code": ["E08000035"], "phase": ["Total"],
        "measure": ["suspension"], "ours": [30.0], "theirs": [35.0], "theirs_status": ["value"], "difference": [-5.0],
        "shortfall": [5.0], "school_cells": [4], "school_cells_unpublished": [1], "school_cells_suppressed": [1],
        "theirs_withheld": [False],
    })  # fmt: skip
    passed, failures = run_mart_gate(tmp_path / "default", settings="", reconciliation=reconciliation)
    assert not passed, "one suppressed cell explained a shortfall of 5 under the default (2 per cell)"
    assert "reconciles_with_dfe_aggregates" in failures and "E08000035" in failures
    per_measure = "gates:\n  suppressed_cell_max:\n    exclusions.suspension: 5\n"
    passed, failures = run_mart_gate(tmp_path / "five", settings=per_measure, reconciliation=reconciliation)
    assert passed, f"the home's suppressed_cell_max (5 suspensions per cell) was not used: {failures}"
