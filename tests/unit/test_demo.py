"""The demo generator: every source in its real layout, aggregates that reconcile, the same bytes every run."""

from __future__ import annotations

import ast
import csv
import io
import re
from pathlib import Path

import polars as pl
import pytest

from demo import generate
from demo.surveys import NOT_IN_GIAS_URN
from tests.conftest import REPO

PUB_FILES = {
    "exclusions": ("exc_school", "exclusions_by_geographic_level"),
    "absence": ("1a_absence_3term_nat_reg_la_sch", "absence_3term_nat_reg_la_sch"),
    "census": ("spc_school_level_underlying_data",) * 2,
    "sen": ("sen_school_level_underlying_data",) * 2,
}
YEARS = {"2018-19": True, "2022-23": False, "2023-24": False, "2024-25": False}  # label -> 2019-era vintage
GIAS_NEWEST = "edubasealldata20250901.csv"  # "today's" GIAS, taken after the newest demo year


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> tuple[Path, dict]:
    landing = tmp_path_factory.mktemp("demo") / "landing"
    return landing, generate(landing, scale="small", seed=2026)


def dfe_path(landing: Path, pub: str, label: str) -> Path:
    current, legacy = PUB_FILES[pub]
    return landing / "dfe" / pub / label / f"{legacy if YEARS[label] else current}.csv"


def read_strings(path: Path, encoding: str = "utf-8") -> pl.DataFrame:
    text = path.read_bytes().decode(encoding).lstrip("\ufeff")
    frame = pl.read_csv(io.StringIO(text), infer_schema=False)
    return frame.with_columns(pl.when(pl.all() != "").then(pl.all()).name.keep())  # quoted "" -> null


def header_of(path: Path, encoding: str = "utf-8") -> list[str]:
    text = path.read_bytes().decode(encoding).lstrip("\ufeff")
    return next(csv.reader(io.StringIO(text)))


def reference_headers(reference: Path) -> dict[str, list[str]]:
    """The header block under each `## ` heading of HEADERS.md, found by the heading's words (not by order)."""
    md = (reference / "dfe" / "HEADERS.md").read_text(encoding="utf-8")
    blocks = {
        title: next(csv.reader([block.lstrip("\ufeff")]))
        for title, block in re.findall(r"^## (.*?)$.*?```\n(.*?)\n```", md, re.S | re.M)
    }

    def find(start: str) -> list[str]:
        (header,) = [h for t, h in blocks.items() if t.startswith(start)]
        return header

    return {
        "spc": find("SPC school-level"),
        "sen": find("SEN school-level"),
        "gias2024": find("GIAS edubasealldata"),
        "long": find("School census and SEN, newest vintages"),
    }


# ---------------------------------------------------------------------------------------------- files


def test_every_kind_of_file_is_written(demo):
    landing, summary = demo
    assert summary["schools"] == 300 and summary["local_authorities"] == 10
    assert summary["files"] == len(summary["paths"]) and summary["responses"] > 10_000
    for stamp in ("20180910", "20220905", "20230904", "20250901"):
        assert (landing / "gias" / f"edubasealldata{stamp}.csv").is_file()
        assert (landing / "gias" / f"links_edubasealldata{stamp}.csv").is_file()
    for pub in PUB_FILES:
        for label in YEARS:
            path = dfe_path(landing, pub, label)
            assert path.is_file(), path
            assert path.with_name(path.stem + ".meta.csv").is_file()
    surveys = landing / "surveys"
    for tool, ext in (
        ("qualtrics", "csv"),
        ("surveymonkey", "csv"),
        ("msforms", "xlsx"),
        ("googleforms", "csv"),
        ("redcap", "csv"),
    ):
        for instrument in ("pupil_belonging", "staff_belonging"):
            assert list((surveys / tool).rglob(f"*{instrument}*.{ext}")), (tool, instrument)
    assert list((surveys / "qualtrics_legacy").rglob("*pupil_belonging*.csv"))


