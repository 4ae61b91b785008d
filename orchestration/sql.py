"""`belonging sql`: DuckDB on a release's warehouse, read-only, in a sandbox; one query or an interactive shell.

The sandbox: the connection is read-only with external access off and its configuration locked (so a query
reads the release's tables and views and no other file), and statements other than queries are refused by
name before DuckDB sees them (`SQL_ALLOWED`).

The shell: line editing and history (GNU readline, history in ~/.belonging_sql_history), table and column
names completed with Tab, `.tables`, `.schema NAME`, `.help`, `.quit`; results fitted to the terminal's
width; Ctrl-C cancels a running query (or clears the line being typed) and the shell goes on.
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import shutil
import sys
import threading
from pathlib import Path

EXIT_OK, EXIT_FAILED = 0, 1
# what `belonging sql` runs: queries (SELECT, SHOW, DESCRIBE, SUMMARIZE, PIVOT), EXPLAIN, PRAGMA and CALL of
# catalog functions, SET of variables and transactions. COPY, EXPORT, ATTACH, INSTALL/LOAD and every write
# are refused before DuckDB sees them; the sandboxed connection refuses them again if they got through.
SQL_ALLOWED = ("SELECT", "EXPLAIN", "PRAGMA", "CALL", "MULTI", "SET", "VARIABLE_SET", "TRANSACTION")
HISTORY = Path("~/.belonging_sql_history")
HISTORY_LENGTH = 2000
PIPE_WIDTH = 240  # output that is not a terminal (a file, a pipe) is this wide
MAX_ROWS = 10_000
CANCELLED = "query cancelled (Ctrl-C)"
HELP = """.tables          the release's tables and views
.schema NAME     the columns of a table or view
.help            this text
.quit            leave (or Ctrl-D)
End a statement with ';'. Ctrl-C cancels a running query or clears the line. Export a result with
`belonging sql --format csv "select ..." > result.csv` (the shell writes no file)."""


def sandboxed_connection(warehouse: Path, scratch: str):
    """A read-only connection to a release's warehouse that can read and write no other file."""
    import duckdb

    from publication.releases import SANDBOX

    return duckdb.connect(str(warehouse), read_only=True, config={**SANDBOX, "temp_directory": scratch})


def refused_statement(query: str) -> str | None:
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


def output_width(stream=None) -> int:
    """The terminal's width as it is now (the window's, not a stale $COLUMNS); PIPE_WIDTH for a file or pipe."""
    stream = stream or sys.stdout
    if stream.isatty():
        try:
            return os.get_terminal_size(stream.fileno()).columns or PIPE_WIDTH
        except (OSError, ValueError):
            return shutil.get_terminal_size((PIPE_WIDTH, 24)).columns
    return PIPE_WIDTH


def _write_result(rel, fmt: str) -> None:
    if fmt == "csv":
        from publication.extracts import neutralise_formula

        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(rel.columns)
        for row in rel.fetchall():
            writer.writerow([neutralise_formula(v) if isinstance(v, str) else v for v in row])
    else:
        print(render(rel, output_width()))
    sys.stdout.flush()


def _show(rel, width: int, max_col_width: int | None) -> str:
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        rel.show(max_rows=MAX_ROWS, max_width=width, max_col_width=max_col_width)
    return buffer.getvalue().rstrip("\n")


def _widest(text: str) -> int:
    return max((len(line) for line in text.splitlines()), default=0)


def render(rel, width: int) -> str:
    """The result as DuckDB's box table, no wider than `width`: long cells cut shorter, then only the leading
    columns that fit, with a line naming how many more there are. The query runs once (its result is held
    in memory and rendered from there)."""
    import duckdb

    result = duckdb.connect().from_arrow(rel.to_arrow_table())
    for max_col_width in (None, 40, 24, 16, 10):
        text = _show(result, width, max_col_width)
        if _widest(text) <= width:
            return text
    columns = result.columns
    for keep in range(len(columns) - 1, 0, -1):
        text = _show(result.select(*columns[:keep]), width, 10)
        if _widest(text) <= width or keep == 1:
            return (text + f"\n  {len(columns) - keep} more column(s) not shown at this width: "
                    + ", ".join(columns[keep:keep + 5]) + (", ..." if len(columns) > keep + 5 else "")
                    + " (select them by name, or --format csv)")
    return text


