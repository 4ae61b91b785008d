"""Survey exports read by worker processes (`ingestion.load.BatchPool`) give the lake a serial load gives.

The demo's survey exports (297 files of five tools, small scale) and one export that cannot be read, loaded in
batches of 40 files by two worker processes and by the refresh's own process: the same rows in every lake table,
the same outcomes in the same order, the broken export quarantined with its reason either way.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pytest

from ingestion import load
from ingestion.lake import Lake
from ingestion.lake_schema import TABLES
from ingestion.load import load_gias, load_surveys
from tests.conftest import SETTINGS

KEY = b"a-key-for-the-pool-test"
BROKEN = "surveys/broken/an_export_cut_short.csv"


@pytest.fixture(scope="module")
def demo_landing(tmp_path_factory) -> Path:
    from demo import generate

    landing = tmp_path_factory.mktemp("pool") / "landing"
    generate(landing, scale="small", seed=2026)
    shutil.rmtree(landing / "dfe")
    (landing / BROKEN).parent.mkdir(parents=True)
    (landing / BROKEN).write_bytes(b"\x00\x01\x02 not an export\n\xff\xfe")
    return landing


def _load(demo_landing: Path, root: Path, processes: int, monkeypatch) -> tuple[Path, list]:
    landing = root / "landing"
    shutil.copytree(demo_landing, landing)
    lake = Lake(root / "lake")
    load_gias(landing, lake)
    monkeypatch.setattr(load, "BATCH_FILES", 40)
    settings = {**SETTINGS["surveys"], "read_processes": processes}
    report = load_surveys(landing, lake, pseudonym_key=KEY, settings=settings)
    return root / "lake", [(o.file, o.status, o.rows_loaded, o.rows_quarantined, o.message) for o in report.files]


def _rows(con, lake: Path, table: str) -> str:
    # every column but the load time, which differs between two loads of the same bytes
    return f"select * exclude (_loaded_at) from read_parquet('{lake}/raw/{table}/*.parquet', union_by_name=true)"


def test_worker_processes_load_what_one_process_loads(demo_landing, tmp_path, monkeypatch):
    serial_lake, serial = _load(demo_landing, tmp_path / "serial", 1, monkeypatch)
    batches = []
    pool_load = load.BatchPool.load
    monkeypatch.setattr(load.BatchPool, "load", lambda self, landing, lake, chunks, *a: (
        batches.append(len(chunks)), pool_load(self, landing, lake, chunks, *a))[1])
    pooled_lake, pooled = _load(demo_landing, tmp_path / "pooled", 2, monkeypatch)
    assert batches == [8]  # 297 exports in batches of 40, read by the workers
    assert len(serial) == 298 and sum(1 for o in serial if o[1] == "loaded") == 297
    assert pooled == serial  # same outcomes, same order
    broken = next(o for o in pooled if o[0] == BROKEN)
    assert broken[1] == "quarantined_file" and broken[4]
    assert (tmp_path / "pooled" / "landing" / "quarantine").is_dir()
    assert not (tmp_path / "pooled" / "landing" / BROKEN).exists()
    con = duckdb.connect()
    for table in ("survey_responses", "survey_answers", "survey_items", "quarantine", "file_loads"):
        assert table in TABLES
        count = con.execute(f"select count(*) from ({_rows(con, pooled_lake, table)})").fetchone()[0]
        differ = con.execute(f"select count(*) from (({_rows(con, pooled_lake, table)}) except all "
                             f"({_rows(con, serial_lake, table)}) union all (({_rows(con, serial_lake, table)}) "
                             f"except all ({_rows(con, pooled_lake, table)})))").fetchone()[0]
        assert (table, differ) == (table, 0)
        assert count > 0
    # one lake file per export and table, written by whichever worker read it
    assert len(list((pooled_lake / "raw" / "survey_responses").glob("*.parquet"))) == 297 + 1  # + _empty


def test_one_process_or_one_batch_reads_in_the_refresh_process(demo_landing, tmp_path, monkeypatch):
    started = []
    monkeypatch.setattr(load.BatchPool, "load", lambda self, *a: started.append(self) or iter(()))
    _, outcomes = _load(demo_landing, tmp_path / "one", 1, monkeypatch)
    assert started == [] and sum(1 for o in outcomes if o[1] == "loaded") == 297
