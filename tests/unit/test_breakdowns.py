"""Breakdown and sub-population files are never read as totals (issue 11, item 6).

- The real exclusions-by-characteristic sample (ees-test-data, bytes kept): its rows split by `characteristic`
  (a Filter in its .meta.csv, grouped by `characteristic_group`), which the registry does not map: only its
  `Total` rows are totals, and they are exactly the National rows of the real geographic-level file.
- A breakdown with no `Total` level for some geography and year refuses the whole file, naming the column (the
  loader reads the by-characteristic files with ingestion/characteristics.py, which refuses them under the same
  rule: tests/unit/test_characteristics.py).
- The real absence of four-year-olds (2019-era sample, bytes kept) and the current school-level layout are not
  the schools' whole absence: they lack the authorised and unauthorised split every whole-school absence file
  has. The current layout's fixture (tests/fixtures/dfe/absence_four_year_olds_school_202425.csv) is the header
  and the five preview rows of the EES data catalogue's "Absence for four year olds - school level" (data set
  51843cad-e7ca-4b6d-a1d2-257560f8eb7a, 2024/25 release), written out as CSV: its bytes (quoting, line
  endings, blank cells) are not the DfE's.
"""

from __future__ import annotations

import csv
import shutil
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest

from expectations.raw import raw_gate
from ingestion import ees
from ingestion.lake import Lake, SourceFile
from ingestion.load import load_dfe
from ingestion.results import UnknownFormat
from tests.conftest import FIXTURES, GATES

CHAR = "ees2019_exclusions_by_characteristic_sample.csv"
GEO = "ees2019_exclusions_by_geographic_level_201617_subset.csv"
FOUR_2019 = "ees2019_absence_for_four_year_olds_sample.csv"
FOUR_2025 = FIXTURES / "dfe" / "absence_four_year_olds_school_202425.csv"
MEASURES = {"headcount": "headcount", "perm_excl": "perm_excl", "fixed_excl": "suspension",
            "one_plus_fixed": "one_plus_susp"}  # fmt: skip


def read(path: Path):
    return ees.read_ees(SourceFile(Path(path).resolve(), Path(path).name, "0" * 64, datetime.now(UTC)))


def meta_of(name: str) -> str:
    return name.removesuffix(".csv") + ".meta.csv"


def real_rows(path: Path) -> list[dict]:
    with open(path, encoding="utf-8-sig", newline="") as fh:
        return list(csv.DictReader(fh))


def national_totals(reference: Path) -> dict[tuple[int, str], dict[str, float]]:
    """The real geographic-level file's National rows: (year, school type) -> counts."""
    return {
        (int(r["time_period"]), r["school_type"]): {canon: float(r[src]) for src, canon in MEASURES.items()}
        for r in real_rows(reference / "dfe" / GEO)
        if r["geographic_level"] == "National"
    }


def loaded_totals(frame: pl.DataFrame) -> dict[tuple[int, str], dict[str, float]]:
    return {
        (r["time_period"], r["phase"]): {canon: r[canon] for canon in MEASURES.values()}
        for r in frame.iter_rows(named=True)
    }


# ------------------------------------------------------------------ exclusions by pupil characteristic
def test_real_characteristic_file_loads_only_its_total_rows(reference):
    """200 real rows, 10 of them `Total` (one per year and school type): those 10 load, as the publication's
    national totals (the same numbers as the real geographic-level file's National rows); the other 190
    are counted as breakdown rows, never loaded as totals."""
    r = read(reference / "dfe" / CHAR)
    assert (r.publication, r.vintage, r.rows_read) == ("exclusions", "ees2019", 200)
    frame = r.tables["dfe_exclusions"]
    assert frame.height == 10 and r.quarantine.height == 0
    assert r.exclusions == {"breakdown_rows": 190}
    assert r.summary["breakdown"] == {
        "columns": ["characteristic"],
        "grouped_by": {"characteristic": "characteristic_group"},
        "declared_in": meta_of(CHAR),
        "rows_total": 10,
        "rows_left_out": 190,
    }
    assert "characteristic" not in r.summary["columns_unused"]
    assert set(frame["geographic_level"]) == {"National"}
    got = loaded_totals(frame)
    assert sorted(got) == [(201415, "State-funded primary"), (201415, "Total")] + [
        (y, t)
        for y in (201516, 201617)
        for t in ("Special", "State-funded primary", "State-funded secondary", "Total")
    ]
    expected = national_totals(reference)
    assert got == {k: expected[k] for k in got}
    assert got[(201617, "Total")] == {"headcount": 8025075, "perm_excl": 7720, "suspension": 381865,
                                      "one_plus_susp": 183475}  # fmt: skip


