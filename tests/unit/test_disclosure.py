"""Disclosure control: primary, min-schools, secondary within breakdowns and across levels, and an
attacker who tries to recover suppressed cells by subtraction from the published frame."""

from __future__ import annotations

import polars as pl
import pytest

from publication.disclosure import apply_disclosure_control
from tests.conftest import DISCLOSURE, FIXTURES

MART = FIXTURES / "publication" / "mart_indicators__small.csv"
STRINGS = [
    "geography_code",
    "old_la_code",
    "new_la_code",
    "trust_id",
    "school_urn",
    "school_laestab",
    "region_code",
]


def load_mart() -> pl.DataFrame:
    return pl.read_csv(MART, schema_overrides=dict.fromkeys(STRINGS, pl.String), infer_schema_length=None)


@pytest.fixture(scope="module")
def published() -> pl.DataFrame:
    return apply_disclosure_control(load_mart(), min_respondents=10, min_schools=3)


def status(frame: pl.DataFrame, level: str, code: str, indicator: str, bd="Total", bv="Total") -> str:
    row = frame.filter(
        (pl.col("geographic_level") == level)
        & (pl.col("geography_code") == code)
        & (pl.col("indicator") == indicator)
        & (pl.col("breakdown") == bd)
        & (pl.col("breakdown_value") == bv)
    )
    assert row.height == 1, (level, code, indicator, bd, bv)
    return row["published_status"][0]


def cell(
    level, code, bd, bv, *, n, s=None, trust=None, la=None, region=None, schools=1, ind="belonging_score_mean"
):
    """One hand-made survey row."""
    s = n * 60.0 if s is None else s
    return {
        "time_period": 202526, "time_identifier": "Academic year", "geographic_level": level,
        "geography_code": code, "country_code": "E92000001", "trust_id": trust, "new_la_code": la,
        "region_code": region, "source": "pupil_belonging", "indicator": ind, "breakdown": bd,
        "breakdown_value": bv, "numerator": s, "denominator": float(n), "value": s / n,
        "value_status": "value", "ci_lower": None, "ci_upper": None, "respondents": n,
        "schools_included": schools,
    }  # fmt: skip


def run(rows, **kw) -> pl.DataFrame:
    return apply_disclosure_control(pl.DataFrame(rows, infer_schema_length=None), **(DISCLOSURE | kw))


def statuses(frame: pl.DataFrame) -> dict:
    return {
        (r["geographic_level"], r["geography_code"], r["breakdown_value"]): r["published_status"]
        for r in frame.iter_rows(named=True)
    }


def test_primary_suppression_under_10_respondents_and_values_masked():
    out = run(
        [cell("School", "100001", "Total", "Total", n=9), cell("School", "100002", "Total", "Total", n=10)]
    )
    st = statuses(out)
    assert st[("School", "100001", "Total")] == "suppressed"
    assert st[("School", "100002", "Total")] == "value"
    hidden = out.filter(pl.col("geography_code") == "100001").row(0, named=True)
    assert hidden["value"] is None and hidden["respondents"] is None and hidden["numerator"] is None


def test_thresholds_are_parameters():
    out = run([cell("School", "100001", "Total", "Total", n=12)], min_respondents=15)
    assert out["published_status"].to_list() == ["suppressed"]


def test_aggregate_with_fewer_than_min_schools_is_suppressed():
    rows = [
        cell("MAT", "1001", "Total", "Total", n=500, schools=2),
        cell("MAT", "1002", "Total", "Total", n=500, schools=3),
    ]
    st = statuses(run(rows))
    assert st[("MAT", "1001", "Total")] == "suppressed"
    assert st[("MAT", "1002", "Total")] == "value"
    assert statuses(run(rows, min_schools=2))[("MAT", "1001", "Total")] == "value"


