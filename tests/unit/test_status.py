"""`belonging status` says where each year's trust membership came from - a GIAS snapshot of the year, the school
census's trust column, or nowhere, so that it is unknown (int_academic_years_listed.gias_snapshot_date;
int_school_years_spined.trust_id, trust_source)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import duckdb

from orchestration.settings import Home
from orchestration.status import status_text


def release(home: Path, *, years: list[tuple], schools: list[tuple] | None, name: str = "r1") -> None:
    """A current release whose warehouse holds the two tables status reads (`schools` None: an older release
    whose years table has no gias_snapshot_date; school rows of three values: a release built before the census's
    trust was read, no trust_source)."""
    folder = home / "releases" / name
    folder.mkdir(parents=True)
    (folder / "manifest.json").write_text(
        json.dumps({"created_at": "2026-01-01T00:00:00Z"}), encoding="utf-8"
    )
    con = duckdb.connect(str(folder / "warehouse.duckdb"))
    try:
        if schools is None:
            con.execute("create table int_academic_years_listed (time_period integer, academic_year varchar)")
            con.executemany("insert into int_academic_years_listed values (?, ?)", [y[:2] for y in years])
        else:
            con.execute(
                "create table int_academic_years_listed "
                "(time_period integer, academic_year varchar, gias_snapshot_date date)"
            )
            con.executemany("insert into int_academic_years_listed values (?, ?, ?)", years)
            source = ", trust_source varchar" if schools and len(schools[0]) == 4 else ""
            con.execute(
                f"create table int_school_years_spined (time_period integer, urn varchar, trust_id varchar"
                f"{source})"
            )
            con.executemany(
                f"insert into int_school_years_spined values (?, ?, ?{', ?' if source else ''})", schools
            )
    finally:
        con.close()
    link = home / "releases" / "current"
    if link.is_symlink():
        link.unlink()
    os.symlink(name, link)


YEARS = [(201516, "2015/16", None), (201617, "2016/17", "2017-01-12"), (201718, "2017/18", "2018-01-10"),
         (201819, "2018/19", None)]  # fmt: skip


def test_status_names_the_years_without_a_gias_snapshot(tmp_path):
    home = tmp_path / "home"
    release(home, years=YEARS, schools=[
        (201516, "X", "unknown"), (201516, "Y", "unknown"), (201617, "X", "T1"), (201617, "Y", None),
        (201718, "X", "T2"), (201718, "Z", "unknown"),  # Z opened after 2017/18's snapshot: that year has one
        (201819, "X", "unknown")])  # fmt: skip
    lines = status_text(Home(home)).splitlines()
    assert (
        "  trust membership by year: 2015/16 unknown; 2016/17 GIAS snapshot 2017-01-12; 2017/18 GIAS snapshot "
        "2018-01-10; 2018/19 unknown"
    ) in lines
    assert (
        "  trust membership unknown (no GIAS snapshot taken during the year and no trust in its census; its "
        "schools count in no trust): 2015/16 (2 schools), 2018/19 (1 school)"
    ) in lines
    assert (
        "    add that year's edubasealldataYYYYMMDD.csv (nearest its January census) to landing/gias" in lines
    )


def test_a_year_whose_census_names_the_trusts_is_not_lacking_and_says_so(tmp_path):
    """2025/26 has no GIAS snapshot of its own; its census's trust column gave X's and Y's trust (Y's: in no
    trust), so the year is not reported as lacking; in 2024/25 the census covered X only, so Z is unknown."""
    years = [(202425, "2024/25", None), (202526, "2025/26", None), (202324, "2023/24", "2023-09-04")]
    home = tmp_path / "home"
    release(home, years=years, schools=[
        (202324, "X", "T1", "gias_snapshot"), (202425, "X", "T1", "census"), (202425, "Z", "unknown", None),
        (202526, "X", "T1", "census"), (202526, "Y", None, "census")])  # fmt: skip
    lines = status_text(Home(home)).splitlines()
    assert (
        "  trust membership by year: 2023/24 GIAS snapshot 2023-09-04; 2024/25 the school census's trust column "
        "(1 school; 1 unknown); 2025/26 the school census's trust column (2 schools)"
    ) in lines
    assert (
        "  trust membership unknown (no GIAS snapshot taken during the year and no trust in its census; its "
        "schools count in no trust): 2024/25 (1 school)"
    ) in lines
    # the census covering every school: nothing lacks
    release(
        tmp_path / "all",
        years=years[1:],
        schools=[(202526, "X", "T1", "census"), (202324, "X", "T1", "gias_snapshot")],
    )
    text = status_text(Home(tmp_path / "all"))
    assert "trust membership unknown" not in text
    assert "2025/26 the school census's trust column (1 school)" in text


def test_status_is_silent_when_every_year_has_its_snapshot_or_the_release_cannot_say(tmp_path):
    covered = [(tp, year, snap or "2020-01-01") for tp, year, snap in YEARS]
    release(tmp_path / "covered", years=covered, schools=[(201617, "X", "T1")])
    assert "trust membership unknown" not in status_text(Home(tmp_path / "covered"))
    # a release built before the years table said which snapshot it used: nothing to say, no error
    release(tmp_path / "older", years=YEARS, schools=None)
    text = status_text(Home(tmp_path / "older"))
    assert "current release: r1" in text and "trust membership unknown" not in text
