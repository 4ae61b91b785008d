"""The indicator catalogue (indicators/catalogue.yaml): read once, checked when read, one answer per question.

Each rule of the loader is shown passing on the real catalogue and failing, with the entry named, on an entry
that breaks it.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from indicators import (
    ATTENDANCE_LEVELS,
    CATALOGUE,
    LEVELS,
    PUBLISHED_LEVELS,
    CatalogueError,
    catalogue,
    dfe_counts,
    items_of,
)
from indicators.docs import catalogue_html

HARMONISED = ("sen_", "primary_need", "ethnic", "school_type", "establishment_type", "provider_type")


def entries() -> list[dict]:
    return yaml.safe_load(CATALOGUE.read_text(encoding="utf-8"))["indicators"]


def write(tmp_path: Path, items: list[dict], defaults: dict | None = None) -> Path:
    path = tmp_path / "catalogue.yaml"
    doc = {"defaults": defaults or yaml.safe_load(CATALOGUE.read_text())["defaults"], "indicators": items}
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return path


def test_the_catalogue_reads_and_every_published_name_is_screener_safe():
    cat = catalogue()
    ids = [e.id for e in cat.expanded()]
    assert len(ids) == len(set(ids))
    assert {"suspension_rate", "belonging_gap_send", "staff_belonging_score_mean", "awkward_disagree_percent",
            "belong_agree_percent", "staff_valued_agree_percent"} <= set(ids)  # fmt: skip
    for e in cat.expanded():
        assert not any(p in e.published.name for p in HARMONISED), e.published.name
        # representation ratios are 1 by construction above trusts: published where they mean something
        # the DfE's by-characteristic rows exist at Local authority, Regional and National level only
        expected = {"representation": ("School", "MAT"), "published": ATTENDANCE_LEVELS,
                    "characteristic_rate": PUBLISHED_LEVELS, "risk_ratio": PUBLISHED_LEVELS}.get(e.formula, LEVELS)  # fmt: skip
        assert e.levels == expected, e.id
    # roll stability: the headline Year 10 -> 11, every secondary transition, and Year 7 -> 11 over four years
    cohorts = {e.id: (e.denominator, e.numerator, e.years) for e in cat.of(formula="cohort")}
    assert cohorts == {
        "roll_stability_y10_y11_percent": ("census.pupils_year_10", ("census.pupils_year_11",), 1),
        "roll_stability_y7_y8_percent": ("census.pupils_year_7", ("census.pupils_year_8",), 1),
        "roll_stability_y8_y9_percent": ("census.pupils_year_8", ("census.pupils_year_9",), 1),
        "roll_stability_y9_y10_percent": ("census.pupils_year_9", ("census.pupils_year_10",), 1),
        "roll_stability_y7_y11_percent": ("census.pupils_year_7", ("census.pupils_year_11",), 4),
    }
    # every admin numerator and denominator is a DfE count of the lake
    assert {m for e in cat.of(family="admin") for m in (*e.numerator, e.denominator) if m} <= dfe_counts()


def test_lookup_fills_a_pattern_with_an_item_of_its_own_instrument():
    cat = catalogue()
    item = cat.get("awkward_disagree_percent", "pupil_belonging")
    assert (item.item, item.published.name, item.published.label, item.dp, item.ees_unit) == (
        "awkward", "awkward_disagree_percent",
        "Percent disagreeing: I feel awkward and out of place in my school", 1, "%")  # fmt: skip
    assert cat.get("belong_agree_percent", "pupil_belonging").published.label == (
        "Percent agreeing: I feel like I belong at school")
    staff = cat.get("staff_part_of_team_agree_percent", "staff_belonging")
    assert staff.published.label == "Percent agreeing: I feel part of a team"
    # an item named against its wording is not in the catalogue: outsider counts disagreement
    assert cat.lookup("outsider_agree_percent", "pupil_belonging") is None
    assert cat.lookup("belong_disagree_percent", "pupil_belonging") is None
    # without its source, a name matches a pattern only with an item of the pattern's own instrument
    assert cat.lookup("staff_valued_agree_percent").source == "staff_belonging"
    assert cat.lookup("homework_agree_percent") is None
    # with its source, any item the lake holds for that instrument (an item an older instrument file had)
    assert cat.lookup("homework_agree_percent", "pupil_belonging").item == "homework"
    assert cat.lookup("valued_agree_percent", "staff_belonging") is None  # not `staff_{item}_{answer}_percent`
    assert "awkward" in items_of("pupil_belonging")
    with pytest.raises(CatalogueError, match="no entry for indicator 'nonsense_percent'"):
        cat.get("nonsense_percent", "admin")


def test_published_names_labels_units_and_decimal_places():
    cat = catalogue()
    shown = {e.id: (e.published.name, e.ees_unit, e.dp) for e in cat.expanded()}
    assert shown["sen_support_percent"] == ("special_needs_support_percent", "%", 1)
    assert shown["suspension_rate"] == ("suspension_rate", "", 2)
    assert shown["send_representation_ratio"] == ("special_needs_representation_ratio", "", 2)
    assert shown["belonging_gap_fsm"] == ("belonging_gap_free_meals_points", "", 1)
    assert shown["pupils_headcount"] == ("pupils_headcount", "", 0)
    assert cat.get("staff_belonging_score_mean").published.label == "Mean staff belonging score (0-100)"


def test_disclosure_classes_cover_staff_figures_too():
    cat = catalogue()
    cell = {e.id for e in cat.expanded() if e.disclosure == "survey_cell"}
    assert {"respondents", "belonging_score_mean", "staff_respondents", "staff_belonging_score_mean",
            "staff_belonging_positive_percent"} <= cell  # fmt: skip
    assert {e.id: e.gap_of for e in cat.of(disclosure="survey_gap")} == {"belonging_gap_send": "send",
                                                                         "belonging_gap_fsm": "fsm"}


def test_ranges_are_stated_for_every_indicator():
    cat = catalogue()
    ranges = {e.id: e.range for e in cat}
    assert ranges["belonging_score_mean"] == (0, 100) and ranges["belonging_gap_send"] == (-100, 100)
    assert ranges["suspension_rate"] == (0, None)  # suspensions per 100 pupils can pass 100
    assert ranges["one_plus_suspension_percent"] == (0, None) and not cat.get("one_plus_suspension_percent").share
    assert all(e.range != (None, None) for e in cat)


def bad(**change) -> dict:
    entry = dict(next(e for e in entries() if e["id"] == "suspension_rate"))
    entry.update(change)
    return {k: v for k, v in entry.items() if v is not ...}


@pytest.mark.parametrize("entry, message", [
    (bad(colour="red"), "unknown field"),
    (bad(formula="median"), "`formula` 'median' is not one of"),
    (bad(rollup="mean"), "rolls up as 'ratio_of_sums', not 'mean'"),
    (bad(unit="furlongs"), "`unit` 'furlongs'"),
    (bad(numerator=["exclusions.suspensions"]), "'exclusions.suspensions' is no DfE count"),
    (bad(numerator=["exclusions.susp_rate"]), "no DfE count"),  # published rates are never summed
    (bad(denominator=...), "needs one"),
    (bad(range=[100, 0]), "min is above max"),
    (bad(range=[0]), "`range` must be [min, max]"),
    (bad(disclosure="survey_cell"), "admin figures are `admin`"),
    (bad(gap_of="send"), "a gap has `gap_of`"),
    (bad(breakdowns=["Total", "gender"]), "admin indicators have the Total breakdown only"),
    (bad(levels=["School", "Ward"]), "`levels` must be among"),
    (bad(published={"name": "suspension rate", "label": "x", "grouping": "y"}), "snake_case"),
    (bad(dp=2.5), "`dp` must be a whole number"),
    (bad(definition=""), "`definition` is required"),
    (bad(id="{item}_rate", published={"name": "{item}_rate", "label": "x", "grouping": "y"}),
     "only survey indicators can be patterns"),
    (bad(id="{item}_rate"), "has {item} in its published name"),
    (bad(family="pupil_survey", source="pupil_belonging"), "computes admin indicators, not pupil_survey"),
    (bad(years=1), "a cohort has `years`"),  # a ratio of one year's counts looks back nowhere
    (bad(formula="cohort"), "a cohort has `years`"),
    (bad(formula="cohort", years=0), "`years` must be a whole number of academic years"),
])  # fmt: skip
def test_a_broken_entry_is_refused_with_its_id(tmp_path, entry, message):
    with pytest.raises(CatalogueError) as error:
        catalogue(write(tmp_path, [entry]))
    assert message in str(error.value)
    assert f"entry {entry['id']!r}" in str(error.value) and "catalogue.yaml" in str(error.value)


def test_duplicates_and_broken_yaml_are_refused(tmp_path):
    first = bad()
    with pytest.raises(CatalogueError, match="same id"):
        catalogue(write(tmp_path, [first, first]))
    other = bad(id="suspension_rate_again")
    with pytest.raises(CatalogueError, match="same published name"):
        catalogue(write(tmp_path, [first, other]))
    broken = tmp_path / "broken.yaml"
    broken.write_text("indicators:\n  - id: x\n    definition: a: b: c\n", encoding="utf-8")
    with pytest.raises(CatalogueError, match="not valid YAML"):
        catalogue(broken)


def test_the_catalogue_page_shows_every_entry():
    page = catalogue_html(catalogue())
    for e in catalogue():
        assert f"<code>{e.id}</code>" in page
    assert "exclusions.suspension / exclusions.headcount × 100" in page
