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
        home, release_id=rid, warehouse=wh, extracts_dir=ex,
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
    path = publish(home, tmp_path, "20261122T190000Z-aaaaaa",
                   public_files={"data-guidance.md": "# guidance\n", "validation.html": "<html></html>\n"})
    assert path == home / "releases" / "20261122T190000Z-aaaaaa"
    assert current_release(home).name == "20261122T190000Z-aaaaaa"
    assert (home / "releases" / "current").is_symlink()
    # two parts: what may be handed over, and the warehouse for the body's own analysts
    assert sorted(p.name for p in path.iterdir()) == ["internal", "public"]
    assert sorted(p.relative_to(path / "public").as_posix() for p in (path / "public").rglob("*")) == [
        "data-guidance.md", "extracts", "extracts/admin_indicators_national.csv",
        "extracts/admin_indicators_national.meta.csv", "manifest.json", "validation.html"]  # fmt: skip
    assert sorted(p.name for p in (path / "internal").iterdir()) == ["README.md", "manifest.json", "warehouse.duckdb"]
    assert (home / "releases" / "current" / "public" / "manifest.json").exists()
    manifest = json.loads((path / "public" / "manifest.json").read_text())
    assert manifest["release_id"] == "20261122T190000Z-aaaaaa"
    assert manifest["inputs"][0]["rows"] == 3 and manifest["gates"] == {"passed": True}
    (extract,) = manifest["extracts"]
    assert extract["name"] == "admin_indicators_national" and extract["rows"] == 2
    csv = extract["files"]["csv"]
    assert csv["file"] == "extracts/admin_indicators_national.csv"  # relative to the public part
    assert csv["sha256"] == hashlib.sha256((path / "public" / csv["file"]).read_bytes()).hexdigest()
    assert extract["files"]["meta"]["file"] == "extracts/admin_indicators_national.meta.csv"
    # the public files beside the extracts, and the report's place (publication/report.py writes it)
    assert (manifest["data_guidance"], manifest["validation_summary"], manifest["report"]) == (
        "data-guidance.md", "validation.html", None)
    assert "warehouse" not in manifest
    internal = json.loads((path / "internal" / "manifest.json").read_text())
    warehouse = path / "internal" / "warehouse.duckdb"
    con = duckdb.connect(str(warehouse), read_only=True)
    assert con.sql("select * from mart_wide").fetchall() == [("20261122T190000Z-aaaaaa", 3.0)]
    con.close()
    assert internal["warehouse"]["sha256"] == hashlib.sha256(warehouse.read_bytes()).hexdigest()
    # the release's warehouse is its own: tables and the views over them; a view reading the lake is left out
    assert internal["warehouse"]["tables"] == ["mart_indicators"]
    assert internal["warehouse"]["views"] == ["mart_wide"]
    assert list(internal["warehouse"]["views_left_out"]) == ["stg_lake"]
    assert "reads files" in internal["warehouse"]["views_left_out"]["stg_lake"]
    readme = (path / "internal" / "README.md").read_text()
    assert "not for publication" in readme and "before disclosure control" in readme and "`mart_indicators`" in readme
    assert str(tmp_path).encode() not in warehouse.read_bytes()
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
    text = (home / "releases" / "current" / "public" / "extracts" / "admin_indicators_national.csv").read_text()
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
    """Gate results may name files of the home (the run's folder): in the manifest they are relative, and no
    file of the release names the machine."""
    home = tmp_path / "home"
    wh, ex = inputs(tmp_path, "20261122T190000Z-aaaaaa")
    gates = [{"name": "raw_gate", "passed": True, "message": f"see {ex}/admin_indicators_national.csv"},
             {"name": "extract_gate", "passed": True, "failures": [f"see {home}/runs/r1/gates/extract.json"]}]
    path = publish_release(home, release_id="20261122T190000Z-aaaaaa", warehouse=wh, extracts_dir=ex,
                           manifest_extra={"gates": gates, "run_id": "r1"})
    text = (path / "public" / "manifest.json").read_text()
    assert str(tmp_path) not in text
    manifest = json.loads(text)
    assert manifest["gates"][0]["message"] == "see extracts/admin_indicators_national.csv"
    assert (path / "public" / "extracts" / "admin_indicators_national.csv").is_file()
    assert manifest["gates"][1]["failures"] == ["see runs/r1/gates/extract.json"]
    for p in (path / "public").rglob("*"):
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
        assert (link / "public" / "manifest.json").is_file(), f"releases/current -> {target} has no manifest after {after}"

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


