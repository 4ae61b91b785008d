"""ingestion.download against a local HTTP server (127.0.0.1, random port) serving the real reference files."""

from __future__ import annotations

import hashlib
import io
import json
import os
import threading
import time
import zipfile
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from ingestion.download import (
    DEFAULT_CONFIG,
    DownloadConfigError,
    expand,
    fetch,
    fetch_all,
    load_download_config,
    resolve_download_config,
)
from tests.conftest import FIXTURES, REFERENCE

DFE = REFERENCE / "dfe"
EXCLUSIONS = DFE / "ees2019_exclusions_by_geographic_level_201617_subset.csv"
EXCLUSIONS_META = DFE / "ees2019_exclusions_by_geographic_level_201617_subset.meta.csv"
GIAS = DFE / "gias_edubasealldata_sample_2018.csv"
LINKS = DFE / "gias_links_edubasealldata20250903_head.csv"
CONFIGS = FIXTURES / "download"

UA = "belonging-tests/1.0"


class _Handler(BaseHTTPRequestHandler):
    """Serves `server.routes[path]`: {body, content_type, etag, last_modified, mode}.

    mode: ok (default) | truncate (Content-Length of the whole body, half sent, connection closed) |
    stall (half the body, then a pause longer than the client's timeout).
    """

    def log_message(self, *args) -> None:  # keep pytest output clean
        pass

    def do_GET(self) -> None:
        self.server.requests.append((self.path, {k.lower(): v for k, v in self.headers.items()}))
        route = self.server.routes.get(self.path)
        if route is None:
            self.send_error(404, "Not Found")
            return
        etag, modified = route.get("etag"), route.get("last_modified")
        if etag and self.headers.get("If-None-Match") == etag:
            self.send_response(304)
            self.send_header("ETag", etag)
            self.end_headers()
            return
        body: bytes = route["body"]
        mode = route.get("mode", "ok")
        self.send_response(200)
        self.send_header("Content-Type", route.get("content_type", "text/csv"))
        self.send_header("Content-Length", str(len(body)))
        if etag:
            self.send_header("ETag", etag)
        if modified:
            self.send_header("Last-Modified", modified)
        self.end_headers()
        if mode == "ok":
            self.wfile.write(body)
        else:
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            if mode == "stall":
                time.sleep(0.6)
        self.close_connection = True


@pytest.fixture(scope="module")
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
    httpd.routes = {}
    httpd.requests = []
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def serve(server):
    """serve(path, body, **route) -> absolute URL; routes are cleared after each test."""
    server.routes.clear()
    server.requests.clear()

    def add(path: str, body: bytes, **route) -> str:
        server.routes[path] = {"body": body, **route}
        return f"http://127.0.0.1:{server.server_address[1]}{path}"

    yield add
    server.routes.clear()


def base_url(server) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}"


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def visible_and_partial(folder: Path) -> tuple[list[str], list[str]]:
    names = sorted(p.name for p in folder.iterdir()) if folder.exists() else []
    return [n for n in names if not n.startswith(".")], [n for n in names if n.endswith(".part")]


# --------------------------------------------------------------------------------------------------------
# fetch


def test_first_fetch_writes_the_reference_bytes(serve, tmp_path):
    data = EXCLUSIONS.read_bytes()
    url = serve("/exclusions.csv", data)
    dest = tmp_path / "landing" / "dfe" / "exclusions.csv"

    result = fetch(url, dest, timeout=5, user_agent=UA)

    assert result.status == "downloaded", result.message
    assert dest.read_bytes() == data
    assert result.sha256 == sha(data)
    assert result.bytes == len(data) == 3525507
    assert result.files == (dest,)
    assert visible_and_partial(dest.parent) == (["exclusions.csv"], [])


def test_same_bytes_again_is_unchanged_and_not_touched(serve, server, tmp_path):
    data = GIAS.read_bytes()
    url = serve("/gias.csv", data)  # no ETag: the server sends the whole body again
    dest = tmp_path / "gias" / "edubasealldata20180101.csv"
    assert fetch(url, dest, timeout=5, user_agent=UA).status == "downloaded"
    os.utime(dest, ns=(1_000_000_000_000_000_000, 1_000_000_000_000_000_000))
    inode = dest.stat().st_ino

    result = fetch(url, dest, timeout=5, user_agent=UA)

    assert result.status == "unchanged", result.message
    assert "left untouched" in result.message
    assert result.bytes == len(data)
    assert dest.stat().st_mtime_ns == 1_000_000_000_000_000_000
    assert dest.stat().st_ino == inode
    assert server.requests[-1][1]["user-agent"] == UA
    assert "if-none-match" not in server.requests[-1][1]


