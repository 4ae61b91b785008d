"""The screener's advisories (the DfE screener's region_for_la and length limits, and ours on schools included)
and the extract gate's coverage checks: each passes on the extracts as written and fails on a copy that breaks
it, naming the file, the column and the rule."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest

from expectations.extracts import extract_gate
from expectations.runner import WARNING
from expectations.screener import ADVISORY, MAX_LABEL, PASS, ScreenInput, label_and_name_length, region_for_la
from expectations.screener import schools_included_for_survey_aggregates as schools_rule
from publication.disclosure import apply_disclosure_control
from publication.extracts import build_extracts
from tests.conftest import DISCLOSURE, REPO
from tests.unit.test_disclosure import load_mart

LOOKUP = REPO / "dbt_project" / "seeds" / "geography_lookups.csv"


@pytest.fixture(scope="module")
def extracts(tmp_path_factory):
    out = tmp_path_factory.mktemp("extracts")
    return {i.name: i for i in build_extracts(apply_disclosure_control(load_mart(), **DISCLOSURE), out, LOOKUP)}


def copy(info, tmp_path: Path, *, data=None, meta=None) -> ScreenInput:
    """A copy of an extract with `data(header, rows)` / `meta(header, rows)` applied to its CSV / meta file."""
    paths = {}
    tmp_path.mkdir(parents=True, exist_ok=True)
    for kind, src, edit in (("csv", info.csv_path, data), ("meta", info.meta_path, meta)):
        target = tmp_path / src.name
        if edit is None:
            shutil.copy(src, target)
        else:
            with open(src, newline="", encoding="utf-8") as fh:
                header, *rows = list(csv.reader(fh))
            header, rows = edit(header, rows)
            with open(target, "w", newline="", encoding="utf-8") as fh:
                csv.writer(fh, lineterminator="\n").writerows([header, *rows])
        paths[kind] = target
    return ScreenInput.read(paths["csv"], paths["meta"], LOOKUP)


def drop(*columns):
    def edit(header, rows):
        keep = [i for i, c in enumerate(header) if c not in columns]
        return [header[i] for i in keep], [[r[i] for i in keep] for r in rows]

    return edit


def test_region_for_la(extracts, tmp_path):
    info = extracts["pupil_belonging_la"]
    assert region_for_la(ScreenInput.read(info.csv_path, info.meta_path, LOOKUP)).status == PASS
    missing = region_for_la(copy(info, tmp_path, data=drop("region_code", "region_name")))
    assert missing.status == ADVISORY and missing.offending[0]["column"] == "region_code"
    assert missing.message.startswith("pupil_belonging_la.csv: Local authority rows should carry region_code")

    def blank(header, rows):
        rows[2][header.index("region_code")] = ""
        return header, rows

    empty = region_for_la(copy(info, tmp_path / "blank", data=blank))
    assert empty.status == ADVISORY and empty.offending == [{"row": 4, "column": "region_code", "la_name": "Hartlepool"}]
    # files without Local authority rows have nothing to say
    school = extracts["pupil_belonging_school"]
    assert region_for_la(ScreenInput.read(school.csv_path, school.meta_path, LOOKUP)).status == PASS


def test_labels_and_names_within_the_screeners_limits(extracts, tmp_path):
    info = extracts["pupil_belonging_mat"]
    assert label_and_name_length(ScreenInput.read(info.csv_path, info.meta_path, LOOKUP)).status == PASS

    def long_label(header, rows):
        rows[-1][header.index("label")] = "x" * (MAX_LABEL + 1)
        return header, rows

    result = label_and_name_length(copy(info, tmp_path, meta=long_label))
    assert result.status == ADVISORY and result.offending == [
        {"col_name": "outsider_disagree_percent_schools", "rule": "label of 81 characters (at most 80)"}]
    assert result.message.startswith("pupil_belonging_mat.meta.csv:")


def test_survey_aggregates_carry_schools_included(extracts, tmp_path):
    for name in ("pupil_belonging_mat", "pupil_belonging_la", "pupil_belonging_regional", "pupil_belonging_national"):
        info = extracts[name]
        assert schools_rule(ScreenInput.read(info.csv_path, info.meta_path, LOOKUP)).status == PASS, name
    info = extracts["pupil_belonging_mat"]
    result = schools_rule(copy(info, tmp_path, data=drop("schools_included"), meta=drop_meta_row("schools_included")))
    assert result.status == ADVISORY and result.offending == [{"column": "schools_included", "rule": "missing"}]
    # a School extract has nothing to count
    school = extracts["pupil_belonging_school"]
    assert schools_rule(ScreenInput.read(school.csv_path, school.meta_path, LOOKUP)).status == PASS


def drop_meta_row(column):
    def edit(header, rows):
        return header, [r for r in rows if r[0] != column]

    return edit


def test_an_advisory_is_a_warning_of_the_gate_not_a_failure(extracts, tmp_path):
    info = extracts["pupil_belonging_la"]
    s = copy(info, tmp_path, data=drop("region_code", "region_name"))
    result = extract_gate(s.csv_path, s.meta_path, LOOKUP, **DISCLOSURE)
    assert result.passed, result.summary()
    (warning,) = result.failures
    assert (warning.rule, warning.severity, warning.table) == ("region_for_la", WARNING, "pupil_belonging_la.csv")


def test_coverage_checks_of_the_extract_gate(extracts, tmp_path):
    """A numerator shown beside its `c` figure, and a trust's figure shown on two schools, fail the gate."""
    info = extracts["pupil_belonging_mat"]
    assert extract_gate(info.csv_path, info.meta_path, LOOKUP, **DISCLOSURE).passed

    def leak(header, rows):
        i = {c: n for n, c in enumerate(header)}
        row = next(r for r in rows if r[i["belonging_score_mean"]] == "c")
        row[i["belonging_score_mean_numerator"]] = "512.5"
        shown = next(r for r in rows if r[i["respondents"]] != "c" and r[i["belong_agree_percent"]] != "c")
        shown[i["belong_agree_percent_schools"]] = "2"
        return header, rows

    s = copy(info, tmp_path, data=leak)
    result = extract_gate(s.csv_path, s.meta_path, LOOKUP, **DISCLOSURE)
    assert not result.passed
    failed = {f.rule: f for f in result.errors}
    assert {"no_part_beside_its_suppressed_figure", "schools_below_threshold_suppressed"} <= set(failed)
    part = failed["no_part_beside_its_suppressed_figure"]
    assert part.table == "pupil_belonging_mat.csv"
    assert part.offending[0]["parts_beside_suppressed_figure"] == "belonging_score_mean_numerator"
    few = failed["schools_below_threshold_suppressed"]
    assert few.offending[0]["shown_on_too_few_schools"] == "belong_agree_percent"
