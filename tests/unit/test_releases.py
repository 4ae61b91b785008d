"""Releases: write in full, switch atomically, read-only, roll back, prune, failed publish changes nothing."""

from __future__ import annotations

import hashlib
import json
import os
import stat
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest

from publication import releases
from publication.releases import (
    ReleaseError,
    current_release,
    list_releases,
    new_release_id,
    prune_releases,
    publish_release,
    set_current,
)


def inputs(tmp_path: Path, tag: str) -> tuple[Path, Path]:
    wh = tmp_path / f"in_{tag}" / "warehouse.duckdb"
    wh.parent.mkdir(parents=True)
    (tmp_path / f"in_{tag}" / "lake.parquet").write_bytes(b"")
    con = duckdb.connect(str(wh))
    con.execute("create table mart_indicators as select ? as tag, 1.5 as value", [tag])
    con.execute("create view mart_wide as select tag, value * 2 as doubled from mart_indicators")
    con.execute("copy (select 1 as a) to '" + str(tmp_path / f"in_{tag}" / "lake.parquet") + "'")
    con.execute("create view stg_lake as select * from read_parquet('" + str(tmp_path / f"in_{tag}") + "/*.parquet')")
    con.close()
    ex = tmp_path / f"in_{tag}" / "extracts"
    ex.mkdir()
    (ex / "admin_indicators_national.csv").write_text(f"time_period,x\n202526,{tag}\n202425,{tag}\n")
    (ex / "admin_indicators_national.meta.csv").write_text("col_name\nx\n")
    return wh, ex


def publish(home: Path, tmp_path: Path, rid: str, **kw) -> Path:
    wh, ex = inputs(tmp_path, rid)
    return publish_release(
        home, release_id=rid, warehouse=wh, extracts_dir=ex, data_docs_dir=None,
        manifest_extra={"inputs": [{"file": "dfe/a.csv", "sha256": "ab" * 32, "rows": 3}], "gates": {"passed": True}},
        **kw,
    )  # fmt: skip


def tree_hashes(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_release_id_sorts_by_time():
    a = new_release_id(datetime(2026, 11, 22, 19, 0, 0, tzinfo=UTC))
    b = new_release_id(datetime(2026, 11, 22, 19, 0, 1, tzinfo=UTC))
    assert a.startswith("20261122T190000Z-") and len(a) == len("20261122T190000Z-") + 6
    assert sorted([b, a]) == [a, b]
    assert new_release_id() != new_release_id()


def test_publish_writes_manifest_read_only_files_and_switches_current(tmp_path):
    home = tmp_path / "home"
    path = publish(home, tmp_path, "20261122T190000Z-aaaaaa")
    assert path == home / "releases" / "20261122T190000Z-aaaaaa"
    assert current_release(home).name == "20261122T190000Z-aaaaaa"
    assert (home / "releases" / "current").is_symlink()
    assert (home / "releases" / "current" / "manifest.json").exists()
    manifest = json.loads((path / "manifest.json").read_text())
    assert manifest["release_id"] == "20261122T190000Z-aaaaaa"
    assert manifest["inputs"][0]["rows"] == 3 and manifest["gates"] == {"passed": True}
    (extract,) = manifest["extracts"]
    assert extract["name"] == "admin_indicators_national" and extract["rows"] == 2
    csv = extract["files"]["csv"]
    assert csv["file"] == "extracts/admin_indicators_national.csv"
    assert csv["sha256"] == hashlib.sha256((path / csv["file"]).read_bytes()).hexdigest()
    assert extract["files"]["meta"]["file"] == "extracts/admin_indicators_national.meta.csv"
    con = duckdb.connect(str(path / "warehouse.duckdb"), read_only=True)
    assert con.sql("select * from mart_wide").fetchall() == [("20261122T190000Z-aaaaaa", 3.0)]
    con.close()
    assert manifest["warehouse"]["sha256"] == hashlib.sha256((path / "warehouse.duckdb").read_bytes()).hexdigest()
    # the release's warehouse is its own: tables and the views over them; a view reading the lake is left out
    assert manifest["warehouse"]["tables"] == ["mart_indicators"]
    assert manifest["warehouse"]["views"] == ["mart_wide"]
    assert list(manifest["warehouse"]["views_left_out"]) == ["stg_lake"]
    assert "reads files" in manifest["warehouse"]["views_left_out"]["stg_lake"]
    assert str(tmp_path).encode() not in (path / "warehouse.duckdb").read_bytes()
    assert (
        manifest["versions"]["duckdb"] and manifest["versions"]["polars"] and manifest["versions"]["dbt-core"]
    )
    assert "git_commit" in manifest["code"]
    for p in path.rglob("*"):
        mode = stat.S_IMODE(p.stat().st_mode)
        assert not mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH), p
    assert not list((home / "releases").glob(".*.tmp"))


def test_roll_back_and_forward(tmp_path):
    home = tmp_path / "home"
    publish(home, tmp_path, "20261122T190000Z-aaaaaa")
    publish(home, tmp_path, "20261123T190000Z-bbbbbb")
    assert list_releases(home) == ["20261122T190000Z-aaaaaa", "20261123T190000Z-bbbbbb"]
    assert current_release(home).name == "20261123T190000Z-bbbbbb"
    set_current(home, "20261122T190000Z-aaaaaa")
    assert current_release(home).name == "20261122T190000Z-aaaaaa"
    text = (home / "releases" / "current" / "extracts" / "admin_indicators_national.csv").read_text()
    assert "20261122T190000Z-aaaaaa" in text
    with pytest.raises(ReleaseError, match="unknown release"):
        set_current(home, "20991231T000000Z-ffffff")
    assert current_release(home).name == "20261122T190000Z-aaaaaa"
    set_current(home, "20261123T190000Z-bbbbbb")
    assert current_release(home).name == "20261123T190000Z-bbbbbb"


