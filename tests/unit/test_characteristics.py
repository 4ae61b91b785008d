"""Exclusions by pupil characteristic: the three vintages' readers, on the real reference files as they are, and
the label map (config/characteristics.yaml): one fixture per rule."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest

from ingestion import characteristics as ch
from ingestion.lake import Lake, SourceFile
from ingestion.lake_schema import STATUSES, TABLES
from ingestion.load import load_dfe
from ingestion.results import FileRefused

SFR = "dfe/sfr2017_exclusions_national_characteristics_sample.csv"
EES2019 = "dfe/ees2019_exclusions_by_characteristic_sample.csv"
# the current layout's column order (reference/dfe/HEADERS.md: new_la_code before old_la_code)
CURRENT = ("time_identifier,time_period,geographic_level,country_code,country_name,region_code,region_name,"
           "new_la_code,old_la_code,la_name,education_phase,characteristic_group,characteristic,headcount,"
           "perm_excl,perm_excl_rate,suspension,susp_rate,one_plus_susp,one_plus_susp_rate")


def read(path: Path):
    return ch.read_characteristics(SourceFile(Path(path).resolve(), Path(path).name, "0" * 64, datetime.now(UTC)))


def frame_of(result) -> pl.DataFrame:
    frame = result.tables[ch.TABLE]
    schema = {c: t for c, t in TABLES[ch.TABLE].items() if not c.startswith("_")}
    assert dict(frame.schema) == schema
    for c in [c for c in frame.columns if c.endswith("_status")]:
        assert set(frame[c].unique().to_list()) <= set(STATUSES)
        m = c.removesuffix("_status")
        # a number only where one was published: a symbol is never 0
        assert frame.filter(pl.col(m).is_not_null() != (pl.col(c) == "value")).height == 0, m
    return frame


def one(frame: pl.DataFrame, **where) -> dict:
    hit = frame.filter(pl.all_horizontal([pl.col(k) == v for k, v in where.items()]))
    assert hit.height == 1, (where, hit.height)
    return hit.row(0, named=True)


def write(tmp_path: Path, name: str, header: str, rows: list[str]) -> Path:
    path = tmp_path / name
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


def current_rows() -> list[str]:
    nat = "Academic year,202324,National,E92000001,England,,,,,"
    reg = "Academic year,202324,Regional,E92000001,England,E12000004,East Midlands,,,"
    la = "Academic year,202324,Local authority,E92000001,England,E12000004,East Midlands,E06000015,831,Derby"
    return [
        f"{nat},Total,Total,Total,8000000,9000,0.11,780000,9.75,190000,2.38",
        f"{nat},Total,SEN provision,EHC plan,400000,1200,0.3,120000,30,30000,7.5",
        f"{nat},Total,SEN provision,SEN support,1200000,4000,0.33,300000,25,70000,5.83",
        f"{nat},Total,SEN provision,No SEN,6400000,3800,0.06,360000,5.63,90000,1.41",
        f"{nat},Total,Ethnicity major,White,5800000,7000,0.12,600000,10.34,140000,2.41",
        f"{nat},Total,Ethnicity minor,Gypsy Roma,40000,200,0.5,30000,75,6000,15",
        f"{reg},Total,Total,Total,600000,700,0.12,60000,10,14000,2.33",
        f"{reg},Total,FSM eligible,FSM eligible,150000,c,c,30000,20,7000,4.67",
        f"{la},Total,Total,Total,40000,40,0.1,4000,10,900,2.25",
        f"{la},Total,Sex,Female,19500,z,z,1000,5.13,300,1.54",
        f"{la},Total,Sex,Male,20500,x,x,3000,14.63,600,2.93",
    ]


# ------------------------------------------------------------------------------------ the real SFR file
def test_sfr_real_file_rows_per_level_and_breakdown(reference):
    result = read(reference / SFR)
    frame = frame_of(result)
    assert result.vintage == "sfr2017" and result.rows_read == 200
    assert result.summary["rows_by_level"] == {"National": 111}
    assert result.summary["rows_by_breakdown"] == {"Total": 14, "fsm_status": 28, "sen_status": 41, "sex": 28}
    # NC year, FSM in the last six years and the unclassified rows are known and not read: counted, not dropped
    assert result.exclusions == {"characteristic_rows_not_read": 89}
    assert result.rows_read == 111 + 89
    assert sorted(frame["time_period"].unique().to_list()) == [201213, 201314, 201415, 201516]
    ehc = one(frame, time_period=201516, phase="Total", breakdown="sen_status", breakdown_value="Education, health and care plan")
    assert ehc["characteristic"] == "SEN_provision_SEN_with_statement_EHC"
    assert (ehc["headcount"], ehc["suspension"], ehc["one_plus_susp"]) == (221225, 33265, 13940)


def test_sfr_symbols_kept_never_zero(reference):
    frame = frame_of(read(reference / SFR))
    # 2015/16 special schools, SEN support: perm_excl `x` (suppressed), fixed_excl 865
    cell = one(frame, time_period=201516, phase="Special", breakdown_value="SEN support")
    assert cell["perm_excl"] is None and cell["perm_excl_status"] == "suppressed"
    assert cell["perm_excl_rate_status"] == "suppressed" and cell["suspension"] == 865
    # perm_excl `x` on 4 rows of the file: 2 of them unclassified rows (not read)
    assert frame.filter(pl.col("perm_excl_status") == "suppressed").height == 2


# ------------------------------------------------------------------------------------ the real 2019 EES file
def test_ees2019_real_file_rows_per_level_and_breakdown(reference):
    result = read(reference / EES2019)
    frame = frame_of(result)
    assert result.vintage == "ees2019" and result.rows_read == 200
    assert result.summary["rows_by_level"] == {"National": 112}
    assert result.summary["rows_by_breakdown"] == {
        "Total": 10, "ethnicity_major": 37, "fsm_status": 18, "sen_status": 27, "sex": 20}  # fmt: skip
    assert result.exclusions == {"characteristic_rows_not_read": 88}
    # the minor ethnic groups in the same `Ethnicity` group are not read as major ones
    assert set(frame.filter(pl.col("breakdown") == "ethnicity_major")["breakdown_value"]) == {
        "White", "Mixed", "Asian", "Black"}  # fmt: skip
    ehc = one(frame, time_period=201516, phase="Total", breakdown_value="Education, health and care plan")
    assert ehc["characteristic"] == "SEN provision SEN with statement EHC"
    assert (ehc["headcount"], ehc["suspension"], ehc["one_plus_susp"]) == (221225, 33265, 13940)


def test_the_vintages_agree_where_they_overlap(reference):
    """2015/16 is in both the SFR and the 2019 file: different labels, the same categories and the same counts."""
    cols = ["phase", "breakdown", "breakdown_value", "headcount", "perm_excl", "suspension", "one_plus_susp"]
    sfr = frame_of(read(reference / SFR)).filter(pl.col("time_period") == 201516).select(cols).sort(cols[:3])
    ees = frame_of(read(reference / EES2019)).filter(
        (pl.col("time_period") == 201516) & (pl.col("breakdown") != "ethnicity_major")
    ).select(cols).sort(cols[:3])
    assert sfr.height == 4 * 8  # 4 phases x (Total, 2 FSM, 3 SEN, 2 sex)
    assert sfr.equals(ees)


def test_ees2019_symbols_kept(reference):
    frame = frame_of(read(reference / EES2019))
    statuses = frame.select(pl.concat_list([c for c in frame.columns if c.endswith("_status")]).explode())
    counts = dict(statuses.to_series().value_counts().iter_rows())
    assert counts.get("value") and set(counts) <= {"value", "suppressed", "not_applicable"}


# ------------------------------------------------------------------------------------ the current layout
def test_current_layout_levels_and_gss_symbols(tmp_path):
    result = read(write(tmp_path, "exc_characteristics.csv", CURRENT, current_rows()))
    frame = frame_of(result)
    assert result.vintage == "ees2024"
    assert result.summary["rows_by_level"] == {"Local authority": 3, "National": 5, "Regional": 2}
    assert result.exclusions == {"characteristic_rows_not_read": 1}  # the minor ethnic group
    la = one(frame, geographic_level="Local authority", breakdown_value="Female")
    assert (la["new_la_code"], la["old_la_code"], la["la_name"], la["region_code"]) == (
        "E06000015", "831", "Derby", "E12000004")  # fmt: skip
    assert la["perm_excl"] is None and la["perm_excl_status"] == "not_applicable"
    assert one(frame, breakdown_value="Male")["perm_excl_status"] == "not_available"
    fsm = one(frame, geographic_level="Regional", breakdown_value="FSM eligible")
    assert fsm["perm_excl"] is None and fsm["perm_excl_status"] == "suppressed" and fsm["suspension"] == 30000
    assert fsm["phase"] == "Total" and fsm["breakdown"] == "fsm_status"


def test_detailed_file_breakdown_topic_and_a_filter_column_of_its_own(tmp_path):
    header = ("time_period,time_identifier,geographic_level,country_code,country_name,education_phase,"
              "breakdown_topic,breakdown,fsm,headcount,perm_excl,perm_excl_rate,suspension,susp_rate,one_plus_susp,"
              "one_plus_susp_rate")
    nat = "202324,Academic year,National,E92000001,England,Total"
    rows = [
        f"{nat},Total,Total,Total,8000000,9000,0.11,780000,9.75,190000,2.38",
        f"{nat},Total,Total,FSM - Eligible,2000000,5000,0.25,400000,20,90000,4.5",
        f"{nat},Total,Total,FSM - Not eligible,6000000,4000,0.07,380000,6.33,100000,1.67",
        f"{nat},Sex,Male,FSM - Eligible,1000000,4000,0.4,300000,30,60000,6",  # a cross-tabulation: not read
        f"{nat},SEN provision,EHC plan,Total,400000,1200,0.3,120000,30,30000,7.5",
    ]
    result = read(write(tmp_path, "exc_detailed.csv", header, rows))
    frame = frame_of(result)
    assert result.vintage == "ees2024_detailed"
    assert result.exclusions == {"cross_tab_rows": 1}
    eligible = one(frame, breakdown="fsm_status", breakdown_value="FSM eligible")
    assert (eligible["characteristic_group"], eligible["characteristic"]) == ("fsm", "FSM - Eligible")
    assert one(frame, breakdown_value="Not FSM eligible")["headcount"] == 6000000
    assert one(frame, breakdown="sen_status")["breakdown_value"] == "Education, health and care plan"
    assert one(frame, breakdown="Total")["headcount"] == 8000000


# ------------------------------------------------------------------------------------ refusals and quarantine
def test_an_unknown_label_refuses_the_file_naming_file_row_and_label(tmp_path):
    rows = current_rows()
    rows[3] = rows[3].replace("No SEN", "No identified special need")
    path = write(tmp_path, "exc_unknown.csv", CURRENT, rows)
    with pytest.raises(FileRefused) as err:
        read(path)
    message = str(err.value)
    assert message.startswith("exc_unknown.csv row 4: characteristic 'No identified special need' of group "
                              "'SEN provision'")
    assert "rule unknown_characteristic" in message and "\n" not in message
    assert err.value.rule == "unknown_characteristic"


def test_an_unknown_group_refuses_the_file(tmp_path):
    rows = current_rows()
    rows[5] = rows[5].replace("Ethnicity minor", "Religion")
    with pytest.raises(FileRefused, match=r"row 6: characteristic group 'Religion' \(label 'Gypsy Roma'\)"):
        read(write(tmp_path, "exc_group.csv", CURRENT, rows))


def test_a_surprise_column_refuses_the_file(tmp_path):
    path = write(tmp_path, "exc_new.csv", CURRENT + ",susp_days_lost", [r + ",5" for r in current_rows()])
    with pytest.raises(FileRefused, match=r"exc_new.csv: .*column\(s\) susp_days_lost .*rule unknown_column"):
        read(path)


def test_bad_cells_are_quarantined_by_row(tmp_path):
    rows = current_rows()
    rows[1] = rows[1].replace(",1200,0.3,", ",n/a,0.3,")
    rows[2] = rows[2].replace(",4000,0.33,", ",-4000,0.33,")
    rows[6], rows[7] = rows[6].replace("Regional", "Ward"), rows[7].replace("Regional", "Ward")
    result = read(write(tmp_path, "exc_bad.csv", CURRENT, rows))
    q = result.quarantine.sort("row_number")
    assert q.select("row_number", "column", "rule").rows() == [
        (2, "perm_excl", "unknown_symbol"), (3, "perm_excl", "negative_value"),
        (7, "geographic_level", "geographic_level"), (8, "geographic_level", "geographic_level")]  # fmt: skip
    assert q["reason"][0].startswith("exc_bad.csv row 2: perm_excl is neither a number nor a symbol")
    assert result.summary["rows_by_level"] == {"Local authority": 3, "National": 3}


def test_a_place_without_its_all_pupils_row_refuses_the_file(tmp_path):
    """The risk ratios against all other pupils need each place's Total row: a file without it is refused whole."""
    rows = [r for r in current_rows() if "Regional" not in r or ",Total,Total,Total," not in r]
    with pytest.raises(FileRefused) as err:
        read(write(tmp_path, "exc_no_total.csv", CURRENT, rows))
    assert str(err.value) == (
        "exc_no_total.csv: rows split by 'characteristic' but no 'Total' row for 202324 Regional E12000004 Total "
        "(rows 7): the all-pupils row is what each group is compared with, so the whole file is refused "
        "(rule breakdown_without_total)")
    assert err.value.rule == "breakdown_without_total"


