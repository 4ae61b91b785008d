"""Gates: Great Expectations suites (expectations/) run as blocking Dagster asset checks.

A failing check stops every downstream asset, so nothing is published. Each check's evaluation (passed,
message, checks run, Data Docs page) is recorded by Dagster; the release collects the run's evaluations into
its manifest and its validation summary. GX Data Docs are written to runs/<run_id>/data_docs/ (they load their
styles from CDNs, so they stay there: the release's validation summary is the page that works offline).
"""


import dagster as dg

from ingestion.lake import Lake
from orchestration.assets.lake import DFE_TABLES, GIAS_TABLES, SURVEY_TABLES, lake_key
from orchestration.assets.publication import EXTRACTS_KEY, MART_KEY
from orchestration.dbt import FULL_REBUILD_TAG
from orchestration.resources import HomeResource
from orchestration.settings import GEOGRAPHY_LOOKUP, Home, duckdb_connect

MAX_FAILURES_SHOWN = 10


def to_check_result(context, h: Home, gate, asset_key: dg.AssetKey | None = None) -> dg.AssetCheckResult:
    """The gate as a Dagster check evaluation (of `asset_key`, in a step checking several assets): the release
    reads these back from the run (gate_results)."""
    failures = gate.failures[:MAX_FAILURES_SHOWN]
    if gate.passed:
        message = f"{gate.name}: all {gate.checks_run} checks passed"
    else:
        first = gate.errors[0] if gate.errors else gate.failures[0]
        message = f"{len(gate.errors)} of {gate.checks_run} checks failed; first: {first}"
    if gate.scope:  # what was validated, when not everything (the rest passed the current release's gates)
        message += f" ({gate.scope})"
    metadata = {
        "message": message,
        "checks_run": gate.checks_run,
        "failures": "\n".join(str(f) for f in failures) + (
            f"\n... and {len(gate.failures) - len(failures)} more" if len(gate.failures) > len(failures) else ""),
        # the same, structured (table, column, rule, message, offending rows): what `last_refresh.json` keeps
        "failure_details": dg.MetadataValue.json(gate.as_dict()["failures"][:MAX_FAILURES_SHOWN]),
    }
    if gate.scope:
        metadata["scope"] = gate.scope
    if gate.data_docs:
        metadata["data_docs"] = dg.MetadataValue.path(str(gate.data_docs))
    return dg.AssetCheckResult(passed=gate.passed, severity=dg.AssetCheckSeverity.ERROR, metadata=metadata,
                               asset_key=asset_key)


def _raw_checks(family: str, tables: tuple[str, ...]) -> dg.AssetChecksDefinition:
    """The raw gates of one lake asset's tables, one blocking check per table, run in one step (a step per table
    cost its own Dagster events, settings, DuckDB connection and GX set-up: 11 steps in every refresh). Every
    table is checked, then the step fails if any gate failed, which stops everything downstream."""
    specs = [dg.AssetCheckSpec("raw_gate", asset=lake_key(t), blocking=True,
                               description=f"Raw gate on {t}: no duplicate keys within a file, no newer file with far "
                               "fewer schools (expectations/raw.py; row rules are ingestion's). Checks the lake files "
                               "not yet published (all of them on a full rebuild).") for t in tables]

    @dg.multi_asset_check(specs=specs, name=f"lake_{family}_raw_gate", can_subset=True)
    def check(context: dg.AssetCheckExecutionContext, home: HomeResource):
        from expectations.raw import raw_gate_lake
        from expectations.runner import data_docs_once

        # one table's gate can be run on its own (the UI's "execute" on one check): only the selected ones
        selected = [t for t in tables if dg.AssetCheckKey(lake_key(t), "raw_gate") in context.selected_asset_check_keys]
        h = home.home()
        checked = checked_inputs(h, context.run)
        con = duckdb_connect(h.root, h.settings)
        try:
            with data_docs_once():
                gates = [raw_gate_lake(table, Lake(h.lake).table_dir(table), con, checked=checked,
                                       row_count_tolerance=h.settings["gates"]["row_count_tolerance"],
                                       data_docs_dir=h.run_dir(context.run.run_id) / "data_docs")
                         for table in selected]
        finally:
            con.close()
        for table, gate in zip(selected, gates, strict=True):
            yield to_check_result(context, h, gate, asset_key=lake_key(table))

    return check


def carried_over(h: Home, run) -> dict | None:
    """The current release's public manifest when its gates' verdicts carry over to this run, else None (every
    gate validates everything): there is a current release, this is not a full rebuild, and that release was
    judged by the same code, indicator catalogue, settings and library versions as this run would be (its
    fingerprint's parts other than the inputs: publication.releases.release_fingerprint). A rule's verdict on the
    same bytes is then the same, so what the release published is not validated again."""
    key = (str(h.root), run.run_id)  # the gates of one run judge against one release: worked out once per run
    if key not in _CARRIED_OVER:
        _CARRIED_OVER.clear()
        _CARRIED_OVER[key] = _carried_over(h, run)
    return _CARRIED_OVER[key]


