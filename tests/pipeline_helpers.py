"""Run the `belonging` command on a temporary home, as a user would (a separate process each time)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb


def belonging(*args: str, home: Path, key: str | None = "test-pseudonym-key", timeout: int = 600,
              check: bool = False) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env.pop("BELONGING_HOME", None)
    env["DO_NOT_TRACK"] = "1"
    if key:
        env["BELONGING_PSEUDONYM_KEY"] = key
    else:
        env.pop("BELONGING_PSEUDONYM_KEY", None)
    proc = subprocess.run([sys.executable, "-m", "orchestration.cli", *args, "--home", str(home)],
                          env=env, capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"belonging {' '.join(args)} exited {proc.returncode}\n{proc.stdout[-4000:]}\n"
                             f"{proc.stderr[-4000:]}")
    return proc


def popen_belonging(*args: str, home: Path, key: str = "test-pseudonym-key") -> subprocess.Popen:
    env = dict(os.environ, DO_NOT_TRACK="1", BELONGING_PSEUDONYM_KEY=key)
    env.pop("BELONGING_HOME", None)
    return subprocess.Popen([sys.executable, "-m", "orchestration.cli", *args, "--home", str(home)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def current(home: Path) -> Path:
    return (home / "releases" / "current").resolve()


def release_query(home: Path, sql: str, params: list | None = None) -> list[tuple]:
    con = duckdb.connect(str(current(home) / "warehouse.duckdb"), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def tree_hashes(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def manifest(release: Path) -> dict:
    return json.loads((release / "manifest.json").read_text(encoding="utf-8"))