def run_sql(con, query: str, fmt: str = "table") -> int:
    """Run one query (or several, `;`-separated) and print its result. The query runs in a worker thread so
    that Ctrl-C (KeyboardInterrupt in this thread) interrupts DuckDB and returns here: 130, not a traceback."""
    import duckdb

    refused = refused_statement(query)
    if refused:
        print(refused, file=sys.stderr)
        return EXIT_FAILED
    failure: list[BaseException] = []

    def work() -> None:
        try:
            rel = con.sql(query)
            if rel is not None:
                _write_result(rel, fmt)
        except BaseException as exc:  # noqa: BLE001 - handed to the waiting thread
            failure.append(exc)

    worker = threading.Thread(target=work, daemon=True)
    worker.start()
    try:
        while worker.is_alive():
            worker.join(0.1)
    except KeyboardInterrupt:
        con.interrupt()
        worker.join()
        print(CANCELLED, file=sys.stderr)
        return 130
    if failure:
        exc = failure[0]
        if isinstance(exc, duckdb.Error):
            print(f"error: {str(exc).strip()}", file=sys.stderr)
            return EXIT_FAILED
        raise exc
    return EXIT_OK


def names(con) -> list[tuple[str, str]]:
    """(name, 'table' or 'view') of every table and view of the release, by name."""
    return con.execute("select table_name, lower(table_type) from information_schema.tables "
                       "where table_schema = 'main' order by table_name").fetchall()


def _dot_command(con, line: str) -> bool:
    """Run a `.command`; False when the shell should end."""
    word, _, rest = line.strip().partition(" ")
    if word in (".quit", ".exit", ".q"):
        return False
    if word == ".tables":
        listed = [n for n, _ in names(con)]
        width = max((len(n) for n in listed), default=0) + 2
        per_line = max(1, output_width() // max(width, 1))
        for i in range(0, len(listed), per_line):
            print("".join(n.ljust(width) for n in listed[i:i + per_line]).rstrip())
    elif word == ".schema" and rest.strip():
        run_sql(con, f"describe {rest.strip().rstrip(';')}")
    elif word == ".help":
        print(HELP)
    else:
        print(f"unknown command {word} (.help lists them)", file=sys.stderr)
    return True


def _readline(con):
    """Line editing, history and Tab completion of table and column names (None without readline)."""
    try:
        import readline
    except ImportError:  # pragma: no cover - Python built without readline
        return None
    words = sorted({n for n, _ in names(con)} | {c for (c,) in con.execute(
        "select distinct column_name from information_schema.columns where table_schema = 'main'").fetchall()}
        | {".tables", ".schema", ".help", ".quit"})

    def complete(text: str, state: int):
        matches = [w for w in words if w.startswith(text)]
        return matches[state] if state < len(matches) else None

    readline.set_completer(complete)
    readline.set_completer_delims(" \t\n(),;=<>'\"")
    readline.parse_and_bind("tab: complete")
    history = HISTORY.expanduser()
    with contextlib.suppress(OSError):
        readline.read_history_file(history)
    readline.set_history_length(HISTORY_LENGTH)
    return readline, history


def shell(con, release_id: str, fmt: str = "table") -> int:
    """The interactive shell on an open sandboxed connection; returns when the user quits."""
    edit = _readline(con) if sys.stdin.isatty() else None
    tables = [n for n, kind in names(con) if kind == "base table"]
    print(f"belonging sql: release {release_id}, read-only. Tables: {', '.join(tables[:8])}"
          + (", ..." if len(tables) > 8 else "") + ". Type .help; end statements with ';'; Ctrl-D quits.")
    buffer = ""
    try:
        while True:
            try:
                line = input("belonging> " if not buffer else "      ...> ")
            except KeyboardInterrupt:
                print("^C")
                buffer = ""
                continue
            except EOFError:
                print()
                return EXIT_OK
            if not buffer and line.strip().startswith("."):
                if not _dot_command(con, line):
                    return EXIT_OK
                continue
            buffer += line + "\n"
            if buffer.strip().endswith(";"):
                query, buffer = buffer, ""
                try:
                    run_sql(con, query, fmt)
                except KeyboardInterrupt:  # Ctrl-C before the query started: nothing to cancel
                    print(CANCELLED, file=sys.stderr)
    finally:
        if edit is not None:
            readline, history = edit
            with contextlib.suppress(OSError):
                readline.write_history_file(history)
                os.chmod(history, 0o600)