def test_secondary_within_breakdown_suppresses_next_smallest():
    rows = [
        cell("School", "100001", "Total", "Total", n=100),
        cell("School", "100001", "gender", "Boy", n=45),
        cell("School", "100001", "gender", "Girl", n=40),
        cell("School", "100001", "gender", "In another way", n=5),
        cell("School", "100001", "gender", "Prefer not to say", n=10),
    ]
    st = statuses(run(rows))
    assert st[("School", "100001", "In another way")] == "suppressed"  # primary
    assert st[("School", "100001", "Prefer not to say")] == "suppressed"  # next smallest
    assert st[("School", "100001", "Girl")] == "value"
    assert st[("School", "100001", "Boy")] == "value"
    assert st[("School", "100001", "Total")] == "value"


def test_single_subgroup_that_is_suppressed_takes_the_total_with_it():
    rows = [cell("School", "100001", "Total", "Total", n=12), cell("School", "100001", "gender", "Girl", n=8)]
    st = statuses(run(rows))
    assert st[("School", "100001", "Girl")] == "suppressed"
    assert st[("School", "100001", "Total")] == "suppressed"


def test_cross_level_trust_with_one_suppressed_school_gets_a_second():
    rows = [
        cell("MAT", "1001", "Total", "Total", n=8 + 30 + 40 + 50, schools=4),
        cell("School", "100001", "Total", "Total", n=8, trust="1001"),
        cell("School", "100002", "Total", "Total", n=30, trust="1001"),
        cell("School", "100003", "Total", "Total", n=40, trust="1001"),
        cell("School", "100004", "Total", "Total", n=50, trust="1001"),
    ]
    st = statuses(run(rows))
    assert st[("School", "100001", "Total")] == "suppressed"
    assert st[("School", "100002", "Total")] == "suppressed"  # the next-smallest school
    assert st[("School", "100003", "Total")] == "value"
    assert st[("MAT", "1001", "Total")] == "value"


def test_tiny_school_every_figure_of_its_cell_suppressed_and_masked():
    out = apply_disclosure_control(load_mart(), **DISCLOSURE)
    # school 100004 (the tiny one: 8 respondents): every survey figure of its Total cell is suppressed
    tiny = out.filter(
        (pl.col("geography_code") == "100004")
        & (pl.col("source") != "admin")
        & (pl.col("breakdown") == "Total")
    )
    assert tiny.height >= 5 and set(tiny["published_status"]) == {"suppressed"}
    assert tiny["value"].null_count() == tiny.height


# --- an irregular trust: counts differ by figure, so the cell and gap rules have something to do ----------
# Trust T9 and its four schools, one wave. Item agree percentages count the respondents who answered the
# item, so an item's count can be well below its cell's respondents (200003: 25 of 40 answered `belong`).
# Level-secondary suppression then picks a different next-smallest school for the item (200003: 25) than for
# the cell-level figures (200002: 30); within 200004's gender breakdown likewise (Boy for the item, Girl for
# the cell). 200004's SEND subgroups are 6 and 54: the small one is primary, the other secondary, and the
# SEND gap built from them must go too; its FSM subgroups (20, 40) are shown and so is its FSM gap.
CELL_LEVEL = ("respondents", "belonging_score_mean", "belonging_positive_percent")
ITEM = "belong_agree_percent"


def cell_rows(level, code, bd, bv, *, n, answered, trust=None, schools=1) -> list[dict]:
    """The cell-level figures of one cell (n respondents) and its `belong` item (answered by `answered`)."""
    rows = [cell(level, code, bd, bv, n=n, trust=trust, schools=schools, ind=ind) for ind in CELL_LEVEL]
    item = cell(level, code, bd, bv, n=answered, trust=trust, schools=schools, ind=ITEM)
    return [*rows, item | {"numerator": answered * 0.7, "value": 70.0}]


