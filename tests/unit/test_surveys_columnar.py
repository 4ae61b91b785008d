"""The survey reader works column-wise on many exports at once: it must say exactly what reading each export
on its own says, and its column-wise date rules must be `parse_date`'s."""

from __future__ import annotations

from datetime import date

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from ingestion.surveys import read_survey, read_surveys
from ingestion.surveys.formats import date_order, order_hint, parse_date, parse_dates
from tests.unit.test_surveys import KEY, SETTINGS, SURVEYS, schools, source_of  # noqa: F401 (schools: fixture)

DATES = [
    "2026-03-10 09:15:00", "2026/04/15 10:23:45 AM GMT+1", "2026-2-30", "0000-01-01", "4/15/2026 22:38",
    "15/04/2026 08:01", "2/3/26", "02-05-2026", "31-02-2026", "13/13/2026", "garbled", "", "  2026-09-01  ",
    "1/2/202", None,
]


@pytest.mark.parametrize("order", ["mdy", "dmy"])
def test_parse_dates_column_wise_is_parse_date(order):
    frame = pl.DataFrame({"cell": DATES, "order": [order] * len(DATES)},
                         schema={"cell": pl.String, "order": pl.String})
    got = frame.select(parse_dates(pl.col("cell"), pl.col("order"))).to_series().to_list()
    assert got == [parse_date(v, order) for v in DATES]
    assert got[6] == (date(2026, 2, 3) if order == "mdy" else date(2026, 3, 2))  # "2/3/26" in the file's order
    assert got[2] is None and got[3] is None  # 30 February and year 0 make no date


@pytest.mark.parametrize("cells", [
    ["4/15/2026 22:38", "1/2/2026"],  # second part above 12: month first
    ["1/2/2026", "15/04/2026 08:01"],  # the first telling cell says day first
    ["1/2/2026", "3/4/2026"],  # none tells: month first, as `date_order`
    ["2026-04-15", None],
])
def test_order_hint_is_date_order(cells):
    hint = pl.DataFrame({"c": cells}, schema={"c": pl.String}).select(order_hint(pl.col("c"))).item()
    assert (hint or "mdy") == date_order(cells)


BATCH = ["qualtrics_pupil_codes_exclusions.csv", "qualtrics_pupil_labels.csv", "googleforms_pupil_labels.csv",
         "qualtrics_staff_codes_embedded_urn.csv", "surveymonkey_staff_labels_100003.csv",
         "redcap_pupil_codes.csv", "qualtrics_legacy_pupil_codes.csv"]


def test_a_batch_reads_each_export_as_it_reads_alone(schools):  # noqa: F811
    sources = [source_of(SURVEYS / name) for name in BATCH]
    together = read_surveys(sources, schools=schools, pseudonym_key=KEY, settings=SETTINGS)
    assert sum(r.quarantine.height for r in together) >= 7  # the exclusions fixture breaks every rule
    for source, batched in zip(sources, together, strict=True):
        alone = read_survey(source, schools=schools, pseudonym_key=KEY, settings=SETTINGS)
        for table in ("survey_responses", "survey_answers", "survey_items"):
            assert_frame_equal(batched.tables[table], alone.tables[table])
        assert_frame_equal(batched.quarantine, alone.quarantine)
        assert (batched.exclusions, batched.summary, batched.rows_read) == (
            alone.exclusions, alone.summary, alone.rows_read)


def test_a_file_no_tool_wrote_is_refused_alone_in_its_batch(tmp_path, schools):  # noqa: F811
    other = tmp_path / "notes.csv"
    other.write_text("a,b\n1,2\n", encoding="utf-8")
    results = read_surveys([source_of(SURVEYS / BATCH[1]), source_of(other)], schools=schools,
                           pseudonym_key=KEY, settings=SETTINGS)
    assert results[0].tables["survey_responses"].height == 3
    assert isinstance(results[1], Exception) and "notes.csv: not recognised: a CSV with header 'a, b'" in str(results[1])
