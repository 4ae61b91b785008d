"""Size limits (settings `limits:`) and what validate predicts of the raw gate beside the lake."""

from __future__ import annotations

import pytest

from ingestion.files import UnreadableFile, decode
from ingestion.lake import Lake
from ingestion.limits import check_file
from ingestion.load import load_dfe
from ingestion.results import FileRefused
from ingestion.validate import validate_file
from tests.conftest import SETTINGS
from tests.fixtures.bad_inputs.catalogue import MSFORMS_ROWS, cell, ees, ees_rows, school_row, xlsx

LIMITS = SETTINGS["limits"]


def small(**changes) -> dict:
    return {**LIMITS, **changes}


@pytest.mark.parametrize(("limits", "rule"), [
    (small(max_file_bytes=100), "limit_file_bytes"),
    (small(max_rows=3), "limit_rows"),
    (small(max_field_chars=10), "limit_field_chars"),
    (small(max_quarantined_rows=2), None),  # a good file breaks no rule: the limit on rows broken is not hit
    (LIMITS, None),
])
def test_a_csv_over_a_limit_is_refused_in_one_line(tmp_path, limits, rule):
    path = tmp_path / "exclusions.csv"
    path.write_bytes(ees()())
    if rule is None:
        check_file(path, limits)
        return
    with pytest.raises(FileRefused) as err:
        check_file(path, limits)
    assert err.value.rule == rule and "\n" not in str(err.value) and f"(rule {rule})" in str(err.value)
    assert str(err.value).startswith("exclusions.csv: ")


def test_a_workbook_over_the_row_limit_is_refused_before_reading(tmp_path):
    path = tmp_path / "forms.xlsx"
    path.write_bytes(xlsx(MSFORMS_ROWS)())
    check_file(path, LIMITS)
    with pytest.raises(FileRefused,
                       match=r"more than 2 rows in xl/worksheets/sheet1.xml, over the limit limits.max_workbook_rows"):
        check_file(path, small(max_workbook_rows=2))
    with pytest.raises(FileRefused, match="limit_field_chars"):
        check_file(path, small(max_field_chars=20))


def test_a_field_split_across_read_blocks_is_still_seen(tmp_path, monkeypatch):
    import ingestion.limits as limits

    monkeypatch.setattr(limits, "CHUNK", 7)
    path = tmp_path / "x.csv"
    path.write_bytes(b"a,b\n1," + b"x" * 30 + b"\n")
    with pytest.raises(FileRefused, match="line 2 holds a field of more than 20"):
        check_file(path, small(max_field_chars=20))


def test_rows_broken_by_the_thousand_refuse_the_file_in_one_line(tmp_path):
    landing = tmp_path / "landing"
    (landing / "dfe").mkdir(parents=True)
    rows = ees_rows()
    school = rows[school_row(rows)]
    for n in range(30):
        bad = list(school)
        bad[rows[0].index("school_urn")] = f"X{n}"
        rows.append(bad)
    import csv
    import io

    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    (landing / "dfe" / "many_bad.csv").write_text(out.getvalue(), encoding="utf-8")
    report = load_dfe(landing, Lake(tmp_path / "lake"), None, small(max_quarantined_rows=20))
    (outcome,) = report.files
    assert outcome.status == "quarantined_file"
    assert outcome.message.startswith("many_bad.csv: 30 rows broke rules (urn_format x30")
    assert Lake(tmp_path / "lake").read("quarantine").height == 1  # one line, not 30 rows
    # under the limit, the same file loads with its bad rows quarantined one by one
    report = validate_file(landing / "quarantine" / "dfe" / "many_bad.csv", limits=LIMITS)
    assert report.error is None and report.result.quarantine.height == 30


def test_encoding_is_decided_per_line():
    text, encoding, lines = decode("a,b\nSt Joseph’s,1\n".encode() + "Brunel’s,2\n".encode("cp1252"))
    assert text == "a,b\nSt Joseph’s,1\nBrunel’s,2\n"
    assert encoding == "utf-8 (cp1252 on lines 3)" and lines == (3,)
    assert decode("Anne’s\n".encode("cp1252"))[1] == "cp1252"
    assert decode("\ufeffa\n".encode())[1] == "utf-8-sig"
    with pytest.raises(UnreadableFile, match=r"line 2: neither UTF-8 nor Windows-1252 \(byte 0x8D on line 2"):
        decode("ok’\n".encode() + b"bad\x8d\x92\n", "f.csv")


def test_validate_predicts_a_cross_file_conflict_and_names_the_retire_command(tmp_path):
    landing = tmp_path / "landing"
    (landing / "dfe").mkdir(parents=True)
    (landing / "dfe" / "exclusions.csv").write_bytes(ees()())
    lake = Lake(tmp_path / "lake")
    load_dfe(landing, lake, None, LIMITS)

    def one_school(rows):  # a "correction" of another name holding one of the schools: not a re-issue
        keep = school_row(rows)
        rows[:] = [rows[0], rows[keep]]
        cell(rows, 1, "perm_excl", "4")

    other = tmp_path / "correction.csv"
    other.write_bytes(ees(one_school)())
    report = validate_file(other, lake=lake, limits=LIMITS, gates=SETTINGS["gates"])
    conflicts = [n for n in report.notes if n.startswith("raw gate at refresh")]
    sha = lake.read("file_loads")["_source_sha256"][0]
    assert len(conflicts) == 2 and "dfe_exclusions: this file and dfe/exclusions.csv" in conflicts[0]
    assert f"belonging retire {sha[:12]}" in conflicts[0]
    assert "this file holds 1 schools against 3 in dfe/exclusions.csv" in conflicts[1]  # the volume gate too
    # a re-issue (the same name) is no conflict
    same = tmp_path / "again" / "exclusions.csv"
    same.parent.mkdir()
    same.write_bytes(ees(lambda r: cell(r, school_row(r), "perm_excl", "4"))())
    assert not [n for n in validate_file(same, lake=lake, limits=LIMITS, gates=SETTINGS["gates"]).notes
                if n.startswith("raw gate")]


def test_time_period_range_follows_the_settings(tmp_path):
    from ingestion.ees import current_academic_year, read_ees
    from ingestion.lake import SourceFile

    path = tmp_path / "x.csv"
    path.write_bytes(ees(lambda r: cell(r, school_row(r), "time_period", "203031"))())
    source = SourceFile.of(path, tmp_path)
    assert read_ees(source, None).quarantine.height == 0  # no limits: no range
    q = read_ees(source, LIMITS).quarantine
    assert q.select("rule", "value").rows() == [("time_period_range", "203031")]
    assert read_ees(source, small(time_periods_ahead=10)).quarantine.height == 0
    assert current_academic_year(__import__("datetime").date(2026, 8, 31)) == 202526
    assert current_academic_year(__import__("datetime").date(2026, 9, 1)) == 202627