def irregular_trust() -> list[dict]:
    rows = cell_rows("MAT", "T9", "Total", "Total", n=8 + 30 + 40 + 60, answered=8 + 30 + 25 + 49, schools=4)
    for code, n, answered in (("200001", 8, 8), ("200002", 30, 30), ("200003", 40, 25), ("200004", 60, 49)):
        rows += cell_rows("School", code, "Total", "Total", n=n, answered=answered, trust="T9")
    for bv, n, answered in (("Boy", 30, 20), ("Girl", 25, 24), ("In another way", 5, 5)):
        rows += cell_rows("School", "200004", "gender", bv, n=n, answered=answered, trust="T9")
    for code, bd, yes, no in (("200003", "send", 15, 25), ("200004", "send", 6, 54), ("200004", "fsm", 20, 40)):
        for bv, n in (("Yes", yes), ("No", no)):
            rows += [cell("School", code, bd, bv, n=n, trust="T9", ind=ind) for ind in ("respondents", "belonging_score_mean")]
        gap = cell("School", code, "Total", "Total", n=yes + no, trust="T9", ind=f"belonging_gap_{bd}")
        rows.append(gap | {"numerator": None, "denominator": None, "value": 4.5})
    return rows


def published_statuses(rows: list[dict], **kw) -> dict[tuple, str]:
    """(geography code, indicator, breakdown, breakdown value) -> published status."""
    out = run(rows, **kw)
    return {(r["geography_code"], r["indicator"], r["breakdown"], r["breakdown_value"]): r["published_status"]
            for r in out.iter_rows(named=True)}  # fmt: skip


V, S = "value", "suppressed"
# (code, breakdown, breakdown value) -> status of (respondents, mean, positive share, `belong` item)
IRREGULAR_CELLS = {
    ("T9", "Total", "Total"): (V, V, V, V),
    ("200001", "Total", "Total"): (S, S, S, S),  # 8 respondents: primary
    ("200002", "Total", "Total"): (S, S, S, S),  # next-smallest school for the cell-level figures; its item follows
    ("200003", "Total", "Total"): (V, V, V, S),  # next-smallest school for the item only: the cell stays shown
    ("200004", "Total", "Total"): (V, V, V, V),
    ("200004", "gender", "Boy"): (V, V, V, S),  # next-smallest subgroup for the item only
    ("200004", "gender", "Girl"): (S, S, S, S),  # next-smallest subgroup for the cell-level figures; item follows
    ("200004", "gender", "In another way"): (S, S, S, S),  # 5 respondents: primary
}
# (code, breakdown, breakdown value) -> status of (respondents, mean) of the SEND and FSM subgroups
IRREGULAR_SUBGROUPS = {
    ("200003", "send", "Yes"): (V, V),
    ("200003", "send", "No"): (V, V),
    ("200004", "send", "Yes"): (S, S),  # 6 respondents: primary
    ("200004", "send", "No"): (S, S),  # the only other subgroup: secondary
    ("200004", "fsm", "Yes"): (V, V),
    ("200004", "fsm", "No"): (V, V),
}
IRREGULAR_GAPS = {("200003", "belonging_gap_send"): V, ("200004", "belonging_gap_send"): S,
                  ("200004", "belonging_gap_fsm"): V}  # fmt: skip


def test_irregular_trust_every_status():
    st = published_statuses(irregular_trust())
    assert len(st) == 4 * len(IRREGULAR_CELLS) + 2 * len(IRREGULAR_SUBGROUPS) + len(IRREGULAR_GAPS)
    cells = {k: tuple(st[(k[0], ind, *k[1:])] for ind in (*CELL_LEVEL, ITEM)) for k in IRREGULAR_CELLS}
    assert cells == IRREGULAR_CELLS
    subgroups = {k: tuple(st[(k[0], ind, *k[1:])] for ind in CELL_LEVEL[:2]) for k in IRREGULAR_SUBGROUPS}
    assert subgroups == IRREGULAR_SUBGROUPS
    assert {(code, ind): st[(code, ind, "Total", "Total")] for code, ind in IRREGULAR_GAPS} == IRREGULAR_GAPS