def test_a_characteristic_group_has_no_total_of_its_own(reference):
    """Why only `Total`/`Total` rows: a group such as Gender has no `Total` characteristic, its total is the
    file's overall Total row (male + female = all pupils); `Ethnicity Major White Total` is a sub-total."""
    rows = [
        r
        for r in real_rows(reference / "dfe" / CHAR)
        if (r["time_period"], r["school_type"]) == ("201617", "Total")
    ]
    gender = [r for r in rows if r["characteristic_group"] == "Gender"]
    (total,) = [r for r in rows if r["characteristic"] == "Total"]
    assert [r["characteristic"] for r in gender] == ["Gender male", "Gender female"]
    assert total["characteristic_group"] == "Total"
    assert sum(int(r["headcount"]) for r in gender) == int(total["headcount"]) == 8025075
    assert "Ethnicity Major White Total" in {r["characteristic"] for r in rows}


def test_without_its_meta_file_the_rows_show_the_split(reference, tmp_path):
    """No .meta.csv beside it: two text columns take several values among rows of one geography, year and
    school type, so both are breakdowns; the same 10 Total rows load."""
    shutil.copy(reference / "dfe" / CHAR, tmp_path / CHAR)
    r = read(tmp_path / CHAR)
    assert r.summary["breakdown"] == {
        "columns": ["characteristic_group", "characteristic"],
        "grouped_by": {},
        "declared_in": None,
        "rows_total": 10,
        "rows_left_out": 190,
    }
    assert loaded_totals(r.tables["dfe_exclusions"]) == loaded_totals(
        read(reference / "dfe" / CHAR).tables["dfe_exclusions"]
    )


def without_total(reference: Path, tmp_path: Path, *, meta: bool) -> Path:
    """The real bytes less the Total row of 2014/15 state-funded primary schools."""
    lines = (reference / "dfe" / CHAR).read_bytes().splitlines(keepends=True)
    drop = [ln for ln in lines if b",201415,National," in ln and b",State-funded primary,Total,Total," in ln]
    assert len(drop) == 1
    out = tmp_path / "landing" / "dfe" / CHAR
    out.parent.mkdir(parents=True)
    out.write_bytes(b"".join(ln for ln in lines if ln not in drop))
    if meta:
        shutil.copy(reference / "dfe" / meta_of(CHAR), out.parent / meta_of(CHAR))
    return out


@pytest.mark.parametrize("meta", [True, False], ids=["with_meta", "without_meta"])
def test_a_breakdown_with_no_total_for_a_year_refuses_the_whole_file(reference, tmp_path, meta):
    path = without_total(reference, tmp_path, meta=meta)
    with pytest.raises(UnknownFormat) as err:
        read(path)
    message = str(err.value)
    assert err.value.rule == "breakdown_without_total"
    assert "\n" not in message and message.startswith(f"{CHAR}: ")
    column = "characteristic" if meta else "characteristic_group"
    assert f"rows split by '{column}'" in message
    assert "no 'Total' for National 201415 E92000001 State-funded primary (rows 197, 198, 199)" in message
    if meta:
        assert f"a Filter in {meta_of(CHAR)}" in message
        assert "values 'Gender male', 'Gender female', 'Ethnicity Major White Total'" in message
    else:
        assert "values 'Gender', 'Ethnicity', 'NC year'" in message
    assert "rule breakdown_without_total" in message


def test_a_refused_breakdown_is_quarantined_whole_with_its_reason(reference, tmp_path):
    path = without_total(reference, tmp_path, meta=True)
    landing = path.parents[1]
    lake = Lake(tmp_path / "lake")
    report = load_dfe(landing, lake)
    (outcome,) = report.files
    assert (outcome.file, outcome.status) == (f"dfe/{CHAR}", "quarantined_file")
    assert "rows split by 'characteristic'" in outcome.message
    assert not path.exists()
    reason = (landing / "quarantine" / "dfe" / f"{CHAR}.reason.txt").read_text(encoding="utf-8")
    assert "rows split by 'characteristic'" in reason and "201415" in reason
    assert lake.read("dfe_exclusions").height == 0
    (q,) = lake.read("quarantine").iter_rows(named=True)
    assert (q["rule"], q["row_number"], q["value"]) == ("breakdown_without_total", None, f"dfe/{CHAR}")


