"""`belonging download` runs the download job (as the schedules do) and says what it fetched; a broken
downloads.yaml is one line naming the file."""

from __future__ import annotations

import functools
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import pytest

from orchestration.cli import EXIT_USAGE, main
from tests.conftest import FIXTURES

pytestmark = pytest.mark.integration


class Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def site(tmp_path):
    root = tmp_path / "site"
    root.mkdir()
    (root / "sen.csv").write_bytes((FIXTURES / "dfe" / "sen_2023.csv").read_bytes())
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(root)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def test_download_fetches_into_landing_and_says_so(tmp_path, site, capsys, dbt_manifest):
    home = tmp_path / "home"
    home.mkdir()
    (home / "downloads.yaml").write_text(f"- name: sen\n  url: {site}/sen.csv\n  dest: dfe/sen.csv\n"
                                         f"- name: gone\n  url: {site}/gone.csv\n  dest: dfe/gone.csv\n")
    code = main(["download", "--home", str(home)])
    out = capsys.readouterr().out
    assert code == 0, out
    assert (home / "landing" / "dfe" / "sen.csv").read_bytes() == (FIXTURES / "dfe" / "sen_2023.csv").read_bytes()
    assert "landing__downloads done: 1 downloaded, 0 unchanged, 1 failed" in out
    assert "gone.csv" in out and "404" in out  # the failed entry, named in the summary
    assert "Traceback" not in out


def test_a_broken_downloads_file_is_one_line(tmp_path, capsys):
    home = tmp_path / "home"
    home.mkdir()
    (home / "downloads.yaml").write_text("- name: x\n  url: http://example.invalid/x.csv\n")
    code = main(["download", "--home", str(home)])
    err = capsys.readouterr().err
    assert code == EXIT_USAGE and len(err.strip().splitlines()) == 1
    assert err.startswith("belonging download: not started:") and "downloads.yaml" in err