def test_a_suppressed_cell_level_figure_takes_every_figure_of_its_cell():
    """200002's respondents, mean and positive share are suppressed (level-secondary) while its `belong` item
    was not picked by any rule of its own: it goes with its cell. So does the Girl cell's item at 200004."""
    st = published_statuses(irregular_trust())
    assert st[("200002", "respondents", "Total", "Total")] == S
    assert st[("200002", ITEM, "Total", "Total")] == S, "an item shown in a cell whose respondents are `c`"
    assert st[("200004", "respondents", "gender", "Girl")] == S
    assert st[("200004", ITEM, "gender", "Girl")] == S, "an item shown in a cell whose respondents are `c`"
    # an item is not a cell-level figure: its own suppression leaves the cell shown
    assert st[("200003", ITEM, "Total", "Total")] == S and st[("200003", "respondents", "Total", "Total")] == V
    assert st[("200004", ITEM, "gender", "Boy")] == S and st[("200004", "respondents", "gender", "Boy")] == V


def test_a_gap_is_suppressed_when_a_subgroup_mean_behind_it_is():
    """200004's SEND gap has 60 respondents and its Total cell is shown, but the SEND means it is the
    difference of are suppressed (6 respondents, then the only other subgroup): the gap goes too."""
    st = published_statuses(irregular_trust())
    assert st[("200004", "belonging_score_mean", "send", "Yes")] == S
    assert st[("200004", "belonging_score_mean", "send", "No")] == S
    assert st[("200004", "respondents", "Total", "Total")] == V
    assert st[("200004", "belonging_gap_send", "Total", "Total")] == S, "a gap shown beside its suppressed means"
    # both means shown: the gap is shown (200003 SEND 15 / 25; 200004 FSM 20 / 40)
    assert st[("200003", "belonging_gap_send", "Total", "Total")] == V
    assert st[("200004", "belonging_gap_fsm", "Total", "Total")] == V
    # at a threshold of 25 the FSM Yes mean (20) is hidden: the FSM gap follows it
    strict = published_statuses(irregular_trust(), min_respondents=25)
    assert strict[("200004", "belonging_score_mean", "fsm", "Yes")] == S
    assert strict[("200004", "belonging_gap_fsm", "Total", "Total")] == S


def test_staff_cells_follow_their_cell_level_figures_too():
    """The same trust surveyed with the staff instrument (indicators staff_..., breakdown role)."""
    staff = [
        r | {"source": "staff_belonging", "indicator": f"staff_{r['indicator']}",
             "breakdown": "role" if r["breakdown"] == "gender" else r["breakdown"]}
        for r in irregular_trust() if r["breakdown"] in ("Total", "gender") and "gap" not in r["indicator"]
    ]  # fmt: skip
    st = published_statuses(staff)
    assert st[("200002", "staff_respondents", "Total", "Total")] == S
    assert st[("200002", f"staff_{ITEM}", "Total", "Total")] == S, "an item shown beside `c` staff_respondents"
    assert st[("200004", f"staff_{ITEM}", "role", "Girl")] == S, "an item shown beside `c` staff_respondents"


def test_admin_rows_keep_the_dfe_status(published):
    admin = published.filter(pl.col("source") == "admin")
    assert (admin["published_status"] == admin["value_status"]).all()
    assert status(published, "School", "100006", "fsm_percent") == "suppressed"  # DfE's own c
    # admin figures of a school whose survey cells are suppressed are not touched
    assert status(published, "School", "100004", "suspension_rate") == "value"


def test_fixture_has_suppression_at_every_step(published):
    survey = published.filter(pl.col("source") != "admin")
    # primary, breakdown-secondary and level-secondary all happen on the fixture
    assert status(published, "School", "100004", "respondents") == "suppressed"  # 8 respondents
    assert status(published, "School", "100001", "respondents", "gender", "In another way") == "suppressed"
    # breakdown-secondary: 100003's other gender (2) is primary; Boy and Girl tie at 43, Boy goes (first)
    assert status(published, "School", "100003", "respondents", "gender", "Boy") == "suppressed"
    assert status(published, "School", "100003", "respondents", "gender", "Girl") == "value"
    # level-secondary: 100001 (54) is the next-smallest school of its LA and trust after the tiny 100004
    assert status(published, "School", "100001", "respondents") == "suppressed"
    assert status(published, "School", "100002", "respondents") == "value"
    counts = survey.group_by("published_status").len()
    assert set(counts["published_status"]) == {"value", "suppressed"}