_CARRIED_OVER: dict[tuple[str, str], dict | None] = {}


def _carried_over(h: Home, run) -> dict | None:
    import json

    from indicators import catalogue_path
    from publication.releases import current_release, release_fingerprint, release_parts

    current = current_release(h.root)
    # the manifest is in the release's public part (release_parts: older releases kept it in the folder itself)
    if run.tags.get(FULL_REBUILD_TAG) == "true" or current is None or not release_parts(current).manifest.exists():
        return None
    manifest = json.loads(release_parts(current).manifest.read_text(encoding="utf-8"))
    before = (manifest.get("fingerprint") or {}).get("parts") or {}
    now = release_fingerprint(inputs=[], settings=h.settings, catalogue_file=catalogue_path())["parts"]
    return manifest if all(before.get(k) == v for k, v in now.items() if k != "inputs") else None


def checked_inputs(h: Home, run) -> set[str] | None:
    """The sha256 of the landing files the current release was built from, when its verdicts carry over
    (`carried_over`): their lake files passed every gate then, and are not checked again. None: check
    everything."""
    manifest = carried_over(h, run)
    return None if manifest is None else {i["sha256"] for i in manifest.get("inputs", []) if i.get("sha256")}


raw_checks = [_raw_checks("gias", GIAS_TABLES), _raw_checks("dfe", DFE_TABLES), _raw_checks("surveys", SURVEY_TABLES)]


@dg.asset_check(asset=MART_KEY, name="mart_gate", blocking=True,
                description="Every indicator in the catalogue and within its range, numerator <= denominator "
                "for shares, drift against the current release, reconciliation with the DfE's own aggregate rows "
                "(expectations/marts.py; keys and relationships are dbt tests). Row rules on the source periods "
                "whose rows changed since the current release (all of them on a full rebuild); the mart's size, "
                "drift and reconciliation on the whole mart, in DuckDB.")
def mart_gate_check(context: dg.AssetCheckExecutionContext, home: HomeResource) -> dg.AssetCheckResult:
    from expectations.marts import mart_gate_db
    from expectations.runner import data_docs_once
    from publication.releases import current_release, release_parts

    h = home.home()
    gates = h.settings["gates"]
    scratch = h.run_dir(context.run.run_id)
    scratch.mkdir(parents=True, exist_ok=True)
    current = current_release(h.root)
    previous = release_parts(current).warehouse if current is not None else None
    previous = previous if previous is not None and previous.exists() else None
    con = duckdb_connect(h.root, h.settings)
    try:
        con.execute("attach ? as gate_warehouse (read_only)", [str(h.warehouse)])
        if previous is not None:
            con.execute("attach ? as gate_release (read_only)", [str(previous)])
        with data_docs_once():
            gate = mart_gate_db(
                con, "gate_warehouse.main.mart_indicators",
                "gate_release.main.mart_indicators" if previous is not None else None,
                reconciliation=con.sql("select * from gate_warehouse.main.mart_reconciliation").pl(),
                row_count_tolerance=gates["row_count_tolerance"],
                headline_tolerance=gates["headline_tolerance"],
                reconciliation_tolerance=gates["reconciliation_tolerance"],
                absence_enrolment_min_share=gates["absence_enrolment_min_share"],
                suppressed_cell_max=gates["suppressed_cell_max"],
                carry_over=carried_over(h, context.run) is not None,
                scratch=scratch,
                data_docs_dir=h.run_dir(context.run.run_id) / "data_docs",
            )  # fmt: skip
    finally:
        con.close()
    return to_check_result(context, h, gate)


@dg.asset_check(asset=EXTRACTS_KEY, name="extract_gate", blocking=True,
                description="Every extract: disclosure control holds, no personal-data column, the DfE "
                "open-data screener rules pass. Only the extracts whose bytes differ from the current release's "
                "(all of them on a full rebuild or when code, catalogue or settings changed).")
def extract_gate_check(context: dg.AssetCheckExecutionContext, home: HomeResource) -> dg.AssetCheckResult:
    from expectations.extracts import changed_extracts, extracts_gate
    from expectations.runner import data_docs_once
    from publication.extracts import extract_files

    h = home.home()
    # the extracts are read back from the run's folder, as they will be published
    infos = extract_files(h.run_dir(context.run.run_id) / "extracts")
    manifest = carried_over(h, context.run)
    judged = infos if manifest is None else changed_extracts(infos, manifest.get("extracts", []))
    disclosure = h.settings["disclosure"]
    with data_docs_once():  # one Data Docs build for the gate's suites
        gate = extracts_gate(judged, GEOGRAPHY_LOOKUP, min_respondents=disclosure["min_respondents"],
                             min_schools=disclosure["min_schools"],
                             data_docs_dir=h.run_dir(context.run.run_id) / "data_docs")
    if manifest is not None:
        gate.scope = (f"{len(judged)} of {len(infos)} extracts validated: the others are byte for byte those of "
                      "the current release, which passed")
    return to_check_result(context, h, gate)


all_checks = [*raw_checks, mart_gate_check, extract_gate_check]
