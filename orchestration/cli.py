"""`belonging`: the command-line contract of spec/product.md.

Load DfE, GIAS and survey files dropped into landing/, build the warehouse, gate and publish releases.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import sys
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path

from orchestration.settings import PSEUDONYM_KEY_VAR, Home, SettingError, load_env
from orchestration.sql import SQL_ALLOWED, sandboxed_connection  # noqa: F401 - the sandbox lives in sql.py

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_BUSY, EXIT_BUG, EXIT_INTERRUPTED = 0, 1, 2, 3, 4, 130
EPILOG = f"""exit codes:
  {EXIT_OK}    done (refresh, demo: a release was published)
  {EXIT_FAILED}    refused by the data: a gate failed (nothing published), validate found a file that would
       not load, a query failed
  {EXIT_USAGE}    usage or configuration: a wrong option, a missing or invalid setting or key, no such home,
       release or file
  {EXIT_BUSY}    busy: another refresh, publish or retire holds the home's lock
  {EXIT_BUG}    unexpected error: the traceback is in the log file named on the error line
  {EXIT_INTERRUPTED}  interrupted (Ctrl-C)

settings: the environment, then <home>/.env, then .env in the repository (see .env.example), each for
what the one before it does not set; config/settings.yaml, overridden key by key by <home>/settings.yaml.
The home is --home, else $BELONGING_HOME, else ./.belonging."""
ERROR_LOG = "belonging.log"  # <home>/runs/belonging.log: tracebacks of commands that are not runs


class CliError(Exception):
    """An expected error: one or two plain lines with the fix, and an exit code."""

    def __init__(self, message: str, code: int = EXIT_USAGE):
        super().__init__(message)
        self.code = code


def _set_home(arg: str | None, *, create: bool = True) -> Home:
    """The home of `--home` or $BELONGING_HOME (after reading the .env files); created only for commands that
    write (`create`); for the others a home that does not exist is an error. Its settings are checked."""
    home = Home(load_env(arg))
    os.environ["DAGSTER_HOME"] = str(home.dagster_home)
    os.environ.setdefault("DO_NOT_TRACK", "1")
    if not create and not home.root.is_dir():
        raise CliError(f"no home at {home.root}: give --home or set BELONGING_HOME, or make one with "
                       f"`belonging demo --home {home.root}` (sample data) or `belonging refresh --home {home.root}`")
    home.settings  # noqa: B018 - a missing or invalid setting stops here, in one line
    return home.create() if create else home


@contextlib.contextmanager
def refresh_lock(home: Home, doing: str = "refresh"):
    """One writer: a second refresh (or publish, retire) of the same home stops at once."""
    path = home.root / ".refresh.lock"
    with open(path, "a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            raise CliError(f"not started: another refresh is running on {home.root} (or a publish or retire: "
                           f"{fh.read().strip()}); wait for it to finish", EXIT_BUSY) from None
        fh.seek(0)
        fh.truncate()
        fh.write(f"{doing}: pid {os.getpid()} since {datetime.now(UTC):%Y-%m-%dT%H:%M:%SZ}")
        fh.flush()
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def preflight(home: Home) -> None:
    """What a refresh needs before it starts: a hashing key when there are survey exports to read."""
    from ingestion.landing import scan
    from orchestration.settings import pseudonym_key

    exports = scan(home.landing, "surveys").files
    if exports and pseudonym_key(home) is None:
        raise CliError(
            f"not started: {len(exports)} survey export(s) in {home.landing / 'surveys'} need "
            f"{PSEUDONYM_KEY_VAR}, the secret key that hashes respondent identifiers.\n"
            f"  fix: set it in the environment or in {home.root / '.env'} (see .env.example); keep it out of the "
            "repository")


def cmd_refresh(args) -> int:
    home = _set_home(args.home)
    preflight(home)
    from orchestration.refresh import run_refresh

    with refresh_lock(home):
        outcome = run_refresh(home, force=args.force, full_rebuild=args.full_rebuild)
    # nothing changed since the current release: nothing published, and that is not a failure
    return EXIT_OK if outcome["status"] in ("published", "unchanged") else EXIT_FAILED


def cmd_demo(args) -> int:
    home = _set_home(args.home)
    loaded = [p for p in (home.lake / "raw" / "file_loads").glob("*.parquet") if not p.name.startswith("_")]
    if loaded and not home.is_demo:
        raise CliError(f"demo refused: {home.root} holds loaded data and is not a demo home; give a new --home "
                       "for the demo")
    home.mark_demo()  # a demo home hashes with the demo's key, now and at every later refresh
    from demo import generate

    started = time.perf_counter()
    summary = generate(home.landing, scale=args.scale, seed=args.seed)
    print(f"demo: wrote sample landing files to {home.landing} in {time.perf_counter() - started:.1f}s: "
          + ", ".join(f"{k}={v}" for k, v in summary.items() if isinstance(v, (int, str))), flush=True)
    print(f"demo: {home.root / 'DEMO'} marks this home as a demo (its own published hashing key); "
          f"`belonging refresh --home {home.root}` works on it from now on", flush=True)
    return cmd_refresh(argparse.Namespace(home=str(home.root), force=False, full_rebuild=False))


def cmd_download(args) -> int:
    home = _set_home(args.home)
    from ingestion.download import DownloadConfigError, load_download_config, resolve_download_config
    from orchestration.refresh import run_job

    config = resolve_download_config(home.root)
    try:
        load_download_config(config)
    except DownloadConfigError as exc:
        raise CliError(f"not started: {exc}") from None
    outcome = run_job(home, "download")
    return EXIT_OK if outcome["status"] == "done" else EXIT_FAILED


def cmd_status(args) -> int:
    home = _set_home(args.home, create=False)
    from orchestration.status import status_text

    print(status_text(home))
    return EXIT_OK


def release_warehouse(current: Path) -> Path:
    """The warehouse `belonging sql` opens in a release: its internal part (publication/releases.py)."""
    from publication.releases import release_parts

    return release_parts(current).warehouse


def ctrl_c_interrupts() -> None:
    """Ctrl-C cancels the running query even when `belonging sql` was started by a process that blocks or ignores
    SIGINT (both are inherited: a worker thread of a test runner, a background job of a script)."""
    import signal

    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    signal.signal(signal.SIGINT, signal.default_int_handler)


def cmd_sql(args) -> int:
    home = _set_home(args.home, create=False)
    import shutil
    import tempfile

    from orchestration.sql import run_sql, shell
    from publication.releases import current_release

    current = current_release(home.root)
    if current is None:
        raise CliError(f"no release published yet in {home.releases}: run `belonging refresh` "
                       "(or `belonging demo`)", EXIT_FAILED)
    if args.where:
        print(release_warehouse(current))
        return EXIT_OK
    ctrl_c_interrupts()
    scratch = tempfile.mkdtemp(prefix="belonging-sql-")  # DuckDB's spill space: never the release folder
    try:
        con = sandboxed_connection(release_warehouse(current), scratch)
        if args.query:
            return run_sql(con, " ".join(args.query), args.format)
        return shell(con, current.name, args.format)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def cmd_validate(args) -> int:
    home = Home(load_env(args.home))  # no home yet: validated against an empty lake (every survey school unknown)
    from ingestion.lake import Lake
    from ingestion.lake_schema import empty_frame
    from ingestion.surveys.schools import SchoolRegister
    from ingestion.validate import validate_path
    from orchestration.settings import pseudonym_key

    lake = Lake(home.lake) if home.lake.is_dir() else None
    gias = lake.read("gias_establishments") if lake else empty_frame("gias_establishments")
    links = lake.read("gias_links") if lake else empty_frame("gias_links")
    reports = validate_path(Path(args.file), pseudonym_key=pseudonym_key(home), lake=lake,
                            schools=SchoolRegister.from_frames(gias, links), settings=home.settings["surveys"],
                            limits=home.settings["limits"], gates=home.settings["gates"])
    if len(reports) == 1 and reports[0].missing:
        raise CliError(f"{args.file}: no such file")
    for i, report in enumerate(reports):
        if gias.is_empty() and report.kind == "survey":
            report.notes.append("note: no GIAS register in the lake yet, so every school would be unknown; "
                                "load GIAS first (belonging refresh)")
        print(("\n" if i else "") + report.text())
    if len(reports) > 1:
        print(f"\n{sum(r.ok for r in reports)} of {len(reports)} entries would load or be read with their data "
              "file")
    return EXIT_OK if all(r.ok for r in reports) else EXIT_FAILED


def cmd_releases(args) -> int:
    home = _set_home(args.home, create=False)
    from publication.releases import current_release, list_releases, release_parts

    current = current_release(home.root)
    releases = list_releases(home.root)
    if not releases:
        print("no releases yet")
        return EXIT_OK
    for rel in releases:
        rid = rel.name if isinstance(rel, Path) else str(rel)
        marker = "*" if current is not None and current.name == rid else " "
        parts = release_parts(home.releases / rid)
        created = json.loads(parts.manifest.read_text(encoding="utf-8")).get("created_at", "")
        print(f"{marker} {rid}  {created}" + (f"  ({parts.note})" if parts.note else ""))
    return EXIT_OK


def cmd_publish(args) -> int:
    home = _set_home(args.home, create=False)
    from publication.releases import list_releases, set_current

    known = [str(r) for r in list_releases(home.root)]
    if args.release not in known:
        raise CliError(f"refused: no release {args.release!r} in {home.releases}; "
                       f"`belonging releases` lists them ({len(known)} now)")
    with refresh_lock(home, "publish"):
        set_current(home.root, args.release)
    print(f"current -> {args.release}")
    return EXIT_OK


def cmd_retire(args) -> int:
    home = _set_home(args.home, create=False)
    from ingestion import retire

    if not args.target:
        records = retire.retired(home.lake)
        for r in records:
            print(f"{r['sha256'][:12]}  {r['file']}  retired {r['retired_at']} by {r['retired_by']}: {r['reason']}")
        if not records:
            print("no retired files")
        return EXIT_OK
    with refresh_lock(home, "retire"):
        try:
            sha, name = retire.resolve(home.lake, args.target)
            if args.undo:
                record = retire.undo(home.lake, sha)
                print(f"brought back {name} ({sha[:12]}): its rows are in the lake again "
                      f"(retired {record['retired_at']} by {record['retired_by']}: {record['reason']}); "
                      "the next refresh reads them")
                return EXIT_OK
            if not args.reason:
                raise CliError("say why with --reason '...' (the record keeps it)")
            record = retire.retire(home.lake, sha, name, args.reason)
        except retire.RetireError as exc:
            raise CliError(str(exc), EXIT_FAILED) from None
    print(f"retired {name} ({sha[:12]}): {len(record['parts'])} lake files moved to "
          f"{retire.retired_root(home.lake) / sha}; the next refresh builds without it")
    print(f"  undo: belonging retire --undo {sha[:12]}; the landing copy, if any, is skipped with a note until "
          "you remove it")
    return EXIT_OK


def cmd_docs(args) -> int:
    home = _set_home(args.home)
    import subprocess

    from orchestration.dbt import dbt_env, dbt_vars_args
    from orchestration.settings import DBT_PROJECT_DIR
    from publication.releases import current_release

    target = home.root / "dbt" / "docs"
    cmd = [str(Path(sys.executable).with_name("dbt")), "docs", "generate", "--project-dir", str(DBT_PROJECT_DIR),
           "--profiles-dir", str(DBT_PROJECT_DIR), "--target-path", str(target), *dbt_vars_args(home.settings)]
    log = home.runs / ERROR_LOG
    with open(log, "a", encoding="utf-8") as fh:
        proc = subprocess.run(cmd, env=dbt_env(home.root), stdout=fh, stderr=subprocess.STDOUT)
    if proc.returncode != 0:
        raise CliError(f"dbt docs generate failed (exit {proc.returncode}); its output is in {log}. A warehouse "
                       "is needed first: `belonging refresh`", EXIT_FAILED)
    from indicators import catalogue
    from indicators.docs import catalogue_html

    (target / "indicators.html").write_text(catalogue_html(catalogue()), encoding="utf-8")
    print(f"dbt docs: {target / 'index.html'} (serve the folder: python -m http.server -d {target})")
    print(f"indicator catalogue: {target / 'indicators.html'}")
    current = current_release(home.root)
    if current is not None:
        from publication.releases import release_parts

        parts = release_parts(current)
        print(f"validation summary of the current release: {parts.public / 'validation.html'}")
        run_id = json.loads(parts.manifest.read_text(encoding="utf-8")).get("run_id")
        data_docs = home.run_dir(run_id) / "data_docs" / "index.html" if run_id else None
        if data_docs is not None and data_docs.exists():
            print(f"Great Expectations Data Docs of its run: {data_docs}")
    return EXIT_OK


def _version() -> str:
    import subprocess
    from importlib import metadata

    try:
        version = metadata.version("belonging")
    except metadata.PackageNotFoundError:  # pragma: no cover - run from a checkout that is not installed
        version = "unknown"
    repo = Path(__file__).resolve().parents[1]
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        commit = subprocess.run(["git", "-C", str(repo), "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True, timeout=5).stdout.strip()
        if commit:
            version += f" (git {commit})"
    return f"belonging {version}"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="belonging", description=__doc__, epilog=EPILOG,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=_version(), help="show the version and exit")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, func, help_: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_, description=help_, epilog=EPILOG,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        p.add_argument("--home", help="the home folder (default: $BELONGING_HOME, else ./.belonging)")
        p.set_defaults(func=func)
        return p

    p = add("demo", cmd_demo, "write realistic sample landing files into a new home, refresh and publish")
    p.add_argument("--scale", choices=["small", "national"], default="small",
                   help="small: 300 schools, about 75 s; national: about 24,000 schools (default: small)")
    p.add_argument("--seed", type=int, default=2026, help="random seed of the sample data (default: 2026)")
    p = add("refresh", cmd_refresh, "load new landing files, build the warehouse, run every gate and publish a "
            "release when all pass; when nothing changed since the current release, say so and publish nothing")
    p.add_argument("--force", action="store_true",
                   help="publish a release even when nothing changed since the current one")
    p.add_argument("--full-rebuild", action="store_true",
                   help="rebuild every warehouse model from the whole lake (after a change of definitions)")
    add("download", cmd_download, "fetch the public DfE and GIAS files of config/downloads.yaml (or "
        "<home>/downloads.yaml) into landing/")
    add("status", cmd_status, "current release, last refresh, quarantined, refused, ignored and retired inputs")
    p = add("sql", cmd_sql, "query the current release read-only (an interactive shell without QUERY)")
    p.add_argument("query", nargs="*", help="the SQL to run; without it, an interactive shell")
    p.add_argument("--format", choices=["table", "csv"], default="table",
                   help="table (default) or csv: the result as CSV on standard output (text that a spreadsheet "
                   "would run as a formula is prefixed with ')")
    p.add_argument("--where", action="store_true",
                   help="print the path of the current release's warehouse (for the DuckDB CLI, Python or R) and exit")
    p = add("validate", cmd_validate, "say what one file (or every file under a folder) would load, what would be "
            "quarantined and why; writes nothing")
    p.add_argument("file", help="a landing file, or a folder (read as refresh reads landing/)")
    add("releases", cmd_releases, "list releases (* = current)")
    p = add("publish", cmd_publish, "point current at another release (roll back or forward)")
    p.add_argument("--release", required=True, help="the release id, as `belonging releases` lists it")
    p = add("retire", cmd_retire, "take a loaded file back out of the lake (recorded, reversible): the next "
            "refresh builds without it; without FILE, list retired files")
    p.add_argument("target", nargs="?", metavar="FILE|SHA256",
                   help="the file (a path, or its name as loaded, e.g. dfe/x.csv) or its sha256 (8+ digits)")
    p.add_argument("--reason", help="why it is retired (required to retire; kept in the record)")
    p.add_argument("--undo", action="store_true", help="bring a retired file's rows back into the lake")
    add("docs", cmd_docs, "generate dbt docs for the warehouse and the indicator catalogue page; name the "
        "current release's Data Docs")
    return parser


def _error_log(args) -> Path:
    """Where a traceback goes: <home>/runs/belonging.log when the home exists, else the temporary folder."""
    import tempfile

    with contextlib.suppress(Exception):
        runs = (Home(Path(args.home).expanduser().resolve()) if getattr(args, "home", None) else Home.from_env()).runs
        if runs.is_dir():
            return runs / ERROR_LOG
    return Path(tempfile.gettempdir()) / f"belonging-{os.getuid()}.log"


def main(argv: list[str] | None = None) -> int:
    import warnings

    warnings.filterwarnings("ignore", category=DeprecationWarning)  # dagster's own: orchestration/definitions.py
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except CliError as exc:
        print(f"belonging {args.command}: {exc}", file=sys.stderr)
        return exc.code
    except SettingError as exc:
        print(f"belonging {args.command}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"belonging {args.command}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:  # noqa: BLE001 - a bug: one line here, the traceback in the log
        log = _error_log(args)
        with open(log, "a", encoding="utf-8") as fh:
            fh.write(f"--- {datetime.now(UTC):%Y-%m-%dT%H:%M:%SZ} belonging {' '.join(argv or sys.argv[1:])}\n")
            fh.write(traceback.format_exc())
        print(f"belonging {args.command}: unexpected error: {type(exc).__name__}: {str(exc)[:300]}\n"
              f"  the traceback is in {log}; please report it", file=sys.stderr)
        return EXIT_BUG


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