def test_bad_scale_is_refused(tmp_path):
    with pytest.raises(ValueError, match="scale"):
        generate(tmp_path, scale="huge")


def test_same_seed_same_bytes_other_seed_other_bytes(demo, tmp_path):
    landing, summary = demo
    again = generate(tmp_path / "again", scale="small", seed=2026)
    assert again["paths"] == summary["paths"]
    differing = [
        p for p in summary["paths"] if (landing / p).read_bytes() != (tmp_path / "again" / p).read_bytes()
    ]
    assert differing == []
    other = generate(tmp_path / "other", scale="small", seed=7)
    gias = f"gias/{GIAS_NEWEST}"
    assert (tmp_path / "other" / gias).read_bytes() != (landing / gias).read_bytes()
    assert other["responses"] != summary["responses"]


# --------------------------------------------------------------------------------------------- headers


def test_dfe_headers_are_the_real_ones(demo, reference):
    landing, _ = demo
    real = reference_headers(reference)
    for label in ("2018-19", "2022-23"):
        spc = dfe_path(landing, "census", label)
        assert header_of(spc, "cp1252" if YEARS[label] else "utf-8") == real["spc"]
        assert len(real["spc"]) == 256
    for label in ("2018-19", "2022-23", "2023-24"):
        sen = dfe_path(landing, "sen", label)
        assert sen.read_bytes().startswith(b"\xef\xbb\xbf")  # the real SEN file has a BOM
        assert header_of(sen) == real["sen"] and len(real["sen"]) == 75
    # 2023/24: the 2022/23 header with the renames HEADERS.md names (URN -> urn, legal-sex year-group wording)
    renamed = header_of(dfe_path(landing, "census", "2023-24"))
    assert len(renamed) == 256 and renamed[10] == "urn" and "URN" not in renamed
    assert renamed[real["spc"].index("Full time boys Year group 12")] == "full-time male Year group 12"
    assert [c for c, r in zip(renamed, real["spc"], strict=True) if c != r] == ["urn"] + [
        c for c in renamed if re.match(r"^(part|full)-time (fe)?male ", c)
    ]
    # the newest year: the long census in the catalogue's column list, the long SEN file
    assert header_of(dfe_path(landing, "census", "2024-25")) == real["long"] and len(real["long"]) == 41
    sen = dfe_path(landing, "sen", "2024-25")
    assert sen.read_bytes().startswith(b"\xef\xbb\xbf")
    long_sen = header_of(sen)
    assert long_sen[10:15] == ["school_urn", "estab", "school_name", "school_laestab", "open_date"]
    assert long_sen[-3:] == ["sen_provision", "sen_primary_need", "pupil_count"]
    ref = reference / "dfe" / "ees2019_exclusions_by_geographic_level_201617_subset.csv"
    legacy_exc = dfe_path(landing, "exclusions", "2018-19")
    assert legacy_exc.read_bytes().split(b"\r\n")[0] == ref.read_bytes().split(b"\r\n")[0]
    ref_meta = (
        reference / "dfe" / "ees2019_exclusions_by_geographic_level_201617_subset.meta.csv"
    ).read_bytes()
    assert legacy_exc.with_name(legacy_exc.stem + ".meta.csv").read_bytes() == ref_meta
    current = header_of(dfe_path(landing, "exclusions", "2023-24"))
    assert current[10:13] == ["school_urn", "school_laestab", "school_name"]
    assert current[-6:] == [
        "perm_excl",
        "perm_excl_rate",
        "suspension",
        "susp_rate",
        "one_plus_susp",
        "one_plus_susp_rate",
    ]
    absence = header_of(dfe_path(landing, "absence", "2023-24"))
    assert {"school_urn", "enrolments_pa_10_exact", "enrolments_pa_50_exact", "sess_overall_percent"} <= set(
        absence
    )
    old_absence = header_of(dfe_path(landing, "absence", "2018-19"))
    assert "urn" in old_absence and not any("pa_50" in c for c in old_absence)


