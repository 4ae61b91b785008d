"""The Dagster UI, started as the README says (`dagster dev -w workspace.yaml`), answers on localhost and lists
every asset, with its layer, owners and kinds, and every asset check, as the code location defines them."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.integration

QUERY = """{ assetNodes { assetKey { path } groupName description isMaterializable kinds
  owners { ... on TeamAssetOwner { team } ... on UserAssetOwner { email } }
  assetChecksOrError { ... on AssetChecks { checks { name blocking } } } } }"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def graphql(port: int, query: str) -> dict:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/graphql", data=json.dumps({"query": query}).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def wait_for_assets(port: int, proc: subprocess.Popen, log: Path, timeout: float = 180) -> list[dict]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"dagster dev exited {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            nodes = graphql(port, QUERY).get("data", {}).get("assetNodes") or []
            if nodes:
                return nodes
        except (urllib.error.URLError, ConnectionError, TimeoutError, json.JSONDecodeError):
            pass
        time.sleep(1)
    pytest.fail(f"dagster dev did not answer with assets within {timeout}s:\n{log.read_text()[-3000:]}")


def test_dagster_dev_lists_every_asset_and_check(tmp_path, dbt_manifest):
    from orchestration.definitions import defs

    home = tmp_path / "home"
    (home / "dagster").mkdir(parents=True)
    (home / "dagster" / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    env = {**os.environ, "BELONGING_HOME": str(home), "DAGSTER_HOME": str(home / "dagster"), "DO_NOT_TRACK": "1",
           "BELONGING_PSEUDONYM_KEY": "test-pseudonym-key"}
    port = free_port()
    log = tmp_path / "dagster-dev.log"
    with open(log, "w") as out:
        # its own process group (setsid): stopped below by the group's id, every child with it
        proc = subprocess.Popen([str(Path(sys.executable).with_name("dagster")), "dev", "-w", "workspace.yaml",
                                 "-h", "127.0.0.1", "-p", str(port)], cwd=REPO, env=env, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
    try:
        nodes = wait_for_assets(port, proc, log)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)

    graph = defs.resolve_asset_graph()
    served = {"/".join(n["assetKey"]["path"]): n for n in nodes}
    assert set(served) == {k.to_user_string() for k in graph.get_all_asset_keys()}
    assert {n["groupName"] for n in nodes} == {"landing", "lake", "warehouse", "gates", "release"}
    for key, node in served.items():
        assert node["description"] and node["kinds"] and node["owners"], key
    assert served["mart_indicators"]["groupName"] == "warehouse"
    assert {"team": "data-engineering"} in served["lake/dfe_census"]["owners"]
    assert {"team": "publishing"} in served["publication/release"]["owners"]

    checks = {(key, c["name"]): c["blocking"] for key, n in served.items()
              for c in (n["assetChecksOrError"] or {}).get("checks", [])}
    assert set(checks) == {(k.asset_key.to_user_string(), k.name) for k in graph.asset_check_keys}
    gates = {k: blocking for k, blocking in checks.items() if k[1] in ("raw_gate", "mart_gate", "extract_gate")}
    assert len(gates) == 13 and all(gates.values())  # 11 raw tables, the mart, the extracts
    assert ("lake/dfe_exclusions", "raw_gate") in gates and ("publication/extracts", "extract_gate") in gates
