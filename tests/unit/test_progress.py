"""What a refresh shows while it runs and when it ends: progress bars on a terminal, plain time-stamped lines
in a log or CI, and a summary naming what was loaded, quarantined and published and each gate's result."""

from __future__ import annotations

import io

import dagster as dg

from ingestion.load import FileOutcome
from orchestration.refresh import Monitor, RunTotals, outcome_text, summarise
from orchestration.settings import Home


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def feed(monitor: Monitor) -> None:
    monitor.file_outcome(FileOutcome("dfe/a.csv", "loaded", rows_loaded=10))
    monitor.file_outcome(FileOutcome("dfe/b.csv", "quarantined_file", message="not an EES open-data CSV"))
    monitor.file_outcome(FileOutcome("dfe/notes.md", "ignored", message="a .md file (notes, a record): not data"))
    for n in (1, 2, 3):
        monitor.dbt_line(f"{n} of 3 OK created sql table model main.m{n} ........ [OK in 0.1s]")
    monitor.dbt_line("Running with dbt=1.11.16")  # not a progress line
    for table, passed in (("dfe_census", True), ("dfe_exclusions", False)):
        monitor._check(dg.AssetCheckEvaluation(
            asset_key=dg.AssetKey(["lake", table]), check_name="raw_gate", passed=passed,
            metadata={"message": "all 3 checks passed" if passed else "1 of 3 checks failed; first: duplicate key",
                      "failures": "" if passed else "dfe_exclusions.school_urn no_duplicate_keys: 100001 twice"}))
    monitor._check(dg.AssetCheckEvaluation(asset_key=dg.AssetKey(["mart_indicators"]), check_name="not_null_x",
                                           passed=True, metadata={}))


def test_a_terminal_gets_progress_bars_with_counts(tmp_path):
    out = Terminal()
    monitor = Monitor(out=out, terminal=True, totals=RunTotals(landing_entries=3, gates=2, publishes=True))
    with monitor.shown():
        feed(monitor)
    shown = out.getvalue()
    for text in ("landing files read", "3/3", "dbt models and tests", "gates", "2/2", "extracts and release", "0/2"):
        assert text in shown, text
    assert "[    " not in shown  # no plain lines on a terminal


def test_a_log_gets_plain_lines_and_everything_goes_to_the_run_log(tmp_path):
    out, log = io.StringIO(), io.StringIO()
    monitor = Monitor(out=out, log=log, terminal=False, totals=RunTotals(landing_entries=3, gates=2))
    with monitor.shown():
        feed(monitor)
    lines = out.getvalue().splitlines()
    assert lines == [line for line in lines if line.startswith("[") and "s] " in line]  # time-stamped
    assert any(line.endswith("gate raw_gate on lake/dfe_census: passed") for line in lines)
    assert any(line.endswith("gate raw_gate on lake/dfe_exclusions: FAILED") for line in lines)
    assert "\x1b[" not in out.getvalue()  # no terminal codes in a log
    assert "gate raw_gate on lake/dfe_exclusions: FAILED" in log.getvalue()
    assert monitor.dbt_done == 3 and monitor.dbt_total == 3


def test_the_summary_names_files_gates_and_what_to_do(tmp_path):
    home = Home(tmp_path / "home")
    monitor = Monitor(totals=RunTotals(landing_entries=3, gates=3, gate_names=(
        ("lake/dfe_census", "raw_gate"), ("lake/dfe_exclusions", "raw_gate"), ("publication/extracts", "extract_gate"))))
    feed(monitor)
    monitor.failed_steps.append({"step": "lake_dfe_exclusions_raw_gate", "error": "1 blocking asset check failed"})
    monitor.step_metadata["lake_dfe"] = {"files_loaded": 1, "files_skipped_unchanged": 0, "files_quarantined": 1,
                                         "files_refused": 0, "files_ignored": 1, "files_retired": 0,
                                         "rows_loaded": 10, "rows_quarantined": 0}
    outcome = summarise(home, monitor, "0123456789abcdef", "refresh", succeeded=False)
    outcome["log"] = str(tmp_path / "refresh.log")
    text = outcome_text(outcome)
    assert outcome["status"] == "failed"
    assert text.startswith("refresh 01234567: FAILED after")
    assert text.splitlines()[0].endswith("s; nothing published, releases/current unchanged.")
    for expected in ("loaded: 1 files (10 rows)", "quarantined: 1 whole files", "ignored: 1 files",
                     "quarantined landing/dfe/b.csv: not an EES open-data CSV",
                     "ignored landing/dfe/notes.md: a .md file", "gates: 1 of 3 passed",
                     "passed  raw_gate     lake/dfe_census", "FAILED  raw_gate     lake/dfe_exclusions\n",
                     "not run extract_gate publication/extracts (stopped by the failed gate)",
                     "dbt tests: 1 of 1 passed", "gate failed: lake/dfe_exclusions / raw_gate",
                     "100001 twice", "belonging retire FILE|SHA256", f"log (dbt output, stack traces): {tmp_path}"):
        assert expected in text, expected
    assert "step failed" not in text  # the gate's own step failing is the gate failure, said once


def test_the_summary_of_a_published_release_counts_its_extracts(tmp_path):
    import json

    home = Home(tmp_path / "home")
    (home.run_dir("run1")).mkdir(parents=True)
    (home.run_dir("run1") / "release.json").write_text(json.dumps({"release_id": "20261122T190000Z-aaaaaa"}))
    (home.releases / "20261122T190000Z-aaaaaa" / "public").mkdir(parents=True)
    (home.releases / "20261122T190000Z-aaaaaa" / "public" / "manifest.json").write_text(
        json.dumps({"extracts": [{}, {}, {}]}))
    monitor = Monitor(totals=RunTotals(gates=1, gate_names=(("lake/dfe_census", "raw_gate"),)))
    monitor._check(dg.AssetCheckEvaluation(asset_key=dg.AssetKey(["lake", "dfe_census"]), check_name="raw_gate",
                                           passed=True, metadata={}))
    text = outcome_text(summarise(home, monitor, "run1", "refresh", succeeded=True))
    assert text.startswith("refresh run1: published release 20261122T190000Z-aaaaaa in ")
    assert "  published: 3 extracts (.csv, .meta.csv, .parquet) and the manifest in " \
           "releases/20261122T190000Z-aaaaaa/public/" in text
    assert "  gates: 1 of 1 passed" in text