def test_meta_files_follow_their_vintage(demo):
    landing, _ = demo
    current = read_strings(dfe_path(landing, "exclusions", "2023-24").with_name("exc_school.meta.csv"))
    assert current.columns == [
        "col_name", "col_type", "label", "indicator_grouping", "indicator_unit", "indicator_dp", "filter_hint", "filter_grouping_column",
    ]  # fmt: skip
    assert current.filter(pl.col("col_name") == "susp_rate")["indicator_dp"].to_list() == ["2"]
    assert current["label"].n_unique() == current.height
    old = read_strings(
        dfe_path(landing, "absence", "2018-19").with_name("absence_3term_nat_reg_la_sch.meta.csv")
    )
    assert "indicator_dp" not in old.columns


def test_gias_layouts_and_bytes(demo, reference):
    landing, _ = demo
    real_2018 = (reference / "dfe" / "gias_edubasealldata_sample_2018.csv").read_bytes().split(b"\n")[0]
    raw_2018 = (landing / "gias" / "edubasealldata20180910.csv").read_bytes()
    assert raw_2018.split(b"\n")[0] == real_2018.rstrip(b"\r")
    raw_2024 = (landing / "gias" / GIAS_NEWEST).read_bytes()
    assert header_of(landing / "gias" / GIAS_NEWEST, "cp1252") == reference_headers(reference)["gias2024"]
    with pytest.raises(UnicodeDecodeError):  # ’ is byte 0x92: Windows-1252, not UTF-8
        raw_2024.decode("utf-8")
    assert "’" in raw_2024.decode("cp1252") and "–" in raw_2024.decode("cp1252")
    first = raw_2024.split(b"\n")[1].decode("cp1252")
    assert re.match(r'^\d{6},"\d{3}","', first)  # URN unquoted, LA code quoted, like the real file
    est = read_strings(landing / "gias" / GIAS_NEWEST, "cp1252")
    assert est.width == 140
    assert est["OpenDate"].drop_nulls().str.contains(r"^\d{2}-\d{2}-\d{4}$").all()
    academies = est.filter(pl.col("EstablishmentTypeGroup (name)") == "Academies")
    assert academies["Trusts (code)"].str.contains(r"^\d{4}$").all()
    assert academies["Trusts (name)"].str.contains("Trust").all()
    # head teachers, phones and websites are there, so the reader's dropping of them is exercised
    for col in ("HeadFirstName", "HeadLastName", "TelephoneNum", "SchoolWebsite"):
        assert est[col].drop_nulls().str.len_chars().min() > 0, col
    assert set(est["GOR (name)"]) >= {"Yorkshire and the Humber", "London", "North East"}


def test_conversions_are_linked_and_trusts_change(demo):
    landing, _ = demo
    est = read_strings(landing / "gias" / GIAS_NEWEST, "cp1252")
    links = read_strings(landing / "gias" / f"links_{GIAS_NEWEST}", "cp1252")
    assert links.columns == ["URN", "LinkURN", "LinkName", "LinkType", "LinkEstablishedDate"]
    closed = set(est.filter(pl.col("EstablishmentStatus (name)") == "Closed")["URN"])
    successors = links.filter(pl.col("LinkType") == "Successor")
    assert closed and set(successors["URN"]) == closed
    # every successor is an open academy, and the pair is written both ways
    open_academies = est.filter(
        (pl.col("EstablishmentStatus (name)") == "Open") & pl.col("Trusts (code)").is_not_null()
    )
    assert set(successors["LinkURN"]) <= set(open_academies["URN"])
    pairs = set(zip(successors["URN"], successors["LinkURN"], strict=True))
    back = links.filter(pl.col("LinkType") == "Predecessor")
    assert {(b, a) for a, b in zip(back["URN"], back["LinkURN"], strict=True)} == pairs
    # converted in the demo years (2023 and 2024), not only before
    assert (successors["LinkEstablishedDate"] == "01-09-2024").any()
    assert (successors["LinkEstablishedDate"] == "01-09-2023").any()
    before = read_strings(landing / "gias" / "edubasealldata20220905.csv", "cp1252").select(
        "URN", pl.col("Trusts (code)").alias("t0")
    )
    moved = before.join(est.select("URN", pl.col("Trusts (code)").alias("t1")), on="URN").filter(
        pl.col("t0").is_not_null() & pl.col("t1").is_not_null() & (pl.col("t0") != pl.col("t1"))
    )
    assert moved.height >= 1


