"""Reading landing files as they are: checksum, encoding and line endings detected, never assumed."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

UTF8_BOM = b"\xef\xbb\xbf"


class UnreadableFile(Exception):
    """A landing file that cannot be read at all (it is moved to landing/quarantine/ with the reason)."""

    def __init__(self, path: Path | str, reason: str):
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"{self.path.name}: {reason}")


def open_no_follow(path: Path | str):
    """Open a file for reading in binary mode, refusing a symbolic link as the last component (ELOOP)."""
    return os.fdopen(os.open(path, os.O_RDONLY | os.O_NOFOLLOW), "rb")


def sha256_file(path: Path | str, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open_no_follow(path) as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


@dataclass(frozen=True)
class DecodedText:
    text: str
    encoding: str  # "utf-8-sig", "utf-8" or "cp1252"
    line_ending: str  # "CRLF", "LF" or "CR"


def detect_encoding(raw: bytes) -> str:
    """UTF-8 (with or without BOM) when the bytes decode as UTF-8, else Windows-1252.

    cp1252 is a superset of latin-1 for printable text (’ – “ ” live in 0x80-0x9F): the GIAS register
    and some DfE zips are written in it. Bytes that are undefined in cp1252 fall back to latin-1.
    """
    if raw.startswith(UTF8_BOM):
        return "utf-8-sig"
    try:
        raw.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        raw.decode("cp1252")
        return "cp1252"
    except UnicodeDecodeError:
        return "latin-1"


def detect_line_ending(text: str) -> str:
    crlf = text.count("\r\n")
    lf = text.count("\n") - crlf
    if crlf and crlf >= lf:
        return "CRLF"
    if lf:
        return "LF"
    return "CR" if "\r" in text else "LF"


def read_text(path: Path | str) -> DecodedText:
    """Decode a text file, normalising line endings to LF (quoted fields keep their content)."""
    path = Path(path)
    try:
        with open_no_follow(path) as fh:
            raw = fh.read()
    except OSError as exc:  # pragma: no cover - depends on the file system
        raise UnreadableFile(path, f"cannot open: {exc}") from exc
    if b"\x00" in raw[:4096]:
        raise UnreadableFile(path, "binary content (NUL bytes): not a CSV text file")
    encoding = detect_encoding(raw)
    text = raw.decode(encoding)
    ending = detect_line_ending(text)
    if ending != "LF":
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return DecodedText(text=text, encoding=encoding, line_ending=ending)
