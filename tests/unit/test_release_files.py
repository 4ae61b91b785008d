"""The public part's own files: the validation summary (a page that works offline) and the data guidance
(every file, level, year and column explained from the catalogue; the symbols; the sources)."""

from __future__ import annotations

import re

import pytest

from publication.disclosure import apply_disclosure_control
from publication.extracts import build_extracts
from publication.guidance import data_guidance
from publication.releases import extract_entries
from publication.validation import validation_html
from tests.conftest import DISCLOSURE, REPO
from tests.unit.test_disclosure import load_mart

LOOKUP = REPO / "dbt_project" / "seeds" / "geography_lookups.csv"
GATES = [
    {"name": "raw_gate", "asset": "lake/dfe_census", "passed": True, "message": "raw_gate: all 4 checks passed",
     "checks_run": 4, "failures": ""},
    {"name": "extract_gate", "asset": "publication/extracts", "passed": True, "checks_run": 120,
     "message": "extract_gates: all 120 checks passed",
     "failures": "[warning] a.csv.region_code: region_for_la (python): a.csv: Local authority rows should carry "
                 "region_code; e.g. [{'column': 'region_code'}]"},
    {"name": "mart_gate", "asset": "mart_indicators", "passed": False, "checks_run": 9,
     "message": "1 of 9 checks failed; first: <script>alert(1)</script>", "failures": "[error] drift"},
    {"name": "unique_mart_indicators_key", "asset": "mart_indicators", "passed": True},  # a dbt test: no message
]  # fmt: skip
INPUTS = [{"file": "dfe/census/2025-26/spc_school_level.csv", "kind": "dfe", "publication": "census",
           "vintage": "ees2024", "rows": 16, "sha256": "ab" * 32},
          {"file": "surveys/pupils_spring.csv", "kind": "survey", "publication": None, "vintage": None, "rows": 900,
           "sha256": "cd" * 32}]  # fmt: skip


@pytest.fixture(scope="module")
def extracts(tmp_path_factory):
    out = tmp_path_factory.mktemp("extracts")
    build_extracts(apply_disclosure_control(load_mart(), **DISCLOSURE), out, LOOKUP)
    return out


def test_the_validation_summary_works_offline_and_shows_every_gate(extracts):
    page = validation_html("R1", GATES, extract_entries(extracts), **DISCLOSURE)
    # nothing loaded from anywhere: no script, no stylesheet link, no web address at all
    assert "<script" not in page.replace("&lt;script&gt;", "") and "<link" not in page
    assert not re.search(r"https?://", page) and "@import" not in page and "url(" not in page
    assert "<style>" in page
    # every gate, failed first; the warnings listed on their own; what a gate said is escaped, never run
    table = page[page.index("<h2>Gates</h2>"):]
    assert table.index("<code>mart_gate</code>") < table.index("<code>raw_gate</code>")
    assert "3 / 4" in page and "FAILED" in page and "<code>unique_mart_indicators_key</code>" in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert 'class="warn">[warning] a.csv.region_code: region_for_la' in page
    # every extract with its rows
    for entry in extract_entries(extracts):
        assert f"<code>{entry['name']}</code></td><td class=\"num\">{entry['rows']}</td>" in page