# ------------------------------------------------------------------------------------------ reconciliation


def reconcile(
    frame: pl.DataFrame, measure: str, phase_col: str | None, symbols: tuple[str, ...]
) -> list[str]:
    """Compare each aggregate row with the school rows under it; return the mismatches as messages.

    A suppressed school cell is 1 or 2, so an aggregate must lie between the sum of the shown school cells
    plus one per suppressed cell and plus two per suppressed cell.
    """
    level = pl.col("geographic_level").str.to_lowercase()
    schools = frame.filter(level == "school")
    problems = []
    for row in frame.filter(level != "school").iter_rows(named=True):
        lvl = row["geographic_level"].lower()
        sel = schools
        if lvl == "regional":
            sel = sel.filter(pl.col("region_code") == row["region_code"])
            if row["region_code"] == "E13000001":  # Inner London (beside London in current files)
                sel = schools.filter(pl.col("new_la_code").is_in(["E09000007"]))
        elif lvl == "local authority":
            sel = sel.filter(pl.col("new_la_code") == row["new_la_code"])
        if phase_col and row[phase_col] != "Total":
            sel = sel.filter(pl.col(phase_col) == row[phase_col])
        cells = sel[measure]
        suppressed = int(cells.is_in(symbols).sum())
        shown = int(cells.filter(~cells.is_in(symbols)).cast(pl.Int64).sum())
        published = int(row[measure])
        if not (shown + suppressed <= published <= shown + 2 * suppressed):
            problems.append(
                f"{lvl} {row['region_code']} {row['new_la_code']} {measure}: {published} vs {shown} (+{suppressed} c)"
            )
    return problems


CASES = [
    (
        "exclusions",
        "2023-24",
        ["headcount", "perm_excl", "suspension", "one_plus_susp"],
        "education_phase",
        ("c",),
    ),
    (
        "exclusions",
        "2018-19",
        ["headcount", "perm_excl", "fixed_excl", "one_plus_fixed"],
        "school_type",
        ("x",),
    ),
    (
        "absence",
        "2024-25",
        ["enrolments", "sess_possible", "sess_overall", "enrolments_pa_10_exact", "enrolments_pa_50_exact"],
        "education_phase",
        ("c",),
    ),
    ("absence", "2018-19", ["enrolments", "sess_overall", "enrolments_pa_10_exact"], "school_type", ("x",)),
    (
        "census",
        "2022-23",
        [
            "headcount of pupils",
            "number of pupils known to be eligible for free school meals (Per",
            "Full time girls Year group 7",
        ],
        None,
        (),
    ),
    ("sen", "2023-24", ["Total pupils", "SEN support", "EHC plan"], None, ()),
]


@pytest.mark.parametrize(("pub", "label", "measures", "phase_col", "symbols"), CASES)
def test_aggregate_rows_equal_the_sums_of_school_rows(demo, pub, label, measures, phase_col, symbols):
    landing, _ = demo
    frame = read_strings(
        dfe_path(landing, pub, label), "cp1252" if (pub == "census" and YEARS[label]) else "utf-8"
    )
    levels = set(frame["geographic_level"].str.to_lowercase())
    assert levels == {"national", "regional", "local authority", "school"}
    for measure in measures:
        assert reconcile(frame, measure, phase_col, symbols) == []
    if symbols and not (
        pub == "absence" and YEARS[label]
    ):  # (a school with 1-2 persistent absentees is rare)
        # small school cells are suppressed with the vintage's symbol
        assert any(frame[m].is_in(symbols).any() for m in measures)


