"""`belonging sql` reads the current release and nothing else: no file is written, attached, installed or
read outside the release's warehouse, in one-shot queries and in the interactive shell alike."""

from __future__ import annotations

import hashlib
import io

import duckdb
import pytest

from orchestration.cli import main
from tests.sql_helpers import small_release


@pytest.fixture
def home(tmp_path):
    return small_release(tmp_path)


def sql(home, capsys, *args) -> tuple[int, str, str]:
    code = main(["sql", *args, "--home", str(home)])
    out = capsys.readouterr()
    return code, out.out, out.err


def release_hashes(home) -> dict[str, str]:
    root = home / "releases"
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_tables_and_views_of_the_release_answer(home, capsys):
    code, out, _ = sql(home, capsys, "select value from school_indicators_wide", "--format", "csv")
    assert code == 0 and out == "value\n7.5\n"
    code, out, _ = sql(home, capsys, "show tables")
    assert code == 0 and "mart_indicators" in out and "school_indicators_wide" in out


def test_csv_export_to_standard_output_neutralises_formulas(home, capsys):
    code, out, _ = sql(home, capsys, "select school_name, value from mart_indicators", "--format", "csv")
    assert code == 0
    assert out.splitlines() == ["school_name,value", "\"'=HYPERLINK(\"\"http://x\"\",\"\"y\"\")\",7.5"]


@pytest.mark.parametrize("attack", [
    "copy (select 1) to '{tmp}/pwn.csv'",
    "attach '{tmp}/other.duckdb' as o (READ_WRITE); create table o.t as select 1 as a",
    "copy (select 'tampered' as a) to '{home}/releases/current/public/extracts/admin_indicators_national.csv'",
    "select * from read_csv('{tmp}/secret.txt', header = false)",
    "select * from glob('{tmp}/*')",
    "install httpfs",
    "load httpfs",
    "export database '{tmp}/dump'",
    "set enable_external_access = true; select * from read_csv('{tmp}/secret.txt')",
    "select 1; copy (select 1) to '{tmp}/pwn.csv'",
])
def test_escapes_are_refused(home, tmp_path, capsys, attack):
    before = release_hashes(home)
    files_before = sorted(p.name for p in tmp_path.iterdir())
    code, out, err = sql(home, capsys, attack.format(tmp=tmp_path, home=home))
    assert code == 1, (out, err)
    assert "the shadow file" not in out + err
    assert "secret.txt" not in out  # glob lists nothing
    assert sorted(p.name for p in tmp_path.iterdir()) == files_before
    assert release_hashes(home) == before


def test_a_refused_statement_is_named(home, tmp_path, capsys):
    code, _, err = sql(home, capsys, f"copy (select 1) to '{tmp_path}/pwn.csv'")
    assert code == 1 and err.startswith("refused: COPY statements are not run by `belonging sql`")
    assert "--format csv" in err


def test_the_sandbox_holds_without_the_statement_check(home, tmp_path):
    """Defence in depth: the connection itself refuses what the statement check would."""
    from orchestration.cli import sandboxed_connection

    con = sandboxed_connection(home / "releases" / "current" / "internal" / "warehouse.duckdb", str(tmp_path / "scratch"))
    for attack in (f"copy (select 1) to '{tmp_path}/pwn.csv'", f"select * from read_csv('{tmp_path}/secret.txt')",
                   f"attach '{tmp_path}/o.duckdb' as o", "install httpfs", "set lock_configuration = false"):
        with pytest.raises(duckdb.Error):
            con.execute(attack)
    assert not (tmp_path / "pwn.csv").exists() and not (tmp_path / "o.duckdb").exists()
    assert con.execute("select count(*) from mart_indicators").fetchone() == (1,)


def test_the_interactive_shell_is_the_same_sandbox(home, tmp_path, capsys, monkeypatch):
    lines = iter([f"copy (select 1) to '{tmp_path}/pwn.csv';", "select value", "from mart_indicators;"])

    def fake_input(_prompt=""):
        try:
            return next(lines)
        except StopIteration:
            raise EOFError from None

    monkeypatch.setattr("builtins.input", fake_input)
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    code, out, err = sql(home, capsys, "--format", "csv")
    assert code == 0
    assert "refused: COPY" in err and not (tmp_path / "pwn.csv").exists()
    assert "value\n7.5\n" in out