def test_the_data_guidance_explains_every_file_and_column(extracts):
    text = data_guidance(extracts, release_id="R1", inputs=INPUTS, code={"git_commit": "c0ffee", "dirty": False},
                         versions={"duckdb": "2.0.0", "polars": "2.1.0"}, **DISCLOSURE)
    sections = dict(re.findall(r"^### (\S+)\n(.*?)(?=^### |^## Sources)", text, flags=re.S | re.M))
    names = sorted(p.name.removesuffix(".csv") for p in extracts.glob("*.csv") if not p.name.endswith(".meta.csv"))
    assert sorted(sections) == names
    for name, body in sections.items():
        header = (extracts / f"{name}.csv").read_text(encoding="utf-8").splitlines()[0].split(",")
        rows = dict(re.findall(r"^\| `([a-z0-9_]+)` \| (.*) \|$", body, flags=re.M))
        assert list(rows) == header, name  # every column, in file order
        assert all(len(meaning) > 10 for meaning in rows.values()), name
    la = sections["pupil_belonging_la"]
    assert "- Geographic levels: Local authority" in la and "- Time periods: 2025/26 (Academic year)" in la
    assert "  - `gender`: Boy, Girl, In another way" in la
    # a figure: its catalogue label and definition; its coverage: what its numerator and denominator count
    assert "| `belonging_score_mean` | Mean belonging score (0-100). Mean belonging scale score" in la
    assert ("| `belong_agree_percent_denominator` | Denominator of `belong_agree_percent`: respondents answering "
            "the statement.") in la
    assert "survey figure is shown only from 3 of them" in la
    admin = sections["admin_indicators_mat"]
    assert "Numerator of `suspension_rate`: the DfE count `exclusions.suspension` summed over the schools" in admin
    assert "Denominator of `suspension_rate`: the DfE count `exclusions.headcount`" in admin
    # symbols and why a cell is `c`: each rule with the run's thresholds
    symbols = text[text.index("## Symbols"):text.index("## How figures are made")]
    for words in ("fewer than 10 respondents", "secondary suppression", "fewer than 3 schools",
                  "England minus its regions", "DfE figures keep the DfE's own `c`", "| `x` |", "| `z` |", "| `low` |"):
        assert words in symbols, words
    assert "ratios of sums" in text
    # sources with their versions
    for i in INPUTS:
        assert f"`{i['file']}`" in text and f"`{i['sha256']}`" in text
    assert "census / ees2024" in text and "git commit `c0ffee`" in text and "- duckdb: 2.0.0" in text
    strict = data_guidance(extracts, release_id="R1", inputs=[], code={"git_commit": None}, versions={},
                           min_respondents=20, min_schools=5)
    assert "fewer than 20 respondents" in strict and "fewer than 5 schools" in strict


def test_every_figure_with_a_numerator_and_denominator_has_them_in_words():
    """A new formula in the catalogue must say what its published numerator and denominator count (the roll
    stability `cohort` once reached the release step without: the refresh failed there with a KeyError)."""
    from indicators import catalogue
    from publication.extracts import WITH_PARTS
    from publication.guidance import PARTS

    missing = sorted({e.formula for e in catalogue() if e.kind in WITH_PARTS and e.formula not in PARTS})
    assert missing == []


def test_the_data_guidance_says_what_the_roll_stability_comparison_columns_mean(tmp_path):
    """England's figure beside each row and the low-reliability flag, each in words, in every file that has them;
    and how roll stability is read (a signal, flagged schools in no sum) under "How figures are made"."""
    from tests.unit.test_extracts import ROLL, roll_stability_mart

    build_extracts(roll_stability_mart(), tmp_path, LOOKUP)
    text = data_guidance(tmp_path, release_id="R1", inputs=[], code={"git_commit": None}, versions={}, **DISCLOSURE)
    sections = dict(re.findall(r"^### (\S+)\n(.*?)(?=^### |^## Sources)", text, flags=re.S | re.M))
    for level in ("school", "mat", "la", "regional"):
        assert f"| `{ROLL}_national` | England's `{ROLL}` in the same year, beside every row" in sections[
            f"admin_indicators_{level}"], level
    assert f"{ROLL}_national" not in sections["admin_indicators_national"]
    school = sections["admin_indicators_school"]
    assert (f"| `{ROLL}_flag` | Whether `{ROLL}` is of low reliability: `1` where the school opened, closed (other "
            "than by academy conversion), merged or changed its age range in the window") in school
    assert "`0` where the figure is a plain value" in school and f"`{ROLL}_status` (`low_reliability`)" in school
    assert all(f"{ROLL}_flag" not in sections[f"admin_indicators_{lv}"] for lv in ("mat", "la", "regional", "national"))
    symbols = text[text.index("## Symbols"):text.index("## How figures are made")]
    assert "`<figure>_flag` column of the school files (`1` low reliability, `0` not)" in symbols
    made = text[text.index("## How figures are made"):text.index("## Files")]
    assert "a signal, not a verdict" in made and "(`<figure>_national`)" in made