def legacy_release(home: Path, rid: str) -> Path:
    """A release as published before releases had a public part: warehouse, extracts and manifest together."""
    folder = home / "releases" / rid
    (folder / "extracts").mkdir(parents=True)
    (folder / "extracts" / "admin_indicators_national.csv").write_text("time_period,x\n202425,old\n")
    (folder / "manifest.json").write_text(json.dumps({"release_id": rid, "created_at": "2026-01-01T00:00:00+00:00"}))
    con = duckdb.connect(str(folder / "warehouse.duckdb"))
    con.execute("create table mart_indicators as select 'old' as tag")
    con.close()
    return folder


def test_a_release_made_before_the_split_is_listed_read_and_told_apart(tmp_path, capsys):
    from orchestration.cli import main

    home = tmp_path / "home"
    old = legacy_release(home, "20261120T190000Z-000000")
    publish(home, tmp_path, "20261122T190000Z-aaaaaa")
    assert list_releases(home) == ["20261120T190000Z-000000", "20261122T190000Z-aaaaaa"]
    parts = releases.release_parts(old)
    assert not parts.split and parts.warehouse == old / "warehouse.duckdb" and parts.extracts == old / "extracts"
    assert "hand over its extracts/ only" in parts.note
    new = releases.release_parts(home / "releases" / "20261122T190000Z-aaaaaa")
    assert new.split and new.warehouse.parent.name == "internal" and new.note == ""
    assert main(["releases", "--home", str(home)]) == 0
    listing = capsys.readouterr().out.splitlines()
    assert listing[0].startswith("  20261120T190000Z-000000") and "made before releases had a public part" in listing[0]
    assert listing[1].startswith("* 20261122T190000Z-aaaaaa") and "public part" not in listing[1]
    # rolled back to it, `belonging sql` reads its warehouse
    set_current(home, "20261120T190000Z-000000")
    assert main(["sql", "select tag from mart_indicators", "--format", "csv", "--home", str(home)]) == 0
    assert capsys.readouterr().out == "tag\nold\n"
    set_current(home, "20261122T190000Z-aaaaaa")
    assert main(["sql", "select tag from mart_indicators", "--format", "csv", "--home", str(home)]) == 0
    assert capsys.readouterr().out == "tag\n20261122T190000Z-aaaaaa\n"


@pytest.mark.parametrize(("text", "leak"), [
    ("built in /srv/belonging/home/runs/r1", "/srv/belonging/home/runs/r1"),
    ('{"file": "/tmp/x/landing/a.csv"}', "/tmp/x/landing/a.csv"),
    ("C:\\Users\\me\\belonging", "C:\\U"),
    ("2018/19, school share / LA phase share, Yes/No, dfe/absence/a.csv, https://example.org/a/b", None),
])  # fmt: skip
def test_public_leaks_finds_machine_paths(tmp_path, text, leak):
    (tmp_path / "extracts").mkdir()
    (tmp_path / "extracts" / "a.csv").write_text(text)
    found = releases.public_leaks(tmp_path, markers=[])
    assert found == ([] if leak is None else [f"extracts/a.csv: the machine path {leak!r}"])


def test_a_public_part_naming_the_machine_or_holding_a_database_is_not_published(tmp_path):
    home = tmp_path / "home"
    with pytest.raises(ReleaseError, match=r"public part would show data-guidance.md: the machine path"):
        publish(home, tmp_path / "a", "20261122T190000Z-aaaaaa",
                public_files={"data-guidance.md": f"built from {home.resolve()}{os.sep}lake\n"})
    _, ex = inputs(tmp_path / "b", "x")
    (ex / "copy.duckdb").write_bytes(b"")
    assert releases.public_leaks(ex, markers=[]) == ["copy.duckdb: a database file"]
    with pytest.raises(ReleaseError, match="public_files"):
        publish(home, tmp_path / "c", "20261122T190000Z-bbbbbb", public_files={"notes.txt": "hello"})
    assert list_releases(home) == [] and current_release(home) is None


