"""`belonging`: the command-line contract of spec/product.md."""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from orchestration.settings import DEMO_PSEUDONYM_KEY, Home

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_BUSY = 0, 1, 2, 3


def _set_home(arg: str | None, *, create: bool = True) -> Home:
    """The home of `--home` or $BELONGING_HOME; created only for commands that write (`create`)."""
    if arg:
        os.environ["BELONGING_HOME"] = str(Path(arg).expanduser().resolve())
    home = Home.from_env()
    os.environ["BELONGING_HOME"] = str(home.root)
    os.environ["DAGSTER_HOME"] = str(home.dagster_home)
    os.environ.setdefault("DO_NOT_TRACK", "1")
    return home.create() if create else home


@contextlib.contextmanager
def refresh_lock(home: Home):
    """One writer: a second refresh of the same home stops at once instead of fighting over the warehouse."""
    path = home.root / ".refresh.lock"
    with open(path, "a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            raise RefreshBusy(f"another refresh is running on {home.root} ({fh.read().strip()})") from None
        fh.seek(0)
        fh.truncate()
        fh.write(f"pid {os.getpid()} since {datetime.now(UTC):%Y-%m-%dT%H:%M:%SZ}")
        fh.flush()
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


class RefreshBusy(RuntimeError):
    pass


def cmd_refresh(args) -> int:
    home = _set_home(args.home)
    from orchestration.refresh import run_refresh

    try:
        with refresh_lock(home):
            outcome = run_refresh(home, echo=print, full_rebuild=getattr(args, "full_rebuild", False))
    except RefreshBusy as exc:
        print(f"refresh not started: {exc}", file=sys.stderr)
        return EXIT_BUSY
    return EXIT_OK if outcome["status"] == "published" else EXIT_FAILED


def cmd_demo(args) -> int:
    home = _set_home(args.home)
    os.environ.setdefault("BELONGING_PSEUDONYM_KEY", DEMO_PSEUDONYM_KEY)
    from demo import generate

    started = time.perf_counter()
    summary = generate(home.landing, scale=args.scale, seed=args.seed)
    print(f"demo: wrote sample landing files to {home.landing} in {time.perf_counter() - started:.1f}s: "
          + ", ".join(f"{k}={v}" for k, v in summary.items() if isinstance(v, (int, str))))
    return cmd_refresh(argparse.Namespace(home=str(home.root)))


def cmd_status(args) -> int:
    home = _set_home(args.home, create=False)
    from orchestration.status import status_text

    print(status_text(home))
    return EXIT_OK


def cmd_sql(args) -> int:
    home = _set_home(args.home, create=False)
    import shutil
    import tempfile

    from publication.releases import current_release

    current = current_release(home.root)
    if current is None:
        print(f"no release published yet in {home.releases}: run `belonging refresh` (or `belonging demo`)",
              file=sys.stderr)
        return EXIT_FAILED
    scratch = tempfile.mkdtemp(prefix="belonging-sql-")  # DuckDB's spill space: never the release folder
    try:
        con = sandboxed_connection(current / "warehouse.duckdb", scratch)
        if args.query:
            return _run_sql(con, " ".join(args.query), args.format)
        print(f"belonging sql: release {current.name} (read-only; no files read or written: export with "
              "--format csv). End statements with ';', Ctrl-D to quit.")
        buffer = ""
        while True:
            try:
                line = input("belonging> " if not buffer else "        ...> ")
            except EOFError:
                print()
                return EXIT_OK
            buffer += line + "\n"
            if buffer.strip().endswith(";"):
                _run_sql(con, buffer, args.format)
                buffer = ""
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


# what `belonging sql` runs: queries (SELECT, SHOW, DESCRIBE, SUMMARIZE, PIVOT), EXPLAIN, PRAGMA and CALL of
# catalog functions, SET of variables and transactions. COPY, EXPORT, ATTACH, INSTALL/LOAD and every write
# are refused before DuckDB sees them; the sandboxed connection refuses them again if they got through.
SQL_ALLOWED = ("SELECT", "EXPLAIN", "PRAGMA", "CALL", "MULTI", "SET", "VARIABLE_SET", "TRANSACTION")


def sandboxed_connection(warehouse: Path, scratch: str):
    """A read-only connection to a release's warehouse that can read and write no other file."""
    import duckdb

    from publication.releases import SANDBOX

    return duckdb.connect(str(warehouse), read_only=True, config={**SANDBOX, "temp_directory": scratch})


def _refused_statement(query: str) -> str | None:
    import duckdb

    try:
        statements = duckdb.extract_statements(query)
    except duckdb.Error:
        return None  # DuckDB reports the syntax error itself
    for statement in statements:
        kind = statement.type.name
        if kind not in SQL_ALLOWED:
            return (f"refused: {kind} statements are not run by `belonging sql`, which reads the release and "
                    "writes nothing (to export a result: belonging sql --format csv \"select ...\" > file.csv)")
    return None


def _run_sql(con, query: str, fmt: str) -> int:
    import duckdb

    refused = _refused_statement(query)
    if refused:
        print(refused, file=sys.stderr)
        return EXIT_FAILED
    try:
        rel = con.sql(query)
    except duckdb.Error as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    if rel is None:
        return EXIT_OK
    if fmt == "csv":
        import csv

        from publication.extracts import neutralise_formula

        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(rel.columns)
        for row in rel.fetchall():
            writer.writerow([neutralise_formula(v) if isinstance(v, str) else v for v in row])
    else:
        rel.show(max_rows=10_000, max_width=240)
    return EXIT_OK


def cmd_validate(args) -> int:
    home = _set_home(args.home, create=False)
    from ingestion.lake import Lake
    from ingestion.surveys.schools import SchoolRegister
    from ingestion.validate import validate_file
    from orchestration.settings import pseudonym_key

    lake = Lake(home.lake)
    schools = SchoolRegister.from_frames(lake.read("gias_establishments"), lake.read("gias_links"))
    report = validate_file(Path(args.file), pseudonym_key=pseudonym_key(), schools=schools,
                           settings=home.settings.get("surveys", {}))
    if lake.read("gias_establishments").is_empty() and report.kind == "survey":
        report.notes.append("note: no GIAS register in the lake yet, so every school would be unknown; "
                            "load GIAS first (belonging refresh)")
    print(report.text())
    return EXIT_OK if report.ok else EXIT_FAILED


def cmd_releases(args) -> int:
    home = _set_home(args.home, create=False)
    from publication.releases import current_release, list_releases

    current = current_release(home.root)
    releases = list_releases(home.root)
    if not releases:
        print("no releases yet")
        return EXIT_OK
    for rel in releases:
        rid = rel.name if isinstance(rel, Path) else str(rel)
        marker = "*" if current is not None and current.name == rid else " "
        manifest = home.releases / rid / "manifest.json"
        created = ""
        if manifest.exists():
            created = json.loads(manifest.read_text(encoding="utf-8")).get("created_at", "")
        print(f"{marker} {rid}  {created}")
    return EXIT_OK


def cmd_publish(args) -> int:
    home = _set_home(args.home)
    from publication.releases import set_current

    try:
        with refresh_lock(home):
            set_current(home.root, args.release)
    except (KeyError, ValueError, FileNotFoundError) as exc:
        print(f"publish refused: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except RefreshBusy as exc:
        print(f"publish not done: {exc}", file=sys.stderr)
        return EXIT_BUSY
    print(f"current -> {args.release}")
    return EXIT_OK


def cmd_docs(args) -> int:
    home = _set_home(args.home)
    import subprocess

    from orchestration.dbt import dbt_env, dbt_vars_args
    from orchestration.settings import DBT_PROJECT_DIR

    target = home.root / "dbt" / "docs"
    cmd = [str(Path(sys.executable).with_name("dbt")), "docs", "generate", "--project-dir", str(DBT_PROJECT_DIR),
           "--profiles-dir", str(DBT_PROJECT_DIR), "--target-path", str(target), *dbt_vars_args(home.settings)]
    proc = subprocess.run(cmd, env=dbt_env(home.root))
    if proc.returncode != 0:
        return proc.returncode
    from indicators import catalogue
    from indicators.docs import catalogue_html

    (target / "indicators.html").write_text(catalogue_html(catalogue()), encoding="utf-8")
    print(f"dbt docs written to {target / 'index.html'} (mart_indicators' meta holds the indicator catalogue)")
    print(f"indicator catalogue written to {target / 'indicators.html'}")
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="belonging", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    def add(name: str, func, help_: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_)
        p.add_argument("--home", help="BELONGING_HOME (default: $BELONGING_HOME or ./.belonging)")
        p.set_defaults(func=func)
        return p

    p = add("demo", cmd_demo, "write realistic sample landing files, refresh and publish")
    p.add_argument("--scale", choices=["small", "national"], default="small")
    p.add_argument("--seed", type=int, default=2026)
    p = add("refresh", cmd_refresh, "load landing files, build, gate and publish a release")
    p.add_argument("--full-rebuild", action="store_true",
                   help="rebuild the whole warehouse and re-check every lake file (after a change of definitions "
                   "the refresh does not detect itself); by default only what new files change is rebuilt")
    add("status", cmd_status, "current release, last refresh, quarantined inputs")
    p = add("sql", cmd_sql, "query the current release read-only (interactive without QUERY)")
    p.add_argument("query", nargs="*")
    p.add_argument("--format", choices=["table", "csv"], default="table",
                   help="csv: the result as CSV on standard output (text that a spreadsheet would run as a formula "
                   "is prefixed with ')")
    p = add("validate", cmd_validate, "check one landing file without loading it")
    p.add_argument("file")
    add("releases", cmd_releases, "list releases (* = current)")
    p = add("publish", cmd_publish, "point current at a release (roll back or forward)")
    p.add_argument("--release", required=True)
    add("docs", cmd_docs, "generate dbt docs for the warehouse and the indicator catalogue page")
    return parser


def main(argv: list[str] | None = None) -> int:
    import warnings

    warnings.filterwarnings("ignore", category=DeprecationWarning)
    with contextlib.suppress(ImportError):
        from dagster import SupersessionWarning

        warnings.filterwarnings("ignore", category=SupersessionWarning)
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
