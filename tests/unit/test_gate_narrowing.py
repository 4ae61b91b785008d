"""Polars narrows, Great Expectations judges (expectations/runner.py `candidates`, `narrow`): a gate run on a
polars frame (narrowed to its candidate rows) reports exactly what GX reports on the whole frame as pandas,
with the same row numbers. Each check's values are chosen at the edges of its candidate rule."""

import polars as pl
import pytest

from expectations.extracts import FORMULA_CANDIDATE, FORMULA_CELL, WHITESPACE_CANDIDATE
from expectations.runner import Check, candidates, narrow, run_suite

FRAME = pl.DataFrame({
    "key": ["a", "b", "c", "b", "e", None, None],
    "n": [1.0, 0.0, None, -5.0, 3.0, 10.0, 11.0],
    "text": ["x", " y", "z\x1c", "-1.5", "=1", "-x", None],
    "code": ["E06000001", "E6000001", None, "E06000002", "Total", "E10000002", "E06000003"],
    "must_be_null": [None, None, "shown", None, None, None, None],
})  # fmt: skip
CHECKS = [
    Check("unique", "expect_column_values_to_be_unique", {"column": "key"}, "dup", context_columns=("n",)),
    Check("compound", "expect_compound_columns_to_be_unique", {"column_list": ["key", "must_be_null"]}, "dup2"),
    Check("at_least_one", "expect_column_values_to_be_between", {"column": "n", "min_value": 1}, "small"),
    Check("at_most_ten", "expect_column_values_to_be_between", {"column": "n", "max_value": 10}, "big"),
    Check("whitespace", "expect_column_values_to_not_match_regex", {"column": "text", "regex": r"^\s|\s$"}, "ws",
          candidate_regex=WHITESPACE_CANDIDATE),
    Check("formula", "expect_column_values_to_not_match_regex", {"column": "text", "regex": FORMULA_CELL}, "f",
          candidate_regex=FORMULA_CANDIDATE),
    Check("code_form", "expect_column_values_to_match_regex", {"column": "code", "regex": r"^E(?:0[6-9]|10)\d{6}$"},
          "code"),
    Check("no_total", "expect_column_values_to_not_be_in_set", {"column": "code", "value_set": ["Total"]}, "total"),
    Check("null", "expect_column_values_to_be_null", {"column": "must_be_null"}, "null"),
    Check("not_listed", "expect_column_values_to_not_match_regex_list", {"column": "text", "regex_list": [r"^=", "x$"]},
          "listed"),
]  # fmt: skip


def _found(result) -> dict:
    return {f.rule: (f.message, f.offending) for f in result.failures}


def test_narrowed_gate_reports_what_the_whole_frame_reports():
    whole = run_suite("whole", FRAME.to_pandas(), CHECKS)
    narrowed = run_suite("narrowed", FRAME, CHECKS)
    assert _found(narrowed) == _found(whole)
    found = _found(narrowed)
    assert set(found) == {"unique", "compound", "at_least_one", "at_most_ten", "whitespace", "formula", "code_form",
                          "no_total", "null", "not_listed"}  # fmt: skip
    assert found["whitespace"][1] == [{"row": 2, "text": " y"}, {"row": 3, "text": "z\x1c"}]  # \x1c: Python's \s
    assert found["formula"][1] == [{"row": 5, "text": "=1"}, {"row": 6, "text": "-x"}]  # not -1.5, a number
    assert found["at_least_one"][1] == [{"row": 2, "n": 0.0}, {"row": 4, "n": -5.0}]
    assert found["not_listed"][1] == [{"row": 1, "text": "x"}, {"row": 5, "text": "=1"}, {"row": 6, "text": "-x"}]


def test_a_regex_list_check_narrows_to_the_values_matching_any_pattern():
    """The personal-data column check of the extract gate (one suite with the extract's rows: it must narrow)."""
    check = next(c for c in CHECKS if c.name == "not_listed")
    assert list(narrow(FRAME, [check]).index) == [0, 4, 5]


def test_narrowing_keeps_only_candidate_rows_and_their_row_numbers():
    pdf = narrow(FRAME, [c for c in CHECKS if c.name in ("formula", "null")])
    assert list(pdf.index) == [2, 3, 4, 5]  # "-1.5", "=1", "-x" may be formulas; row 2 shows a value
    assert narrow(FRAME, []).empty


def test_a_candidate_rule_that_is_too_narrow_would_lose_a_failure():
    # polars' \s does not match \x1c: narrowing on the check's own regex would drop the cell GX fails
    own = Check("ws", "expect_column_values_to_not_match_regex", {"column": "text", "regex": r"^\s|\s$"}, "ws")
    assert FRAME.filter(candidates(own))["text"].to_list() == [" y"]
    widened = Check(**{**own.__dict__, "candidate_regex": WHITESPACE_CANDIDATE})
    assert FRAME.filter(candidates(widened))["text"].to_list() == [" y", "z\x1c"]


@pytest.mark.parametrize("check", [
    Check("lookaround", "expect_column_values_to_not_match_regex", {"column": "text", "regex": FORMULA_CELL}, "f"),
    Check("mostly", "expect_column_values_to_be_null", {"column": "must_be_null", "mostly": 0.5}, "m"),
    Check("other", "expect_column_mean_to_be_between", {"column": "n", "min_value": 0}, "o"),
])  # fmt: skip
def test_checks_without_a_candidate_rule_see_every_row(check):
    assert candidates(check) is None
    assert len(narrow(FRAME, [check])) == FRAME.height


@pytest.mark.parametrize(("height", "passes"), [(0, False), (1, False), (2, True), (7, True)])
def test_a_minimum_row_count_is_judged_on_as_many_rows_as_it_needs(height, passes):
    check = Check("enough", "expect_table_row_count_to_be_between", {"min_value": 2}, "too few")
    frame = FRAME.head(height)
    assert len(narrow(frame, [check])) == min(height, 2)
    assert run_suite("rows", frame, [check]).passed is passes
