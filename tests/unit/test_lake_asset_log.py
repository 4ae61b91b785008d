"""A lake asset's run log names the first loaded files and counts the rest, in one message (each message is a
write to the Dagster event log: a national load logged 9,000 lines, minutes of the refresh, and the demo's
three lake steps 50 messages); every quarantined or refused file is still named."""

from __future__ import annotations

from ingestion.load import FileOutcome, LoadReport
from orchestration.assets.lake import LOADED_FILES_LOGGED, SURVEY_TABLES, _results


class _Context:
    def __init__(self):
        self.infos: list[str] = []
        self.warnings: list[str] = []
        self.log = type("Log", (), {"info": lambda _, m: self.infos.append(m),
                                    "warning": lambda _, m: self.warnings.append(m)})()


def test_many_loaded_files_are_counted_not_each_logged():
    report = LoadReport("surveys", [
        *(FileOutcome(f"surveys/export_{i}.csv", "loaded", "qualtrics", "pupil_belonging", rows_loaded=10)
          for i in range(LOADED_FILES_LOGGED + 30)),
        FileOutcome("surveys/broken.csv", "quarantined_file", message="not a survey export"),
        FileOutcome("surveys/link.csv", "refused", message="a symbolic link"),
    ])
    context = _Context()
    results = list(_results(context, report, SURVEY_TABLES))
    assert len(results) == len(SURVEY_TABLES)
    assert len(context.infos) == 1  # one message, a line a file
    lines = context.infos[0].split("\n")
    assert len(lines) == LOADED_FILES_LOGGED + 1
    assert lines[0].startswith("loaded surveys/export_0.csv (qualtrics, pupil_belonging): 10 rows")
    summary = lines[-1]
    assert summary.startswith(f"loaded {LOADED_FILES_LOGGED + 30} files (30 more than named above): "
                              f"{10 * (LOADED_FILES_LOGGED + 30)} rows")
    assert "'qualtrics/pupil_belonging': 50" in summary
    assert context.warnings == ["quarantined surveys/broken.csv: not a survey export",
                                "refused landing/surveys/link.csv: a symbolic link"]


def test_a_few_loaded_files_are_each_named():
    report = LoadReport("surveys", [FileOutcome("surveys/a.csv", "loaded", "msforms", "staff_belonging", 3)])
    context = _Context()
    list(_results(context, report, SURVEY_TABLES))
    assert context.infos == ["loaded surveys/a.csv (msforms, staff_belonging): 3 rows, 0 quarantined"]