def test_prune_never_removes_current(tmp_path):
    home = tmp_path / "home"
    ids = [f"2026112{d}T190000Z-{d * 6}" for d in range(1, 6)]
    for rid in ids:
        publish(home, tmp_path, rid)
    set_current(home, ids[0])  # rolled back to the oldest
    removed = prune_releases(home, keep=2)
    assert removed == ids[1:3]
    assert list_releases(home) == [ids[0], ids[3], ids[4]]
    assert current_release(home).name == ids[0]
    assert prune_releases(home, keep=0) == []


def test_failed_publish_leaves_current_unchanged(tmp_path, monkeypatch):
    home = tmp_path / "home"
    publish(home, tmp_path, "20261122T190000Z-aaaaaa")
    before = tree_hashes(home / "releases" / "current")
    link_before = os.readlink(home / "releases" / "current")

    def boom(*_a, **_k):
        raise OSError("disk full while writing the manifest")

    monkeypatch.setattr(releases, "_make_read_only", boom)
    with pytest.raises(OSError, match="disk full"):
        publish(home, tmp_path, "20261123T190000Z-bbbbbb")
    assert os.readlink(home / "releases" / "current") == link_before
    assert tree_hashes(home / "releases" / "current") == before
    assert list_releases(home) == ["20261122T190000Z-aaaaaa"]
    assert not list((home / "releases").glob(".*"))


def test_release_is_never_overwritten(tmp_path):
    home = tmp_path / "home"
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    publish(home, tmp_path / "a", "20261122T190000Z-aaaaaa")
    before = tree_hashes(home / "releases" / "20261122T190000Z-aaaaaa")
    with pytest.raises(ReleaseError, match="already exists"):
        publish(home, tmp_path / "b", "20261122T190000Z-aaaaaa")
    assert tree_hashes(home / "releases" / "20261122T190000Z-aaaaaa") == before


def test_manifest_names_files_relative_to_the_release(tmp_path):
    """Gate results point at the run's Data Docs; in the manifest they point at the release's copy."""
    home = tmp_path / "home"
    wh, ex = inputs(tmp_path, "20261122T190000Z-aaaaaa")
    docs = home / "runs" / "r1" / "data_docs"
    docs.mkdir(parents=True)
    (docs / "index.html").write_text("<html></html>")
    gates = [{"name": "raw_gate", "passed": True, "data_docs": str(docs / "index.html")},
             {"name": "extract_gate", "passed": True, "failures": [f"see {home}/runs/r1/gates/extract.json"]}]
    path = publish_release(home, release_id="20261122T190000Z-aaaaaa", warehouse=wh, extracts_dir=ex,
                           data_docs_dir=docs, manifest_extra={"gates": gates, "run_id": "r1"})
    text = (path / "manifest.json").read_text()
    assert str(tmp_path) not in text
    manifest = json.loads(text)
    assert manifest["gates"][0]["data_docs"] == "validation/index.html"
    assert (path / manifest["gates"][0]["data_docs"]).is_file()
    assert manifest["gates"][1]["failures"] == ["see runs/r1/gates/extract.json"]
    for p in path.rglob("*"):
        if p.is_file():
            assert str(tmp_path).encode() not in p.read_bytes(), p


def test_a_machine_path_outside_the_home_is_refused(tmp_path):
    home = tmp_path / "home"
    wh, ex = inputs(tmp_path, "20261122T190000Z-aaaaaa")
    with pytest.raises(ReleaseError, match="absolute path"):
        publish_release(home, release_id="20261122T190000Z-aaaaaa", warehouse=wh, extracts_dir=ex,
                        manifest_extra={"inputs": [{"file": "/srv/elsewhere/a.csv"}]})
    assert list_releases(home) == [] and current_release(home) is None


def test_current_is_never_absent_while_it_is_switched(tmp_path, monkeypatch):
    """`current` is replaced by renaming a temporary symlink over it, never unlinked and made again: at every
    filesystem call of a publish, a roll back and a roll forward, `current` resolves to a whole release."""
    home = tmp_path / "home"
    first, second = "20261122T190000Z-aaaaaa", "20261123T190000Z-bbbbbb"
    publish(home, tmp_path, first)
    link = home / "releases" / "current"
    calls: list[str] = []

    def current_is_whole(after: str) -> None:
        assert link.is_symlink(), f"releases/current absent after {after} (calls so far: {calls})"
        target = os.readlink(link)
        assert target in (first, second), f"releases/current -> {target!r} after {after}"
        assert (link / "manifest.json").is_file(), f"releases/current -> {target} has no manifest after {after}"

    def watched(name: str):
        real = getattr(os, name)

        def call(*args, **kwargs):
            current_is_whole(f"before os.{name}{args}")
            result = real(*args, **kwargs)
            calls.append(f"{name}({', '.join(Path(a).name if isinstance(a, str | Path) else str(a) for a in args)})")
            current_is_whole(f"os.{name}{args}")
            return result

        return call

    for name in ("symlink", "replace", "rename", "unlink", "remove", "rmdir"):
        monkeypatch.setattr(os, name, watched(name))
    publish(home, tmp_path, second)
    assert os.readlink(link) == second
    set_current(home, first)
    assert os.readlink(link) == first
    set_current(home, second)
    monkeypatch.undo()
    assert os.readlink(link) == second
    # the switches did happen through the watched calls, and none of them removed `current`
    assert any(c.startswith("symlink(") for c in calls) and any(c.endswith(", current)") for c in calls), calls
    assert not any(c in ("unlink(current)", "remove(current)", "rmdir(current)") for c in calls), calls
    assert not list((home / "releases").glob(".current*"))