def test_changed_content_replaces_the_file(serve, tmp_path):
    url = serve("/register.csv", GIAS.read_bytes())
    dest = tmp_path / "gias" / "register.csv"
    first = fetch(url, dest, timeout=5, user_agent=UA)
    serve("/register.csv", LINKS.read_bytes())

    second = fetch(url, dest, timeout=5, user_agent=UA)

    assert (first.status, second.status) == ("downloaded", "downloaded")
    assert "replaced register.csv" in second.message
    assert dest.read_bytes() == LINKS.read_bytes()
    assert second.sha256 == sha(LINKS.read_bytes()) != first.sha256


def test_etag_conditional_request_and_304(serve, server, tmp_path):
    data = LINKS.read_bytes()
    url = serve("/links.csv", data, etag='"v1"', last_modified="Wed, 03 Sep 2025 06:00:00 GMT")
    dest = tmp_path / "gias" / "links.csv"
    first = fetch(url, dest, timeout=5, user_agent=UA)
    sidecar = dest.parent / ".links.csv.http.json"
    saved = json.loads(sidecar.read_text())
    assert saved["etag"] == '"v1"' and saved["files"] == {"links.csv": sha(data)}
    mtime = dest.stat().st_mtime_ns

    second = fetch(url, dest, timeout=5, user_agent=UA)

    sent = server.requests[-1][1]
    assert sent["if-none-match"] == '"v1"'
    assert sent["if-modified-since"] == "Wed, 03 Sep 2025 06:00:00 GMT"
    assert second.status == "unchanged" and "HTTP 304" in second.message
    assert (second.bytes, second.sha256) == (0, first.sha256)
    assert dest.stat().st_mtime_ns == mtime


def test_no_conditional_request_when_the_file_is_gone_or_edited(serve, server, tmp_path):
    data = LINKS.read_bytes()
    url = serve("/links.csv", data, etag='"v1"')
    dest = tmp_path / "links.csv"
    fetch(url, dest, timeout=5, user_agent=UA)

    dest.write_bytes(b"edited by hand\n")
    edited = fetch(url, dest, timeout=5, user_agent=UA)
    assert "if-none-match" not in server.requests[-1][1]
    assert edited.status == "downloaded" and dest.read_bytes() == data

    dest.unlink()
    gone = fetch(url, dest, timeout=5, user_agent=UA)
    assert "if-none-match" not in server.requests[-1][1]
    assert gone.status == "downloaded" and dest.read_bytes() == data


def test_404_reports_failed_and_writes_nothing(server, tmp_path):
    url = f"{base_url(server)}/edubase/downloads/public/edubasealldata20990101.csv"
    dest = tmp_path / "gias" / "edubasealldata20990101.csv"

    result = fetch(url, dest, timeout=5, user_agent=UA)

    assert result.status == "failed"
    assert result.sha256 is None
    assert "HTTP 404" in result.message and url in result.message and "nothing written" in result.message
    assert visible_and_partial(dest.parent) == ([], [])
    assert list(dest.parent.iterdir()) == []


def test_truncated_body_leaves_no_partial_file_and_keeps_the_old_one(serve, tmp_path):
    data = EXCLUSIONS.read_bytes()
    url = serve("/exclusions.csv", data, mode="truncate")
    fresh = tmp_path / "fresh" / "exclusions.csv"

    result = fetch(url, fresh, timeout=5, user_agent=UA)

    assert result.status == "failed"
    assert f"truncated response: received {len(data) // 2} of {len(data)} bytes" in result.message
    assert list(fresh.parent.iterdir()) == []

    old = tmp_path / "old" / "exclusions.csv"
    old.parent.mkdir()
    old.write_bytes(EXCLUSIONS_META.read_bytes())
    kept = fetch(url, old, timeout=5, user_agent=UA)
    assert kept.status == "failed" and "existing file is kept" in kept.message
    assert old.read_bytes() == EXCLUSIONS_META.read_bytes()
    assert visible_and_partial(old.parent) == (["exclusions.csv"], [])


def test_stalled_body_times_out_without_partial_file(serve, tmp_path):
    url = serve("/slow.csv", GIAS.read_bytes(), mode="stall")
    dest = tmp_path / "slow.csv"

    result = fetch(url, dest, timeout=0.2, user_agent=UA)

    assert result.status == "failed"
    assert "timed out after 0.2 s" in result.message
    assert list(tmp_path.iterdir()) == []