CURRENT = ("time_period,time_identifier,geographic_level,country_code,country_name,education_phase,"
           "characteristic_group,characteristic,headcount,perm_excl,perm_excl_rate,suspension,susp_rate,"
           "one_plus_susp,one_plus_susp_rate\n")  # fmt: skip
META = ("col_name,col_type,label,indicator_grouping,indicator_unit,indicator_dp,filter_hint,filter_grouping_column\n"
        "education_phase,Filter,Education phase,,,,,\n"
        "characteristic,Filter,Characteristic,,,,,characteristic_group\n")  # fmt: skip


def write_current(tmp_path: Path, name: str, rows: list[str], meta: bool = True) -> Path:
    path = tmp_path / name
    path.write_text(CURRENT + "".join(r + "\n" for r in rows), encoding="utf-8")
    if meta:
        (tmp_path / meta_of(name)).write_text(META, encoding="utf-8")
    return path


def test_a_declared_filter_whose_only_level_is_a_sub_population_is_refused(tmp_path):
    """One row per year, so nothing splits; but the meta file declares `characteristic` a filter and its only
    level is `FSM eligible`: the rows are that sub-population's, not totals."""
    rows = [
        "202324,Academic year,National,E92000001,England,Total,FSM,FSM eligible,2000000,4000,0.2,300000,15,100000,5"
    ]
    with pytest.raises(UnknownFormat) as err:
        read(write_current(tmp_path, "fsm_only.csv", rows))
    assert err.value.rule == "breakdown_without_total"
    assert "rows split by 'characteristic' (a Filter in fsm_only.meta.csv" in str(err.value)
    assert "values 'FSM eligible' (1 in all)" in str(err.value)
    # the same rows with the Total level beside them: the Total row loads, the other is counted
    total = [
        "202324,Academic year,National,E92000001,England,Total,Total,Total,8000000,9000,0.11,780000,9.75,300000,3.75"
    ]
    r = read(write_current(tmp_path, "with_total.csv", rows + total))
    assert r.tables["dfe_exclusions"]["headcount"].to_list() == [8000000]
    assert r.exclusions == {"breakdown_rows": 1}
    # and without a meta file one row per year is simply the file's rows (nothing shows a split)
    assert read(write_current(tmp_path, "plain.csv", rows, meta=False)).tables["dfe_exclusions"].height == 1


def test_crossed_breakdowns_without_a_joint_total_are_refused(tmp_path):
    """Each of two columns has a Total level, but no row is Total in both: no row is the total."""
    rows = [
        "202324,Academic year,National,E92000001,England,Total,Total,Girls,4000000,2000,0.05,260000,6.5,100000,2.5",
        "202324,Academic year,National,E92000001,England,Total,Gender,Total,4000000,2000,0.05,260000,6.5,100000,2.5",
    ]
    with pytest.raises(UnknownFormat) as err:
        read(write_current(tmp_path, "crossed.csv", rows, meta=False))
    assert err.value.rule == "breakdown_without_total"
    assert "no row is 'Total' in every one of 'characteristic_group', 'characteristic'" in str(err.value)
    assert "National 202324 E92000001 Total (rows 1, 2)" in str(err.value)


def test_files_that_do_not_split_load_every_row(reference):
    """The real geographic-level file: `school_type` is its declared filter and is mapped (phase); nothing
    else splits a geography and year (academy_type and the dates are one per school)."""
    r = read(reference / "dfe" / GEO)
    assert r.tables["dfe_exclusions"].height == 20000 and r.exclusions == {}
    assert "breakdown" not in r.summary


# ------------------------------------------------------------------ absence of four-year-olds
@pytest.mark.parametrize("name", [FOUR_2019, FOUR_2025.name])
def test_four_year_olds_absence_is_not_the_whole_school_absence(reference, name):
    """Only overall absence is recorded for pupils aged 4 (the DfE's footnote): no sess_authorised,
    sess_unauthorised or persistent absence. Whole-school absence files always have the first two."""
    path = reference / "dfe" / name if name == FOUR_2019 else FOUR_2025
    with pytest.raises(UnknownFormat) as err:
        read(path)
    message = str(err.value)
    vintage = "ees2019" if name == FOUR_2019 else "ees2024"
    assert message.startswith(f"{name}: ") and "\n" not in message
    assert f"nearest: absence/{vintage}, which needs sess_authorised, sess_unauthorised" in message
    assert "overall absence only" in message