def test_label_map_rejects_a_label_in_two_categories(tmp_path):
    doc = ch.load_labels().path.read_text(encoding="utf-8").replace("No SEN:\n", "No SEN:\n        - SEN support\n")
    bad = tmp_path / "labels.yaml"
    bad.write_text(doc, encoding="utf-8")
    with pytest.raises(ValueError, match="sen_status label 'SEN support' maps to two categories"):
        ch.load_labels(bad)


# ------------------------------------------------------------------------------------ the loader
def test_load_puts_the_file_in_its_own_table_not_in_exclusions(tmp_path, reference):
    landing, lake = tmp_path / "landing", Lake(tmp_path / "lake")
    (landing / "dfe").mkdir(parents=True)
    (landing / "dfe" / "sample.csv").write_bytes((reference / EES2019).read_bytes())
    (landing / "dfe" / "sfr.csv").write_bytes((reference / SFR).read_bytes())
    report = load_dfe(landing, lake)
    assert [(f.file, f.status, f.publication) for f in sorted(report.files, key=lambda f: f.file)] == [
        ("dfe/sample.csv", "loaded", "exclusions_characteristics"),
        ("dfe/sfr.csv", "loaded", "exclusions_characteristics")]  # fmt: skip
    assert lake.read(ch.TABLE).height == 112 + 111
    assert lake.read("dfe_exclusions").height == 0
