"""GIAS reader: the real 2018 sample (133 columns), the 2024 layout (140 columns), the real links head."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import polars as pl
import pytest

from ingestion import gias
from ingestion.lake import SourceFile
from ingestion.lake_schema import GIAS_ESTABLISHMENTS, GIAS_LINKS
from ingestion.results import UnknownFormat
from tests.conftest import FIXTURES

FIX = FIXTURES / "gias"
SAMPLE_2018 = "dfe/gias_edubasealldata_sample_2018.csv"
LINKS_HEAD = "dfe/gias_links_edubasealldata20250903_head.csv"
# personal columns (by name) and values from them in the real sample and the 2024 fixture
PERSONAL_COLUMNS = ("head", "telephone", "website", "street", "postcode")
PERSONAL_VALUES = ("Bouette", "02089692810", "Jane", "01142345678", "www.example.sch.uk", "S8 0BN")


def read(path: Path):
    return gias.read_gias(SourceFile(Path(path).resolve(), Path(path).name, "0" * 64, datetime.now(UTC)))


def declared(schema: dict) -> dict:
    return {c: t for c, t in schema.items() if not c.startswith("_")}


def by_urn(frame: pl.DataFrame, urn: str) -> dict:
    hit = frame.filter(pl.col("urn") == urn)
    assert hit.height == 1
    return hit.row(0, named=True)


def assert_no_personal_data(frame: pl.DataFrame) -> None:
    assert not [c for c in frame.columns if any(p in c.lower() for p in PERSONAL_COLUMNS)]
    cells = [str(v) for r in frame.iter_rows() for v in r]
    assert not [v for v in cells if any(p in v for p in PERSONAL_VALUES)]


# ----------------------------------------------------------------------- real 2018 sample, 133 columns
def test_real_2018_sample(reference):
    path = reference / SAMPLE_2018
    assert gias.sniff(path) == "establishments"
    r = read(path)
    assert (r.source_kind, r.publication, r.vintage, r.rows_read) == (
        "gias_establishments",
        "gias",
        "edubasealldata_133",
        4,
    )
    frame = r.tables["gias_establishments"]
    assert dict(frame.schema) == declared(GIAS_ESTABLISHMENTS)
    assert r.quarantine.height == 0 and frame.height == 4
    s = by_urn(frame, "100459")
    assert s["establishment_name"] == "St Aloysius RC College"
    assert (s["la_code"], s["establishment_number"], s["laestab"]) == ("206", "4651", "2064651")
    assert (s["la_name"], s["gss_la_code"], s["region_name"]) == ("Islington", "E09000019", "London")
    assert (s["phase_of_education"], s["establishment_status"]) == ("Secondary", "Open")
    assert s["type_of_establishment"] == "Voluntary aided school"
    assert s["establishment_type_group"] == "LA maintained schools"
    assert (s["number_of_pupils"], s["percentage_fsm"]) == (1104, 28.5)
    assert s["parliamentary_constituency_code"] == "E14000763"
    # empty dates and "Not applicable" trust fields are null, not text
    assert s["open_date"] is None and s["close_date"] is None and s["trust_code"] is None
    # no date in the file name: the latest LastChangedDate (13-12-2018, URN 100459)
    assert frame.get_column("snapshot_date").unique().to_list() == [date(2018, 12, 13)]
    assert r.summary["snapshot_date_from"] == "latest LastChangedDate"
    assert by_urn(frame, "100492")["laestab"] == "2073402"


def test_real_2018_sample_drops_head_teacher_phone_and_website(reference):
    frame = read(reference / SAMPLE_2018).tables["gias_establishments"]
    assert_no_personal_data(frame)
    # the check can fail: the raw file does hold them
    raw = pl.read_csv(reference / SAMPLE_2018, infer_schema=False)
    with pytest.raises(AssertionError):
        assert_no_personal_data(raw)


# ----------------------------------------------------------------------- 2024 layout, 140 columns, cp1252
def test_layout_140_cp1252():
    path = FIX / "edubasealldata20240115.csv"
    assert len(pl.read_csv(path, infer_schema=False, encoding="latin1").columns) == 140
    r = read(path)
    assert (r.vintage, r.encoding) == ("edubasealldata_140", "cp1252")
    frame = r.tables["gias_establishments"]
    assert dict(frame.schema) == declared(GIAS_ESTABLISHMENTS)
    assert r.summary["snapshot_date_from"] == "file name"
    assert frame.get_column("snapshot_date").unique().to_list() == [date(2024, 1, 15)]
    anne = by_urn(frame, "138001")
    assert anne["establishment_name"] == "St Anne’s Catholic Primary School"
    assert (anne["trust_code"], anne["trust_name"]) == ("5012", "Steel City Schools Partnership")
    assert anne["open_date"] == date(2012, 9, 1) and anne["laestab"] == "3732001"
    closed = by_urn(frame, "107086")
    assert closed["establishment_status"] == "Closed" and closed["close_date"] == date(2012, 8, 31)
    assert closed["trust_name"] is None and closed["number_of_pupils"] is None  # "Not applicable", ""
    he = by_urn(frame, "145000")
    # no establishment number: no LAESTAB, not a quarantined row; "Does not apply"/"None"/"Not Applicable" -> null
    assert he["laestab"] is None and he["la_name"] is None and he["gss_la_code"] is None
    assert he["region_name"] is None and he["phase_of_education"] is None
    assert_no_personal_data(frame)


def test_snapshot_from_latest_last_changed_when_name_has_no_date():
    frame = read(FIX / "edubase_layout140_no_date_in_name.csv").tables["gias_establishments"]
    assert frame.get_column("snapshot_date").unique().to_list() == [date(2024, 1, 15)]


def test_snapshot_from_name():
    assert gias.snapshot_from_name("edubasealldata20250903.csv") == date(2025, 9, 3)
    assert gias.snapshot_from_name("links_edubasealldata20250903_head.csv") == date(2025, 9, 3)
    assert gias.snapshot_from_name("edubasealldata20251399.csv") is None
    assert gias.snapshot_from_name("gias_sample_2018.csv") is None


# ----------------------------------------------------------------------- links
def test_real_links_head(reference):
    path = reference / LINKS_HEAD
    assert gias.sniff(path) == "links"
    r = read(path)
    assert (r.source_kind, r.vintage, r.rows_read) == ("gias_links", "links", 60)
    frame = r.tables["gias_links"]
    assert dict(frame.schema) == declared(GIAS_LINKS)
    assert frame.height == 60 and r.quarantine.height == 0
    assert frame.get_column("snapshot_date").unique().to_list() == [date(2025, 9, 3)]
    first = frame.row(0, named=True)
    assert (first["urn"], first["link_urn"], first["link_type"]) == (
        "100006",
        "134643",
        "Predecessor - merged",
    )
    assert first["link_name"] == "CCfL Key Stage 3 PRU" and first["link_established_date"] == date(2022, 1, 1)
    assert r.summary["rows_by_link_type"]["Successor"] == 41
    assert frame.filter(pl.col("urn") == "100016").get_column("link_established_date").to_list() == [None]


def test_links_quarantine():
    r = read(FIX / "links_quarantine__urn_format_date_format.csv")
    q = r.quarantine.select("row_number", "column", "value", "rule").rows()
    assert q == [
        (2, "LinkURN", "10002", "urn_format"),
        (3, "LinkEstablishedDate", "2021-08-31", "date_format"),
    ]
    assert r.tables["gias_links"].get_column("row_number").to_list() == [1]


# ----------------------------------------------------------------------- quarantine: one fixture per rule
@pytest.mark.parametrize(
    ("rule", "column", "value"),
    [
        ("urn_format", "URN", "13800A"),
        ("la_code_format", "LA (code)", "37"),
        ("establishment_number_format", "EstablishmentNumber", "20X1"),
        ("date_format", "OpenDate", "2012-09-01"),
    ],
)
def test_quarantine_rule(rule, column, value):
    path = FIX / f"quarantine__{rule}.csv"
    r = read(path)
    got = r.quarantine.rows(named=True)
    assert len(got) == 1
    assert (got[0]["row_number"], got[0]["column"], got[0]["value"], got[0]["rule"]) == (
        2,
        column,
        value,
        rule,
    )
    assert got[0]["reason"].startswith(f"{path.name} row 2: ")
    # the good row 1 loads, the bad row 2 does not
    assert r.tables["gias_establishments"].get_column("urn").to_list() == ["138001"]


def test_sniff_rejects_other_files(reference):
    assert gias.sniff(reference / "dfe/ees2019_exclusions_by_geographic_level_201617_subset.csv") is None
    with pytest.raises(UnknownFormat, match="not a GIAS edubasealldata file: missing columns URN"):
        read(reference / "dfe/ees2019_exclusions_by_geographic_level_201617_subset.csv")