# --- the attacker -----------------------------------------------------------------------------------------

CELL_KEY = ["time_period", "time_identifier", "source", "indicator", "breakdown", "breakdown_value"]
PARENTS = [("School", "MAT", "trust_id"), ("School", "Local authority", "new_la_code"),
           ("Local authority", "Regional", "region_code"), ("Regional", "National", "country_code")]  # fmt: skip
# a parent's schools in none of its aggregate children are children of it too: (parent column, child column) of
# the School rows (an independent school with no region counts in England, in no region)
OUTSIDE = {("Regional", "National"): ("country_code", "region_code"),
           ("Local authority", "Regional"): ("region_code", "new_la_code")}  # fmt: skip
# what the extracts publish of each figure and an attacker can subtract: its numerator (a count's value) and
# denominator (a mean's respondents)
ADDITIVE = ("numerator", "denominator")


def additive(frame: pl.DataFrame, part: str) -> pl.DataFrame:
    """What the attacker reads: one additive part of every shown survey figure."""
    shown = frame.filter((pl.col("published_status") == "value") & (pl.col("source") != "admin"))
    return shown.with_columns(pl.col(part).alias("_additive")).filter(pl.col("_additive").is_not_null())


def recover_across_levels(published: pl.DataFrame, truth: pl.DataFrame) -> list[tuple]:
    """Parent minus its shown children: recovered whenever exactly one child is hidden."""
    survey_truth = truth.filter(pl.col("source") != "admin")
    recovered = []
    for part in ADDITIVE:
        shown = additive(published, part)
        for child, parent, key in PARENTS:
            parents = shown.filter(pl.col("geographic_level") == parent)
            for p in parents.iter_rows(named=True):
                same_cell = pl.all_horizontal([pl.col(c) == p[c] for c in CELL_KEY])
                kids = survey_truth.filter(
                    (pl.col("geographic_level") == child) & (pl.col(key) == p["geography_code"]) & same_cell
                )
                if child == "Regional":
                    kids = kids.filter(pl.col("geography_code").str.starts_with("E12"))
                if (child, parent) in OUTSIDE:
                    parent_col, child_col = OUTSIDE[(child, parent)]
                    kids = pl.concat([kids, survey_truth.filter(
                        (pl.col("geographic_level") == "School") & (pl.col(parent_col) == p["geography_code"])
                        & pl.col(child_col).is_null() & same_cell)])  # fmt: skip
                on = ["geographic_level", "geography_code", *CELL_KEY]
                shown_kids = shown.join(kids.select(on), on=on)
                hidden = kids.join(shown_kids.select(on), on=on, how="anti")
                if hidden.height == 1:
                    guess = p["_additive"] - shown_kids["_additive"].sum()
                    recovered.append((part, parent, p["geography_code"], p["indicator"], p["breakdown_value"], guess))
    return recovered


def recover_across_breakdowns(published: pl.DataFrame, truth: pl.DataFrame) -> list[tuple]:
    """Total minus the shown subgroups of a breakdown: recovered whenever exactly one subgroup is hidden."""
    geo = ["time_period", "time_identifier", "geographic_level", "geography_code", "source", "indicator"]
    recovered = []
    subs_truth = truth.filter((pl.col("source") != "admin") & (pl.col("breakdown") != "Total"))
    for part in ADDITIVE:
        shown = additive(published, part)
        totals = shown.filter(pl.col("breakdown") == "Total")
        for t in totals.iter_rows(named=True):
            for bd in subs_truth["breakdown"].unique().to_list():
                subs = subs_truth.filter(
                    pl.all_horizontal([pl.col(c) == t[c] for c in geo]) & (pl.col("breakdown") == bd)
                )
                shown_subs = shown.join(
                    subs.select(*geo, "breakdown", "breakdown_value"), on=[*geo, "breakdown", "breakdown_value"]
                )
                if subs.height - shown_subs.height == 1:
                    recovered.append((part, t["geography_code"], t["indicator"], bd,
                                      t["_additive"] - shown_subs["_additive"].sum()))  # fmt: skip
    return recovered


