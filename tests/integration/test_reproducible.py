"""Reproducible at the boundary: the same landing files refreshed in two fresh homes give byte-identical
extracts, on data where many respondents sit exactly at the midpoint of the belonging scale.

A pupil whose belonging positions (0-3, negative statements reversed) add up to exactly half the scale scores
exactly 50, which is not above the midpoint. The per-item scores are floats (33.33..., 66.66..., with last digits
that depend on the item's polarity), and their mean lands on either side of 50 by summation order. Here half
the midpoint pupils answer four statements (outsider: Agree, friends: Strongly agree, belong: Disagree, awkward:
Agree; positions 1, 3, 1, 1), whose float mean in item order is 50.00000000000001: they were counted positive.
The others answer "Disagree" to everything (positions 2, 1, 1, 2, 1, 2: 49.99999999999999 in float).
"""

from __future__ import annotations

import csv
import hashlib
import shutil

import polars as pl
import pytest

from tests.pipeline_helpers import belonging, current, public, write_gias

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("reproducible")]

STEM = "Thinking about your school: to what extent do you agree with the following statements?"
STATEMENTS = ["I feel like an outsider (or left out of things) at school.", "I make friends easily at school",
              "I feel like I belong at school", "I feel awkward and out of place in my school.",
              "Other students seem to like me", "I feel lonely at school"]
NEGATIVE = (0, 3, 5)
SCHOOLS = {"100001": ("E08000021", "391", "Newcastle upon Tyne", "North East"),
           "100002": ("E08000021", "391", "Newcastle upon Tyne", "North East"),
           "100003": ("E08000035", "383", "Leeds", "Yorkshire and the Humber"),
           "100004": ("E08000035", "383", "Leeds", "Yorkshire and the Humber")}
# per school: respondents at the midpoint, and respondents agreeing with every positive statement (score 66.7)
MIX = {"100001": (14, 0), "100002": (9, 6), "100003": (12, 12), "100004": (5, 20)}


def landing(root):
    write_gias_landing(root)
    rows = []
    n = 0
    for urn, (midpoint, positive) in MIX.items():
        for kind, count in (("mid", midpoint), ("pos", positive)):
            for _ in range(count):
                n += 1
                if kind == "pos":
                    answers = ["Disagree" if i in NEGATIVE else "Agree" for i in range(6)]
                elif n % 2:
                    answers = ["Agree", "Strongly agree", "Disagree", "Agree", "", ""]  # positions 1, 3, 1, 1
                else:
                    answers = ["Disagree"] * 6
                rows.append([f"2026/03/02 9:{n // 60:02d}:{n % 60:02d} AM GMT", urn, f"Year {7 + n % 3}", *answers,
                             ("Boy", "Girl")[n % 2], ("Yes", "No", "No")[n % 3], ("No", "Yes")[n % 2]])
    header = ["Timestamp", "School URN", "What year are you in?", *[f"{STEM} [{s}]" for s in STATEMENTS],
              "Which best describes your gender?", "Do you have special educational needs or a disability (SEND)?",
              "Do you receive free school meals?"]
    surveys = root / "landing" / "surveys"
    surveys.mkdir(parents=True)
    with open(surveys / "pupil_belonging_spring.csv", "w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows([header, *rows])


def write_gias_landing(root):
    from tests.conftest import REFERENCE

    (root / "landing" / "gias").mkdir(parents=True)
    write_gias(REFERENCE, root / "landing" / "gias" / "edubasealldata20250901.csv", [
        {"URN": urn, "LA (code)": la, "LA (name)": la_name, "EstablishmentNumber": f"{4000 + i}",
         "EstablishmentName": f"Midpoint School {urn}", "TypeOfEstablishment (name)": "Community school",
         "EstablishmentTypeGroup (name)": "Local authority maintained schools",
         "PhaseOfEducation (name)": "Secondary", "GOR (name)": region, "GSSLACode (name)": gss}
        for i, (urn, (gss, la, la_name, region)) in enumerate(SCHOOLS.items())])


def digests(folder) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


@pytest.fixture(scope="module")
def two_homes(tmp_path_factory):
    first = tmp_path_factory.mktemp("first") / "home"
    landing(first)
    second = tmp_path_factory.mktemp("second") / "home"
    shutil.copytree(first / "landing", second / "landing")
    procs = [belonging("refresh", home=h, key="a-key-for-both-homes") for h in (first, second)]
    for proc in procs:
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return first, second


def test_two_fresh_homes_publish_byte_identical_extracts(two_homes):
    first, second = (public(current(h)) / "extracts" for h in two_homes)
    a, b = digests(first), digests(second)
    assert a == b
    assert {"pupil_belonging_school.csv", "pupil_belonging_la.csv", "pupil_belonging_national.csv"} <= set(a)


def test_midpoint_respondents_are_not_positive(two_homes):
    school = pl.read_csv(public(current(two_homes[0])) / "extracts" / "pupil_belonging_school.csv", infer_schema=False)
    total = school.filter(pl.col("breakdown") == "Total")
    shown = dict(total.select("school_urn", "belonging_positive_percent").iter_rows())
    # exact shares: the positive respondents over all respondents, the midpoint ones never counted
    assert shown["100001"] == "0.0"
    assert shown["100002"] == "40.0"  # 6 of 15
    assert shown["100003"] == "50.0"  # 12 of 24
    assert shown["100004"] == "80.0"  # 20 of 25
    scores = dict(total.select("school_urn", "belonging_score_mean").iter_rows())
    assert scores["100001"] == "50.0"
