"""`belonging sql` without a query, driven through a pseudo-terminal as a person would use it: line editing
and history (the Up arrow recalls the last line, not `^[[A`), `.tables`, results fitted to the terminal's
width, Ctrl-C cancelling a running query (the shell goes on, no traceback), Ctrl-D leaving with 0."""

from __future__ import annotations

import os
import signal
import sys
import time

import pexpect
import pytest

from tests.conftest import REPO
from tests.sql_helpers import small_release

PROMPT = "belonging> "
UP = "\x1b[A"


@pytest.fixture
def home(tmp_path):
    return small_release(tmp_path)


def spawn(home, tmp_path, width=80) -> pexpect.spawn:
    env = {**os.environ, "HOME": str(tmp_path), "TERM": "xterm", "DO_NOT_TRACK": "1"}
    for var in ("BELONGING_HOME", "COLUMNS", "LINES"):
        env.pop(var, None)
    child = pexpect.spawn(sys.executable, ["-m", "orchestration.cli", "sql", "--home", str(home)], cwd=str(REPO),
                          env=env, encoding="utf-8", timeout=60, dimensions=(40, width))
    child.expect_exact(PROMPT)
    return child


def test_tables_history_width_and_quit(home, tmp_path):
    child = spawn(home, tmp_path, width=60)
    assert "release 20261122T190000Z-aaaaaa" in child.before and "mart_indicators" in child.before
    child.sendline(".tables")
    child.expect_exact(PROMPT)
    assert "mart_indicators" in child.before and "school_indicators_wide" in child.before

    child.sendline("select 6 * 7 as answer;")
    child.expect_exact(PROMPT)
    assert "42" in child.before
    child.send(UP)  # readline recalls the last line...
    child.sendline("")
    child.expect_exact(PROMPT)
    assert "42" in child.before and "^[[A" not in child.before  # ...and it runs again

    child.sendline("select *, repeat('a long school name ', 8) as long_name, 'E92000001' as country_code "
                   "from mart_indicators;")  # wider than the terminal: fitted to its 60 columns
    child.expect_exact(PROMPT)
    table = [line for line in child.before.splitlines() if line.startswith(("│", "┌", "└", "├"))]
    assert table and max(len(line) for line in table) <= 60
    child.sendeof()
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    history = (tmp_path / ".belonging_sql_history").read_text()
    assert "select 6 * 7 as answer;" in history


@pytest.mark.parametrize("inherited", ["default", "blocked"])
def test_ctrl_c_cancels_a_running_query_and_the_shell_goes_on(home, tmp_path, inherited):
    # blocked: started by a process whose thread blocks SIGINT (inherited across exec), as a pytest-xdist worker's
    # may after a refresh ran in it: Ctrl-C still cancels (cli.ctrl_c_interrupts)
    if inherited == "blocked":
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        child = spawn(home, tmp_path)
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    child.sendline("select sum(a.range % 7) from range(100000000000) a;")  # minutes of work (a bare count of it took 8 s, and could end before the Ctrl-C)
    child.expect_exact("a;")  # the line as typed
    time.sleep(1)  # the query is running
    child.sendintr()
    child.expect_exact("query cancelled (Ctrl-C)")
    child.expect_exact(PROMPT)
    assert "Traceback" not in child.before
    child.sendline("select 'still here' as s;")
    child.expect_exact("still here")
    child.expect_exact(PROMPT)
    child.sendintr()  # at the prompt: clears the line, the shell stays
    child.expect_exact(PROMPT)
    child.sendline(".quit")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0


def test_the_shell_refuses_what_the_sandbox_refuses(home, tmp_path):
    child = spawn(home, tmp_path)
    child.sendline(f"copy (select 1) to '{tmp_path}/pwn.csv';")
    child.expect_exact("refused: COPY")
    child.expect_exact(PROMPT)
    child.sendeof()
    child.expect(pexpect.EOF)
    assert not (tmp_path / "pwn.csv").exists()
