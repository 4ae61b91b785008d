"""Landing digests kept between refreshes (ingestion.landing.KnownDigests): an unchanged file is not read again,
a changed one, a file changed just before its digest was kept, or a link swapped in, always is."""

from __future__ import annotations

import errno
import hashlib
import os

import pytest

from ingestion import files
from ingestion.landing import KnownDigests


@pytest.fixture
def reads(monkeypatch):
    counted = []
    real = files.sha256_file
    monkeypatch.setattr(files, "sha256_file", lambda path: counted.append(str(path)) or real(path))
    return counted


def test_an_unchanged_file_is_not_read_again(tmp_path, reads, monkeypatch):
    monkeypatch.setattr(KnownDigests, "RACY_NS", 0)  # as if the file changed long before its digest was kept
    data, cache = tmp_path / "a.csv", tmp_path / "cache" / "landing.json"
    data.write_bytes(b"URN,answer\n100001,3\n")
    first = KnownDigests(cache)
    digest = first.sha256(data)
    assert digest == hashlib.sha256(data.read_bytes()).hexdigest()
    first.save()
    assert KnownDigests(cache).sha256(data) == digest and reads == [str(data)]

    data.write_bytes(b"URN,answer\n100001,4\n")  # the same size, other bytes: another change time
    again = KnownDigests(cache)
    assert again.sha256(data) == hashlib.sha256(b"URN,answer\n100001,4\n").hexdigest() and len(reads) == 2
    again.save()
    data.unlink()
    KnownDigests(cache).save()  # a file gone is forgotten
    assert cache.read_text(encoding="utf-8") == "{}"


def test_a_digest_kept_right_after_the_change_is_not_trusted(tmp_path, reads):
    data, cache = tmp_path / "a.csv", tmp_path / "landing.json"
    data.write_bytes(b"x")
    for _ in range(3):  # changed less than RACY_NS before its digest was kept: read every time
        known = KnownDigests(cache)
        known.sha256(data)
        known.save()
    assert len(reads) == 3


def test_a_link_swapped_in_is_read_and_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(KnownDigests, "RACY_NS", 0)
    data, secret, cache = tmp_path / "a.csv", tmp_path / "secret.txt", tmp_path / "landing.json"
    data.write_bytes(b"x")
    secret.write_bytes(b"y")
    known = KnownDigests(cache)
    known.sha256(data)
    known.save()
    data.unlink()
    os.symlink(secret, data)
    with pytest.raises(OSError) as refused:
        KnownDigests(cache).sha256(data)
    assert refused.value.errno == errno.ELOOP


def test_a_damaged_cache_is_ignored(tmp_path):
    data, cache = tmp_path / "a.csv", tmp_path / "landing.json"
    data.write_bytes(b"x")
    cache.write_text("{not json", encoding="utf-8")
    assert KnownDigests(cache).sha256(data) == hashlib.sha256(b"x").hexdigest()