def test_html_page_is_not_a_data_file(serve, tmp_path):
    url = serve("/login", b"<!DOCTYPE html><html><body>Sign in</body></html>", content_type="text/html")
    dest = tmp_path / "census.csv"

    result = fetch(url, dest, timeout=5, user_agent=UA)

    assert result.status == "failed" and "HTML page" in result.message
    assert list(tmp_path.iterdir()) == []


def test_only_http_addresses_are_fetched(tmp_path):
    result = fetch(GIAS.as_uri(), tmp_path / "x.csv", timeout=5, user_agent=UA)
    assert result.status == "failed" and "only http(s)" in result.message
    assert list(tmp_path.iterdir()) == []


def _release_zip() -> bytes:
    """A zip laid out like an EES release download: data/ with CSV + .meta.csv, and a guidance file."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(f"data/{EXCLUSIONS.name}", EXCLUSIONS.read_bytes())
        archive.writestr(f"data/{EXCLUSIONS_META.name}", EXCLUSIONS_META.read_bytes())
        archive.writestr("data-guidance/data-guidance.txt", b"About these files\r\n")
    return buffer.getvalue()


def test_zip_response_is_extracted_keeping_member_names(serve, tmp_path):
    body = _release_zip()
    url = serve("/api/releases/0000/files", body, content_type="application/x-zip-compressed")
    dest = tmp_path / "dfe" / "exclusions" / "release.zip"

    result = fetch(url, dest, timeout=5, user_agent=UA)

    assert result.status == "downloaded", result.message
    assert result.sha256 == sha(body)
    folder = dest.parent
    assert visible_and_partial(folder) == (sorted([EXCLUSIONS.name, EXCLUSIONS_META.name]), [])
    assert (folder / EXCLUSIONS.name).read_bytes() == EXCLUSIONS.read_bytes()
    assert (folder / EXCLUSIONS_META.name).read_bytes() == EXCLUSIONS_META.read_bytes()
    assert {p.name for p in result.files} == {EXCLUSIONS.name, EXCLUSIONS_META.name}
    mtime = (folder / EXCLUSIONS.name).stat().st_mtime_ns

    again = fetch(url, dest, timeout=5, user_agent=UA)
    assert again.status == "unchanged", again.message
    assert (folder / EXCLUSIONS.name).stat().st_mtime_ns == mtime


def test_zip_without_csv_fails_and_writes_nothing(serve, tmp_path):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("data-guidance/data-guidance.txt", b"no data here")
    url = serve("/empty.zip", buffer.getvalue(), content_type="application/zip")

    result = fetch(url, tmp_path / "release.zip", timeout=5, user_agent=UA)

    assert result.status == "failed" and "zip holds no CSV file" in result.message
    assert "data-guidance/data-guidance.txt" in result.message
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------------------------------------
# fetch_all


def test_fetch_all_expands_dates_and_survives_a_failed_entry(serve, server, tmp_path):
    root = base_url(server) + "/edubase/downloads/public"
    serve("/edubase/downloads/public/edubasealldata20250903.csv", GIAS.read_bytes())
    serve("/edubase/downloads/public/links_edubasealldata20250903.csv", LINKS.read_bytes())
    config = [
        {
            "name": "gias_establishments",
            "url": root + "/edubasealldata{date:%Y%m%d}.csv",
            "dest": "gias/edubasealldata{date:%Y%m%d}.csv",
        },
        {"name": "missing", "url": root + "/nothing{date:%Y}.csv", "dest": "dfe/nothing.csv"},
        {"name": "bad_template", "url": root + "/{release}.csv", "dest": "dfe/x.csv"},
        {"name": "disabled", "url": root + "/x.csv", "dest": "dfe/x.csv", "enabled": False},
        {
            "name": "gias_links",
            "url": root + "/links_edubasealldata{date:%Y%m%d}.csv",
            "dest": "gias/links_edubasealldata{date:%Y%m%d}.csv",
            "timeout_seconds": 5,
        },
    ]
    landing = tmp_path / "landing"

    results = fetch_all(config, landing, today=date(2025, 9, 3), timeout=5, user_agent=UA)

    assert [(r.name, r.status) for r in results] == [
        ("gias_establishments", "downloaded"),
        ("missing", "failed"),
        ("bad_template", "failed"),
        ("gias_links", "downloaded"),
    ]
    assert results[1].message.startswith("download missing: ") and "nothing2025.csv" in results[1].message
    assert "HTTP 404" in results[1].message
    assert "{date:<format>}" in results[2].message
    assert (landing / "gias" / "edubasealldata20250903.csv").read_bytes() == GIAS.read_bytes()
    assert (landing / "gias" / "links_edubasealldata20250903.csv").read_bytes() == LINKS.read_bytes()
    assert not (landing / "dfe").exists() or visible_and_partial(landing / "dfe") == ([], [])
    assert [p for p, _ in server.requests].count("/edubase/downloads/public/x.csv") == 0


# --------------------------------------------------------------------------------------------------------
# configuration


def test_repository_config_loads_and_gias_addresses_expand():
    entries = load_download_config()
    by_name = {e["name"]: e for e in entries}
    assert expand(by_name["gias_establishments"]["url"], date(2025, 9, 3)) == (
        "https://ea-edubase-api-prod.azurewebsites.net/edubase/downloads/public/edubasealldata20250903.csv"
    )
    assert expand(by_name["gias_links"]["dest"], date(2025, 9, 3)) == "gias/links_edubasealldata20250903.csv"
    ees = [e for e in entries if e["name"].startswith("ees_")]
    assert len(ees) == 4 and all(e["enabled"] is False for e in ees)  # examples until a user edits them


def test_valid_override_loads(tmp_path):
    entries = load_download_config(CONFIGS / "downloads__valid.yaml")
    assert [e["name"] for e in entries] == ["gias_establishments", "ees_example"]
    assert entries[0]["timeout_seconds"] == 120


@pytest.mark.parametrize(
    ("fixture", "expected"),
    [
        ("downloads__unknown_key.yaml", "entry 1 (gias_links): unknown key(s) destination"),
        ("downloads__duplicate_name.yaml", "entry 2 (gias_establishments): duplicate name"),
        (
            "downloads__dest_escapes_landing.yaml",
            "entry 1 (sneaky): dest must be a path relative to landing/",
        ),
        ("downloads__not_a_list.yaml", "top level must be a list"),
    ],
)
def test_bad_config_names_file_entry_and_rule(fixture, expected):
    with pytest.raises(DownloadConfigError) as error:
        load_download_config(CONFIGS / fixture)
    assert fixture in str(error.value)
    assert expected in str(error.value)


def test_home_override_replaces_the_repository_list(tmp_path):
    assert resolve_download_config(tmp_path) == DEFAULT_CONFIG
    assert resolve_download_config(None) == DEFAULT_CONFIG
    override = tmp_path / "downloads.yaml"
    override.write_bytes((CONFIGS / "downloads__valid.yaml").read_bytes())
    assert resolve_download_config(tmp_path) == override


def test_broken_zip_fails_and_keeps_existing_files(serve, tmp_path):
    good = _release_zip()
    url = serve(
        "/broken.zip", good[: len(good) // 2], content_type="application/zip"
    )  # complete body, bad zip
    existing = tmp_path / EXCLUSIONS_META.name
    existing.write_bytes(b"previous release\n")

    result = fetch(url, tmp_path / "release.zip", timeout=5, user_agent=UA)

    assert result.status == "failed" and "broken zip: BadZipFile" in result.message
    assert visible_and_partial(tmp_path) == ([EXCLUSIONS_META.name], [])
    assert existing.read_bytes() == b"previous release\n"


def test_a_download_is_never_written_through_a_link_out_of_landing(serve, server, tmp_path):
    """landing/dfe made a link to a release's extracts: the download fails, naming the link; nothing is
    written there."""
    release = tmp_path / "home" / "releases" / "20261122T190000Z-aaaaaa" / "extracts"
    release.mkdir(parents=True)
    (release / "admin_indicators_national.csv").write_text("time_period,x\n202526,1\n")
    landing = tmp_path / "home" / "landing"
    landing.mkdir()
    (landing / "dfe").symlink_to(release, target_is_directory=True)
    url = serve("/admin_indicators_national.csv", b"tampered\n")
    config = [{"name": "over_a_release", "url": url, "dest": "dfe/admin_indicators_national.csv"}]

    (result,) = fetch_all(config, landing, today=date(2025, 9, 3), timeout=5, user_agent=UA)

    assert result.status == "failed" and "refused landing/dfe: a symbolic link" in result.message
    assert (release / "admin_indicators_national.csv").read_text() == "time_period,x\n202526,1\n"
    assert sorted(p.name for p in release.iterdir()) == ["admin_indicators_national.csv"]
    assert server.requests == []  # refused before asking