def test_fingerprint_follows_inputs_catalogue_settings_and_code(tmp_path):
    from indicators import CATALOGUE
    from tests.conftest import SETTINGS

    base = releases.release_fingerprint(inputs=["b" * 64, "a" * 64], settings=SETTINGS, catalogue_file=CATALOGUE)
    same = releases.release_fingerprint(inputs=["a" * 64, "b" * 64, "a" * 64], settings=SETTINGS,
                                        catalogue_file=CATALOGUE)
    assert same == base and set(base["parts"]) == {"inputs", "catalogue", "settings", "code", "versions"}
    new_input = releases.release_fingerprint(inputs=["a" * 64, "b" * 64, "c" * 64], settings=SETTINGS,
                                             catalogue_file=CATALOGUE)
    stricter = releases.release_fingerprint(inputs=["a" * 64, "b" * 64], catalogue_file=CATALOGUE,
                                            settings=SETTINGS | {"disclosure": {"min_respondents": 20, "min_schools": 3}})
    other = tmp_path / "catalogue.yaml"
    other.write_bytes(CATALOGUE.read_bytes() + b"\n# a comment\n")
    forked = releases.release_fingerprint(inputs=["a" * 64, "b" * 64], settings=SETTINGS, catalogue_file=other)
    for changed, part in ((new_input, "inputs"), (stricter, "settings"), (forked, "catalogue")):
        assert changed["sha256"] != base["sha256"]
        assert [k for k in base["parts"] if changed["parts"][k] != base["parts"][k]] == [part]
    # how many releases to keep changes nothing published
    kept = releases.release_fingerprint(inputs=["a" * 64, "b" * 64], catalogue_file=CATALOGUE,
                                        settings=SETTINGS | {"releases": {"keep": 3}})
    assert kept == base
    # the code: every source file of the packages, not the tests
    code = tmp_path / "repo"
    (code / "publication").mkdir(parents=True)
    (code / "publication" / "x.py").write_text("A = 1\n")
    before = releases.code_digest(code)
    (code / "tests").mkdir()
    (code / "tests" / "test_x.py").write_text("assert True\n")
    (code / "publication" / "__pycache__").mkdir()  # nor what tools write beside the code
    (code / "publication" / "__pycache__" / "x.py").write_text("cached\n")
    (code / "publication" / ".user.yml").write_text("id: 1\n")
    assert releases.code_digest(code) == before
    (code / "publication" / "x.py").write_text("A = 2\n")
    assert releases.code_digest(code) != before


def test_unchanged_since_names_the_current_release_with_the_same_fingerprint(tmp_path):
    home = tmp_path / "home"
    fingerprint = {"sha256": "f" * 64, "parts": {}}
    assert releases.unchanged_since(home, fingerprint) is None  # nothing published yet
    publish(home, tmp_path / "a", "20261122T190000Z-aaaaaa")  # a release without a fingerprint
    assert releases.unchanged_since(home, fingerprint) is None
    wh, ex = inputs(tmp_path / "b", "b")
    publish_release(home, release_id="20261123T190000Z-bbbbbb", warehouse=wh, extracts_dir=ex,
                    manifest_extra={"fingerprint": fingerprint})
    assert releases.unchanged_since(home, fingerprint) == "20261123T190000Z-bbbbbb"
    assert releases.unchanged_since(home, {"sha256": "e" * 64}) is None
    set_current(home, "20261122T190000Z-aaaaaa")  # compared with the current release only
    assert releases.unchanged_since(home, fingerprint) is None
    message = releases.nothing_changed("20261123T190000Z-bbbbbb")
    assert message.startswith("nothing changed since release 20261123T190000Z-bbbbbb:") and "--force" in message