def test_reconcile_check_catches_a_wrong_aggregate(demo):
    landing, _ = demo
    frame = read_strings(dfe_path(landing, "exclusions", "2023-24"))
    bad = frame.with_columns(
        pl.when(pl.col("geographic_level") == "Local authority")
        .then((pl.col("headcount").cast(pl.Int64) + 50).cast(pl.String))
        .otherwise(pl.col("headcount"))
        .alias("headcount")
    )
    assert reconcile(frame, "headcount", "education_phase", ("c",)) == []
    problems = reconcile(bad, "headcount", "education_phase", ("c",))
    assert problems and all(p.startswith("local authority") for p in problems)


def test_rates_are_published_rounded_and_plausible(demo):
    landing, _ = demo
    exc = read_strings(dfe_path(landing, "exclusions", "2023-24"))
    shown = exc.filter(pl.col("susp_rate") != "c")
    assert shown["susp_rate"].str.contains(r"^\d+(\.\d{1,2})?$").all()
    nat = exc.filter(pl.col("geographic_level") == "National").select(
        "education_phase", pl.col("susp_rate").cast(pl.Float64)
    )
    rate = dict(nat.iter_rows())
    assert rate["State-funded secondary"] > 4 * rate["State-funded primary"]
    check = exc.filter(pl.col("geographic_level") == "National", pl.col("education_phase") == "Total").row(
        0, named=True
    )
    assert float(check["susp_rate"]) == round(int(check["suspension"]) / int(check["headcount"]) * 100, 2)
    absence = read_strings(dfe_path(landing, "absence", "2023-24"))
    pa = absence.filter(pl.col("geographic_level") == "National").select(
        "education_phase", pl.col("enrolments_pa_10_exact_percent").cast(pl.Float64)
    )
    pa = dict(pa.iter_rows())
    assert (
        15 <= pa["State-funded secondary"] <= 30 and pa["State-funded primary"] < pa["State-funded secondary"]
    )
    # suspensions rise with free school meals among secondary schools
    census = read_strings(dfe_path(landing, "census", "2023-24")).filter(
        pl.col("geographic_level") == "School"
    )
    fsm = census.select(
        pl.col("urn").alias("school_urn"),
        pl.col("% of pupils known to be eligible for free school meals (Performa")
        .cast(pl.Float64)
        .alias("fsm"),
    )
    sec = exc.filter(
        pl.col("education_phase") == "State-funded secondary",
        pl.col("geographic_level") == "School",
        pl.col("susp_rate") != "c",
    )
    joined = sec.join(fsm, on="school_urn").select(
        pl.corr(pl.col("fsm"), pl.col("susp_rate").cast(pl.Float64))
    )
    assert joined.item() > 0.2


# --------------------------------------------------------------------------------------------- surveys


def qualtrics_files(landing: Path) -> list[Path]:
    return sorted((landing / "surveys" / "qualtrics").rglob("*.csv"))


def read_qualtrics(path: Path) -> tuple[list[list[str]], pl.DataFrame]:
    rows = list(csv.reader(io.StringIO(path.read_bytes().decode("utf-8").lstrip("\ufeff"))))
    return rows[:3], pl.DataFrame(rows[3:], schema=rows[0], orient="row")