def test_whole_school_absence_files_are_still_recognised():
    for name, vintage in (("absence_ees2019.csv", "ees2019"), ("absence_ees2024.csv", "ees2024")):
        r = read(FIXTURES / "dfe" / name)
        assert (r.publication, r.vintage, r.rows_loaded) == ("absence", vintage, 5)


def test_four_year_olds_file_in_landing_is_quarantined_whole(reference, tmp_path):
    landing = tmp_path / "landing"
    (landing / "dfe").mkdir(parents=True)
    shutil.copy(reference / "dfe" / FOUR_2019, landing / "dfe" / "absence_for_four_year_olds.csv")
    shutil.copy(FIXTURES / "dfe" / "absence_ees2019.csv", landing / "dfe" / "absence_whole_school.csv")
    lake = Lake(tmp_path / "lake")
    statuses = {f.file: f.status for f in load_dfe(landing, lake).files}
    assert statuses == {"dfe/absence_for_four_year_olds.csv": "quarantined_file",
                        "dfe/absence_whole_school.csv": "loaded"}  # fmt: skip
    assert set(lake.read("dfe_absence")["_source_file"]) == {"dfe/absence_whole_school.csv"}
    reason = (landing / "quarantine" / "dfe" / "absence_for_four_year_olds.csv.reason.txt").read_text("utf-8")
    assert "sess_authorised, sess_unauthorised" in reason


# ------------------------------------------------------------------ two files of one publication, one school
def test_a_sub_population_file_in_the_whole_school_layout_is_refused_with_the_whole_school_file(tmp_path):
    """Were a sub-population file to carry every whole-school column, the reader could not tell it apart: both
    files load, and the raw gate refuses them together, naming both (its rows would replace the schools'
    own). A later download of the whole-school file itself is a re-issue and passes."""
    landing = tmp_path / "landing"
    (landing / "dfe" / "2024").mkdir(parents=True)
    whole = (FIXTURES / "dfe" / "absence_ees2024.csv").read_text(encoding="utf-8").splitlines(keepends=True)
    shutil.copy(FIXTURES / "dfe" / "absence_ees2024.csv", landing / "dfe" / "2024" / "absence_school.csv")
    lake = Lake(tmp_path / "lake")
    assert [f.status for f in load_dfe(landing, lake).files] == ["loaded"]
    again = [ln.replace("Primary School,State-funded primary,420,142300", "Primary School,State-funded primary,421,142300")
             for ln in whole]  # fmt: skip
    (landing / "dfe" / "2025").mkdir()
    (landing / "dfe" / "2025" / "absence_school.csv").write_text("".join(again), encoding="utf-8")
    assert [f.status for f in load_dfe(landing, lake).files if f.status != "skipped"] == ["loaded"]
    assert raw_gate(
        "dfe_absence", lake.read("dfe_absence"), row_count_tolerance=GATES["row_count_tolerance"]
    ).passed

    # the pupils aged 4 of two of its three schools and of one it does not hold, in the very same layout
    # (persistent absence `z`): as many schools, so the volume check has nothing to say
    place = "202324,Academic year,School,E92000001,England,E12000003,Yorkshire and The Humber,373,E08000019,Sheffield"
    aged_4 = [whole[0],
              f"{place},3732001,107085,Abbey Lane Primary School,State-funded primary,30,10300,640,500,140,6.21,z,z,z,z\n",
              f"{place},3737001,107188,Talbot Specialist School,Special,6,2050,180,160,20,8.78,z,z,z,z\n",
              f"{place},3732002,107086,Acres Hill Primary School,State-funded primary,25,8600,500,420,80,5.81,z,z,z,z\n"]  # fmt: skip
    (landing / "dfe" / "absence_pupils_aged_4.csv").write_text("".join(aged_4), encoding="utf-8")
    (loaded,) = [f for f in load_dfe(landing, lake).files if f.status != "skipped"]
    assert (loaded.status, loaded.rows_loaded, loaded.rows_quarantined) == ("loaded", 3, 0)
    gate = raw_gate("dfe_absence", lake.read("dfe_absence"), row_count_tolerance=GATES["row_count_tolerance"])
    assert not gate.passed and [f.rule for f in gate.failures] == ["no_overlapping_files"]
    offending = gate.failures[0].offending
    assert [(o["file"], o["other_file"], o["school_years_shared"]) for o in offending] == [
        ("dfe/absence_pupils_aged_4.csv", "dfe/2024/absence_school.csv", 2),
        ("dfe/absence_pupils_aged_4.csv", "dfe/2025/absence_school.csv", 2),
    ]