def as_staff(mart: pl.DataFrame) -> pl.DataFrame:
    """The fixture's pupil survey as a staff survey (indicators staff_..., breakdown role, no SEND, no gaps)."""
    pupil = mart.filter((pl.col("source") == "pupil_belonging") & pl.col("breakdown").is_in(["Total", "gender"])
                        & ~pl.col("indicator").str.contains("gap"))  # fmt: skip
    return pupil.with_columns(source=pl.lit("staff_belonging"), indicator="staff_" + pl.col("indicator"),
                              breakdown=pl.col("breakdown").replace({"gender": "role"}))  # fmt: skip


@pytest.mark.parametrize("instrument", ["pupil_belonging", "staff_belonging"])
def test_attacker_cannot_recover_suppressed_cells(instrument):
    """Numerators and denominators of every survey figure (respondents, score sums, agreeing and answering
    counts), subtracted across levels and across breakdowns: nothing suppressed comes out."""
    truth = load_mart() if instrument == "pupil_belonging" else as_staff(load_mart())
    published = apply_disclosure_control(truth, **DISCLOSURE)
    assert published.filter(pl.col("published_status") == "suppressed").height > 20
    assert recover_across_levels(published, truth) == []
    assert recover_across_breakdowns(published, truth) == []


@pytest.mark.parametrize("instrument", ["pupil_belonging", "staff_belonging"])
def test_attacker_succeeds_without_secondary_suppression(instrument):
    """The attack is real: with primary suppression only, it recovers exact hidden respondents."""
    truth = load_mart() if instrument == "pupil_belonging" else as_staff(load_mart())
    primary_only = truth.with_columns(
        pl.when((pl.col("source") != "admin") & (pl.col("respondents") < 10))
        .then(pl.lit("suppressed"))
        .otherwise(pl.col("value_status"))
        .alias("published_status")
    )
    across_levels = recover_across_levels(primary_only, truth)
    across_breakdowns = recover_across_breakdowns(primary_only, truth)
    assert across_levels and across_breakdowns
    # e.g. a trust minus its other schools gives the hidden school's exact respondents
    hidden_truth = set(truth.filter(pl.col("respondents") < 10)["respondents"].to_list())
    assert any(r[0] == "numerator" and r[3].endswith("respondents") and round(r[5]) in hidden_truth
               for r in across_levels)  # fmt: skip


def test_england_minus_its_regions_cannot_reveal_a_school_outside_every_region():
    """An independent school (no region, no LA) with 6 respondents counts in England and in no region: with both
    regions shown, England minus the regions would be its 6. The smallest region goes too."""
    rows = [
        cell("National", "E92000001", "Total", "Total", n=100 + 120 + 6, schools=11),
        cell("Regional", "E12000001", "Total", "Total", n=100, schools=5),
        cell("Regional", "E12000002", "Total", "Total", n=120, schools=5),
        cell("School", "900001", "Total", "Total", n=6),
    ]
    rows = [r | {"indicator": ind} for r in rows for ind in ("respondents", "belonging_score_mean")]
    truth = pl.DataFrame(rows, infer_schema_length=None)
    published = run(rows)
    st = statuses(published.filter(pl.col("indicator") == "respondents"))
    assert st == {("School", "900001", "Total"): "suppressed", ("Regional", "E12000001", "Total"): "suppressed",
                  ("Regional", "E12000002", "Total"): "value", ("National", "E92000001", "Total"): "value"}
    assert recover_across_levels(published, truth) == []
    # every school outside the regions shown: they add up in the open, and no region needs to go
    shown_school = [r | {"respondents": 16, "denominator": 16.0, "numerator": 960.0} if r["geography_code"] == "900001"
                    else r for r in rows]  # fmt: skip
    assert set(statuses(run(shown_school)).values()) == {"value"}