def test_qualtrics_current_layout_and_mess(demo, reference):
    landing, _ = demo
    real = header_of(reference / "surveys" / "qualtrics_sample_v3_3header.csv")
    files = qualtrics_files(landing)
    statuses, duplicates, partial, personal = set(), 0, 0, 0
    for path in files:
        head, data = read_qualtrics(path)
        assert head[0][:17] == real[:17]
        assert head[2][0] == '{"ImportId":"startDate"}'
        assert any(" - I feel" in t or " - I can be myself at work." in t for t in head[1])
        statuses |= set(data["Status"])
        duplicates += data.height - data["ResponseId"].n_unique()
        partial += int((data["Finished"] == "0").sum())
        personal += int((data["IPAddress"] != "").sum() + (data["RecipientEmail"] != "").sum())
        assert data["ExternalReference"].str.contains(r"^\d{6}$").all()
        assert data["StartDate"].str.contains(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$").all()
    assert {"0", "1", "8"} <= statuses and duplicates >= len(files) // 2 and partial > 0 and personal > 0
    # a cumulative re-export: every response of the first export is in the later one
    export1 = [p for p in files if p.name.endswith("_export1.csv")]
    assert export1
    for p in export1:
        later = p.with_name(p.name.replace("_export1", ""))
        assert set(read_qualtrics(p)[1]["ResponseId"]) <= set(read_qualtrics(later)[1]["ResponseId"])
    # both label and numeric-code exports, and one code off the 4-point scale
    answers = set()
    for path in files:
        if "pupil" in path.name:
            answers |= set(read_qualtrics(path)[1]["Q2_3"])
    assert {"Agree", "1", "2", "7"} <= answers


def test_legacy_qualtrics_surveymonkey_google_redcap_layouts(demo):
    landing, _ = demo
    legacy = (
        sorted((landing / "surveys" / "qualtrics_legacy").rglob("*.csv"))[0]
        .read_text(encoding="utf-8")
        .split("\n")
    )
    assert legacy[0].startswith("V1,V2,V3,V4,V5,V6,V7,V8,V9,V10,Q1,") and legacy[0].endswith(",")
    assert legacy[1].startswith(
        "ResponseID,ResponseSet,Name,ExternalDataReference,EmailAddress,IPAddress,Status,StartDate,EndDate,Finished,"
    )
    parsed = list(csv.reader(io.StringIO("\n".join(legacy))))
    assert all(len(r) == len(parsed[0]) and r[-1] == "" for r in parsed if r)
    sm_files = sorted((landing / "surveys" / "surveymonkey").rglob("*pupil*.csv"))
    with_var = [p for p in sm_files if not re.search(r"_\d{6}\.csv$", p.name)]
    per_school = [p for p in sm_files if re.search(r"_\d{6}\.csv$", p.name)]
    assert with_var and per_school
    rows = list(csv.reader(io.StringIO(with_var[0].read_text(encoding="utf-8"))))
    assert rows[0][:10] == [
        "Respondent ID",
        "Collector ID",
        "Start Date",
        "End Date",
        "IP Address",
        "Email Address",
        "First Name",
        "Last Name",
        "Custom Data 1",
        "URN",
    ]
    stem = rows[0].index(
        "Thinking about your school: to what extent do you agree with the following statements?"
    )
    assert rows[0][stem + 1 : stem + 6] == [""] * 5
    assert rows[1][stem : stem + 6][0] == "I feel like an outsider (or left out of things) at school."
    assert "Response" in rows[1] and "Open-Ended Response" in rows[1]
    assert all(
        r[4] and r[5] and r[6] and r[8] for r in rows[2:]
    )  # IP, email, names, custom data: personal data
    assert "URN" not in next(csv.reader(io.StringIO(per_school[0].read_text(encoding="utf-8"))))
    google = sorted((landing / "surveys" / "googleforms").rglob("*pupil*.csv"))
    texts = []
    for g in google:
        raw = g.read_text(encoding="utf-8")
        assert raw.startswith('"Timestamp","Email address","School URN",')
        texts += next(csv.reader(io.StringIO(raw)))
        body = list(csv.reader(io.StringIO(raw)))[1:]
        assert all(re.match(r"^\d{4}/\d{2}/\d{2} \d{1,2}:\d{2}:\d{2} [AP]M GMT(\+1)?$", r[0]) for r in body)
    assert any(t.endswith("[I feel lonely at school]") for t in texts)  # final full stop dropped
    assert any(t.endswith("[I feel lonely at school.]") for t in texts)
    urns = {r[2] for g in google for r in list(csv.reader(io.StringIO(g.read_text(encoding="utf-8"))))[1:]}
    assert NOT_IN_GIAS_URN in urns  # a URN GIAS does not know
    redcap = read_strings(sorted((landing / "surveys" / "redcap").rglob("*pupil*.csv"))[0])
    assert redcap.columns[:5] == [
        "record_id",
        "redcap_event_name",
        "redcap_survey_identifier",
        "pupil_belonging_timestamp",
        "school_urn",
    ]
    assert redcap.columns[-1] == "pupil_belonging_complete" and "belong_outsider" in redcap.columns
    assert set(redcap["pupil_belonging_complete"]) <= {"0", "2"}
    assert redcap["redcap_survey_identifier"].str.contains("@").all()


def test_msforms_workbooks_name_their_school(demo):
    from openpyxl import load_workbook

    landing, _ = demo
    books = sorted((landing / "surveys" / "msforms").rglob("*.xlsx"))
    assert all(re.match(r"^(pupil|staff)_belonging_\d{6}\.xlsx$", b.name) for b in books)
    pupil = next(b for b in books if b.name.startswith("pupil"))
    rows = list(load_workbook(pupil, read_only=True).active.iter_rows(values_only=True))
    assert list(rows[0][:6]) == ["ID", "Start time", "Completion time", "Email", "Name", "Last modified time"]
    assert "I feel like I belong at school." in rows[0]  # the statement alone
    assert all(r[3] == "anonymous" for r in rows[1:])
    assert all(re.match(r"^\d{1,2}/\d{1,2}/\d{4} \d{2}:\d{2}$", r[1]) for r in rows[1:])
    staff = [b for b in books if b.name.startswith("staff")]
    named = [
        r
        for b in staff
        for r in list(load_workbook(b, read_only=True).active.iter_rows(values_only=True))[1:]
        if r[3] != "anonymous"
    ]
    assert named and all("@" in r[3] and r[4] for r in named)


def test_stale_urn_of_a_converted_school_is_reported(demo):
    landing, _ = demo
    est = read_strings(landing / "gias" / GIAS_NEWEST, "cp1252")
    closed = set(est.filter(pl.col("EstablishmentStatus (name)") == "Closed")["URN"])
    reported = set()
    for path in (landing / "surveys").rglob("*pupil_belonging_202*.csv"):
        text = path.read_bytes().decode("utf-8").lstrip("\ufeff")
        reported |= set(re.findall(r"(?<![\d.])1\d{5}(?![\d.])", text))
    assert reported & closed


def test_pupil_answers_are_consistent_and_lower_with_send_and_fsm(demo):
    landing, _ = demo
    frames = [read_strings(p) for p in (landing / "surveys" / "redcap").rglob("*pupil_belonging*.csv")]
    r = pl.concat(frames).filter(pl.col("pupil_belonging_complete") == "2")
    items = [
        "belong_outsider",
        "belong_friends",
        "belong_belong",
        "belong_awkward",
        "belong_liked",
        "belong_lonely",
    ]
    negative = {"belong_outsider", "belong_awkward", "belong_lonely"}
    # code 1 = Strongly agree; belonging score per item: positive items 4 - code, negative items code - 1
    scored = r.with_columns(
        [
            ((pl.col(c).cast(pl.Int64) - 1) if c in negative else (4 - pl.col(c).cast(pl.Int64))).alias(c)
            for c in items
        ]
    ).with_columns(pl.mean_horizontal(items).alias("score"))
    assert (
        scored.select(pl.corr("belong_belong", "belong_lonely")).item() > 0.3
    )  # reverse items answered consistently
    by = {
        k: scored.filter(pl.col(k.split("=")[0]) == k.split("=")[1])["score"].mean()
        for k in ("send=1", "send=2", "fsm=1", "fsm=2")
    }
    assert by["send=1"] < by["send=2"] - 0.1
    assert by["fsm=1"] < by["fsm=2"] - 0.05


def test_census_columns_are_filled_consistently(demo):
    landing, _ = demo
    spc = read_strings(dfe_path(landing, "census", "2023-24")).filter(pl.col("geographic_level") == "School")
    num = spc.select(
        pl.all().exclude("urn", "Estab", "LAEstab", "school_name").cast(pl.Float64, strict=False)
    )
    year_groups = [c for c in spc.columns if re.match(r"^(part|full)-time (female|male) ", c)]
    ages = [c for c in spc.columns if re.match(r"^\(?(part|full)[- ]time (girls|boys) aged ", c)]
    language = [c for c in spc.columns if c.startswith("number of pupils whose first language")]
    ethnic = [
        c
        for c in spc.columns
        if c.startswith("number of pupils classified as") or c == "number of pupils unclassified"
    ]
    head = num["headcount of pupils"]
    for cols in (year_groups, ages, language, ethnic):
        assert (num.select(pl.sum_horizontal(cols)).to_series() == head).all()
    fsm = num["number of pupils known to be eligible for free school meals (Per"]
    base = num["number of pupils (used for FSM calculation in Performance Tables"]
    assert (fsm <= base).all() and (base <= head).all()
    pct = num["% of pupils known to be eligible for free school meals (Performa"]
    assert ((fsm / base * 100).round(1) - pct).abs().max() < 0.051
    assert spc["urn"].str.contains(r"^\d{6}$").all() and spc["LAEstab"].str.contains(r"^\d{7}$").all()


def test_newest_census_is_long_with_the_trust_of_that_year(demo):
    """The long census of 2024/25 holds the same counts as the wide layout would (read back by the reader), one
    record per school, and names each academy's trust as GIAS does (`z` for a school in none)."""
    from datetime import UTC, datetime

    from demo.dfe import GROUPS
    from demo.schools import build_world
    from ingestion.ees import read_ees
    from ingestion.lake import SourceFile

    landing, _ = demo
    path = dfe_path(landing, "census", "2024-25")
    result = read_ees(SourceFile(path, path.name, "0" * 64, datetime.now(UTC)))
    assert (result.vintage, result.quarantine.height) == ("ees2026", 0)
    assert "measures_lacking" not in result.summary
    read = result.tables["dfe_census"]
    from demo.dfe import school_numbers

    nums = school_numbers(build_world("small", 2026), 2024, 2026)
    years = {n: GROUPS.index(f"Year group {n}") for n in (7, 11)}
    expected = nums.select(
        pl.col("urn").cast(pl.String).alias("school_urn"),
        pl.col("headcount").cast(pl.Float64),
        pl.col("fsm_pt").cast(pl.Float64).alias("fsm_eligible"),
        pl.col("fsm_base").cast(pl.Float64),
        *[
            pl.sum_horizontal(pl.col(f"n_{a}_{x}_{k}") for a in ("ft", "pt") for x in ("girls", "boys"))
            .cast(pl.Float64)
            .alias(f"pupils_year_{n}")
            for n, k in years.items()
        ],
    ).sort("school_urn")
    assert read.select(expected.columns).sort("school_urn").equals(expected)
    rows = read_strings(path)
    assert rows.height == read.height * (9 + 20 * 3 + len(GROUPS) + 6)
    assert set(rows["geographic_level"]) == {"School"}
    trusts = rows.group_by("school_urn").agg(pl.col("trust").unique())
    assert (trusts["trust"].list.len() == 1).all()
    gias = read_strings(landing / "gias" / GIAS_NEWEST, "cp1252").filter(
        pl.col("EstablishmentStatus (name)") == "Open"
    )
    named = gias.select(
        pl.col("URN").alias("school_urn"), pl.col("Trusts (name)").fill_null("z").alias("gias")
    )
    joined = trusts.with_columns(pl.col("trust").list.first()).join(named, on="school_urn")
    assert joined.height == read.height and (joined["trust"] == joined["gias"]).all()
    assert (joined["trust"] == "z").sum() > 0 and (joined["trust"] != "z").sum() > 0


def test_ingestion_does_not_import_the_demo():
    """ingestion/ is production code: the demo generator may use it, never the other way round."""
    offenders = []
    for path in sorted((REPO / "ingestion").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or ""]
            if any(n == "demo" or n.startswith("demo.") for n in names):
                offenders.append(f"{path.relative_to(REPO)}:{node.lineno}")
    assert offenders == []
