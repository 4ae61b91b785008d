"""`ingestion.files.decode` against a line-by-line reference: UTF-8 wherever a line is UTF-8, Windows-1252 for a
line that is not, refused for a line with a byte cp1252 leaves undefined. decode does it in one pass (the rest of
a file is never decoded again at each cp1252 line: that was quadratic, 38 s for one 35 MB GIAS register)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from ingestion.files import CP1252_UNDEFINED, UTF8_BOM, UnreadableFile, decode

PIECES = [b"a", b",", b"\n", b"\r", b"\r\n", "\u00e9".encode(), "\u2019".encode(), "\U0001f600".encode(), b"\x92",
          b"\xe9", b"\x81", b"\xe2\x80", b"\xed\xa0\x80", b"\xc0\xaf", UTF8_BOM]


def reference(raw: bytes) -> tuple[str, tuple[int, ...]] | None:
    """The text and the lines decoded as cp1252, one line at a time; None where decode must refuse the file."""
    body = raw[len(UTF8_BOM):] if raw.startswith(UTF8_BOM) else raw
    text, fallback = [], []
    for number, line in enumerate(body.split(b"\n"), start=1):
        line = line + b"\n" if number <= body.count(b"\n") else line
        try:
            text.append(line.decode("utf-8"))
        except UnicodeDecodeError:
            if any(b in CP1252_UNDEFINED for b in line):
                return None
            text.append(line.decode("cp1252"))
            fallback.append(number)
    return "".join(text), tuple(fallback)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(PIECES), max_size=60))
def test_decode_is_the_line_by_line_reading(pieces):
    raw = b"".join(pieces)
    expected = reference(raw)
    try:
        text, _, fallback = decode(raw, "f.csv")
    except UnreadableFile as exc:
        assert expected is None and "neither UTF-8 nor Windows-1252" in str(exc)
        return
    assert (text, fallback) == expected


def test_a_register_with_thousands_of_cp1252_lines():
    """A GIAS-like file: every other line has a cp1252 apostrophe; each is decoded, and named, on its own."""
    lines = [f"{n},".encode() + (b"St Mary\x92s School\n" if n % 2 else "Caf\u00e9 Academy\n".encode())
             for n in range(20_000)]
    text, encoding, fallback = decode(b"".join(lines), "edubasealldata.csv")
    assert fallback == tuple(range(2, 20_001, 2))
    assert text.count("St Mary\u2019s School") == 10_000 and text.count("Caf\u00e9 Academy") == 10_000
    assert encoding.startswith("utf-8 (cp1252 on lines 2, 4, 6")
