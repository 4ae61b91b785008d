"""Reading landing files as they are: checksum, encoding and line endings detected, never assumed."""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import tempfile
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


def write_text_atomic(path: Path, text: str, suffix: str = ".tmp") -> None:
    """Write `text` to `path` whole or not at all: to a hidden temporary file beside it (`suffix`), then renamed
    over it; a failure leaves no temporary file behind."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def sha256_file(path: Path | str, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open_no_follow(path) as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


@dataclass(frozen=True)
class DecodedText:
    text: str
    # "utf-8-sig", "utf-8", "cp1252", or "utf-8 (cp1252 on lines 4, 9)": a UTF-8 file with lines that are not
    encoding: str
    line_ending: str  # "CRLF", "LF" or "CR"
    fallback_lines: tuple[int, ...] = ()  # lines decoded as Windows-1252 in a file that is otherwise UTF-8


# bytes that Windows-1252 leaves undefined: a line holding one is neither UTF-8 nor cp1252 (never guessed as latin-1)
CP1252_UNDEFINED = frozenset(b"\x81\x8d\x8f\x90\x9d")
MAX_LINES_NAMED = 10


def _lines(numbers: list[int]) -> str:
    more = f" and {len(numbers) - MAX_LINES_NAMED} more" if len(numbers) > MAX_LINES_NAMED else ""
    return ", ".join(str(n) for n in numbers[:MAX_LINES_NAMED]) + more


_NOT_UTF8 = re.compile("[\udc80-\udcff]")  # a byte `decode` found not to be UTF-8 (surrogateescape)


def decode(raw: bytes, name: str = "file") -> tuple[str, str, tuple[int, ...]]:
    """Decode line by line: UTF-8 (with or without BOM) wherever a line is UTF-8, Windows-1252 for a line that
    is not (the GIAS register and some DfE zips are written in it; ’ – “ ” live in 0x80-0x9F). So one cp1252
    byte in a UTF-8 file changes that line only, never the whole file into mojibake. A line that is neither
    (a byte cp1252 leaves undefined) refuses the file, naming the lines: latin-1 control characters are never
    guessed. Returns (text, encoding label, lines decoded as cp1252)."""
    bom = raw.startswith(UTF8_BOM)
    # one pass: bytes that are not UTF-8 become lone surrogates (which UTF-8 text never holds), so the lines to
    # decode again are found without re-decoding the rest of the file at each (a cp1252 GIAS register has
    # thousands of such lines: that was quadratic, 38 s for one 35 MB file)
    text = raw[len(UTF8_BOM) if bom else 0:].decode("utf-8", "surrogateescape")
    parts: list[str] = []
    fallback: list[int] = []
    undefined: list[tuple[int, int]] = []
    pos, line_no, utf8_non_ascii = 0, 1, False
    for found in _NOT_UTF8.finditer(text):
        if found.start() < pos:
            continue  # on a line already decoded
        start = text.rfind("\n", pos, found.start()) + 1 or pos
        end = text.find("\n", found.start())
        end = len(text) if end < 0 else end + 1
        good = text[pos:start]
        parts.append(good)
        utf8_non_ascii = utf8_non_ascii or not good.isascii()
        line_no += good.count("\n")
        line = text[start:end].encode("utf-8", "surrogateescape")  # the line's own bytes
        if any(b in CP1252_UNDEFINED for b in line):
            undefined.append((line_no, next(b for b in line if b in CP1252_UNDEFINED)))
        else:
            parts.append(line.decode("cp1252"))
        fallback.append(line_no)
        line_no += line.count(b"\n")
        pos = end
    rest = text[pos:]
    parts.append(rest)
    utf8_non_ascii = utf8_non_ascii or not rest.isascii()
    if undefined:
        first_line, byte = undefined[0]
        raise UnreadableFile(name, f"line {_lines([n for n, _ in undefined])}: neither UTF-8 nor Windows-1252 "
                             f"(byte 0x{byte:02X} on line {first_line} is undefined in cp1252; rule encoding): "
                             "not guessed as latin-1; save the file as UTF-8")
    if not fallback:
        return "".join(parts), "utf-8-sig" if bom else "utf-8", ()
    if not utf8_non_ascii and not bom:
        return "".join(parts), "cp1252", tuple(fallback)
    return "".join(parts), f"utf-8 (cp1252 on lines {_lines(fallback)})", tuple(fallback)


def detect_encoding(raw: bytes) -> str:
    """The encoding label `decode` gives these bytes ("utf-8", "utf-8-sig", "cp1252" or mixed by line)."""
    return decode(raw)[1]


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
        from ingestion.describe import binary_kind

        raise UnreadableFile(path, f"{binary_kind(raw)}: not a CSV text file")
    text, encoding, fallback = decode(raw, path.name)
    ending = detect_line_ending(text)
    if ending != "LF":
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return DecodedText(text=text, encoding=encoding, line_ending=ending, fallback_lines=fallback)