def test_a_region_minus_its_las_cannot_reveal_a_school_with_no_la():
    """The same one level down: a school with a region and no LA."""
    rows = [
        cell("Regional", "E12000001", "Total", "Total", n=60 + 70 + 4, schools=9),
        cell("Local authority", "E06000001", "Total", "Total", n=60, schools=4, region="E12000001"),
        cell("Local authority", "E06000002", "Total", "Total", n=70, schools=4, region="E12000001"),
        cell("School", "900002", "Total", "Total", n=4, region="E12000001"),
    ]
    published = run(rows)
    assert statuses(published)[("Local authority", "E06000001", "Total")] == "suppressed"
    assert recover_across_levels(published, pl.DataFrame(rows, infer_schema_length=None)) == []


def test_a_response_rate_on_few_schools_does_not_hide_the_trusts_other_figures():
    """A trust of five schools with responses whose census rolls make a rate for two: the rate rests on two
    schools and is suppressed, but the trust's respondents and mean rest on five and stay shown; a rate that
    cannot be computed at all (no usable roll) keeps its own `not_available` and hides nothing."""
    def trust(indicator, n, schools, status="value"):
        row = cell("MAT", "1001", "Total", "Total", n=n, schools=schools, ind=indicator)
        return row | {"value_status": status} | ({"value": None} if status != "value" else {})

    out = run([trust("respondents", 250, 5), trust("belonging_score_mean", 250, 5),
               trust("response_rate_percent", 250, 2)])
    got = {r["indicator"]: r["published_status"] for r in out.iter_rows(named=True)}
    assert got == {"respondents": "value", "belonging_score_mean": "value", "response_rate_percent": "suppressed"}
    out = run([trust("respondents", 250, 5), trust("belonging_score_mean", 250, 5),
               trust("response_rate_percent", 250, 0, status="not_available")])
    got = {r["indicator"]: r["published_status"] for r in out.iter_rows(named=True)}
    assert got == {"respondents": "value", "belonging_score_mean": "value",
                   "response_rate_percent": "not_available"}


def test_grouping_ids_as_numbers_or_numbered_combinations_give_the_same_statuses(monkeypatch):
    """A grouping's id is its columns' codes as the digits of one number when that fits in 63 bits; else the
    distinct combinations are numbered and joined back. Both group the same rows: the same statuses."""
    from publication import disclosure
    from publication.disclosure import _with_ids

    mart = load_mart()
    as_digits = apply_disclosure_control(mart, **DISCLOSURE)
    frame = pl.DataFrame({"a": ["x", "y", None, "x", None], "b": [1, 1, 2, 1, 2], "c": ["p", None, "p", "p", None]})
    digits = _with_ids(frame, {"_ab": ["a", "b"], "_abc": ["a", "b", "c"]})
    monkeypatch.setattr(disclosure, "ID_BITS", 1)  # no grouping fits: every id numbered and joined
    numbered = _with_ids(frame, {"_ab": ["a", "b"], "_abc": ["a", "b", "c"]})
    for ids in (digits, numbered):  # rows 0 and 3 equal; 2 and 4 equal on a, b (null equal to null), not on c
        ab, abc = ids["_ab"].to_list(), ids["_abc"].to_list()
        assert ab[0] == ab[3] and ab[2] == ab[4] and len({ab[0], ab[1], ab[2]}) == 3
        assert abc[0] == abc[3] and len(set(abc)) == 4
    assert apply_disclosure_control(mart, **DISCLOSURE)["published_status"].equals(as_digits["published_status"])
    assert (as_digits["published_status"] == "suppressed").sum() > 0