def _warehouse(path: Path, *, with_lake_view: bool, dropped_lake_view: bool = False) -> Path:
    con = duckdb.connect(str(path))
    con.execute("create table mart_indicators as select range as n, 'figure ' || range as label from range(5000)")
    con.execute("create view mart_wide as select n * 2 as doubled from mart_indicators")
    lake = path.parent / "lake.parquet"
    con.execute(f"copy (select 1 as a) to '{lake}'")
    if with_lake_view or dropped_lake_view:
        con.execute(f"create view stg_lake as select * from read_parquet('{lake}')")
        con.execute("checkpoint")
    if dropped_lake_view:
        con.execute("drop view stg_lake")
    con.close()
    return path


def test_a_warehouse_with_only_tables_and_their_views_is_copied_as_it_is(tmp_path):
    source = _warehouse(tmp_path / "warehouse.duckdb", with_lake_view=False)
    contents = releases.copy_warehouse(source, tmp_path / "copy.duckdb", markers=[str(tmp_path)])
    assert contents == {"tables": ["mart_indicators"], "views": ["mart_wide"], "views_left_out": {},
                        "sha256": hashlib.sha256(source.read_bytes()).hexdigest()}  # digested while copied
    assert (tmp_path / "copy.duckdb").read_bytes() == source.read_bytes()


@pytest.mark.parametrize("dropped", [False, True], ids=["a view reads the lake", "a dropped view's text remains"])
def test_a_warehouse_that_reads_or_names_the_lake_is_rebuilt(tmp_path, dropped):
    source = _warehouse(tmp_path / "warehouse.duckdb", with_lake_view=not dropped, dropped_lake_view=dropped)
    assert str(tmp_path).encode() in source.read_bytes()  # the view's text, even once dropped
    contents = releases.copy_warehouse(source, tmp_path / "copy.duckdb", markers=[str(tmp_path)])
    assert contents["tables"] == ["mart_indicators"] and contents["views"] == ["mart_wide"]
    assert list(contents["views_left_out"]) == ([] if dropped else ["stg_lake"])
    copy = (tmp_path / "copy.duckdb").read_bytes()
    assert str(tmp_path).encode() not in copy and copy != source.read_bytes()
    assert contents["sha256"] == hashlib.sha256(copy).hexdigest()
    con = duckdb.connect(str(tmp_path / "copy.duckdb"), read_only=True)
    assert con.sql("select count(*), sum(doubled) from mart_wide").fetchall() == [(5000, 24995000)]
    con.close()


@pytest.mark.parametrize("chunk", [1, 3, 7, 1 << 20])
def test_one_pass_over_a_file_digests_counts_finds_and_copies_it(tmp_path, chunk):
    """`_stream` (the release reads each file once): the same digest and lines as reading it whole, a needle
    found across a chunk boundary, the copy byte for byte."""
    data = b"a,b\n1,'=x\n2,3"  # no line break at the end: a text reader counts 3 lines
    path = tmp_path / "f.csv"
    path.write_bytes(data)
    with open(tmp_path / "copy", "wb") as sink:
        read = releases._stream(path, [b",'"], sink, chunk=chunk)
    assert (read.sha256, read.lines, read.found) == (hashlib.sha256(data).hexdigest(), 3, True)
    assert (tmp_path / "copy").read_bytes() == data
    assert not releases._stream(path, [b"\n'"], chunk=chunk).found


@pytest.mark.parametrize(("csv", "counted"), [
    ("name,n\n'=SUM(A1),1\n", {"name": 1}),  # at the start of a line
    ("n,name\n1,'@x\n2,'-y\n", {"name": 2}),  # after a comma
    ('n,name\n1,"\'=a,b"\n', {"name": 1}),  # in a quoted cell
    ("name,n\nSt Mary's,1\n'plain,2\n", {}),  # an apostrophe, but no neutralised formula
    ("name,n\nplain,1\n", {}),
])  # fmt: skip
def test_extract_entries_count_neutralised_cells_as_a_full_parse_does(tmp_path, csv, counted):
    from publication.extracts import neutralised_cells

    (tmp_path / "x.csv").write_text(csv, encoding="utf-8")
    [entry] = releases.extract_entries(tmp_path)
    assert neutralised_cells(tmp_path / "x.csv") == counted
    assert entry.get("formula_cells_neutralised", {}).get("columns", {}) == counted
    assert entry["rows"] == csv.count("\n") - 1
