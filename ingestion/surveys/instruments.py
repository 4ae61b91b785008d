"""Survey instruments as configuration: one YAML file each in ingestion/instruments/.

An instrument names its items (text, negative flag, optional per-tool column ids), its answer scale
(labels in order: the numeric code of a label is its 1-based position), its context questions and the
minimum number of items a response must answer. Adding an instrument is adding a file: the folder is
listed, nothing is registered in code.
"""

from __future__ import annotations

import functools
import hashlib
import math
import re
import unicodedata
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import yaml

from ingestion.lake_schema import SURVEY_RESPONSES

INSTRUMENTS_DIR = Path(__file__).resolve().parents[1] / "instruments"

# survey_responses columns a context question may fill
CONTEXT_FIELDS = ("year_group", "gender", "send", "fsm", "role")
assert all(f in SURVEY_RESPONSES for f in CONTEXT_FIELDS)

_TRAILING = ".?!:;,…-–— \t"
_QUOTES = str.maketrans({"’": "'", "‘": "'", "“": '"', "”": '"', "\u00a0": " "})


def normalise(text: object) -> str:
    """Question text or answer label for comparison: case, whitespace, curly quotes and trailing
    punctuation ignored."""
    if text is None:
        return ""
    if isinstance(text, str):
        return _normalise_str(text)
    return _normalise_str(str(text))


@functools.lru_cache(maxsize=1 << 16)
def _normalise_str(text: str) -> str:
    # cached: a national load normalises the same few answer labels millions of times
    s = unicodedata.normalize("NFKC", text).translate(_QUOTES)
    s = re.sub(r"\s+", " ", s).strip().casefold()
    return s.rstrip(_TRAILING).strip()


class InstrumentError(ValueError):
    """An instrument file that cannot be used (names the file and the problem)."""


@dataclass(frozen=True)
class Question:
    """An item (scored) or a context question (a survey_responses field)."""

    id: str  # item id, or the context field name
    text: str
    answers: tuple[str, ...]
    negative: bool = False
    aliases: tuple[str, ...] = ()
    columns: dict[str, tuple[str, ...]] = field(default_factory=dict)  # tool -> column ids

    @cached_property
    def texts(self) -> frozenset[str]:
        return frozenset(normalise(t) for t in (self.text, *self.aliases))

    @cached_property
    def _codes(self) -> dict[str, int]:
        """Normalised label -> code, first label wins (labels are distinct once normalised)."""
        codes: dict[str, int] = {}
        for i, label in enumerate(self.answers, start=1):
            codes.setdefault(normalise(label), i)
        return codes

    def column_ids(self, tool: str) -> frozenset[str]:
        ids = self.columns.get(tool, ())
        if tool == "qualtrics_legacy":
            ids = (*ids, *self.columns.get("qualtrics", ()))
        return frozenset(normalise(i) for i in ids)

    def code_of(self, value: object) -> int | None:
        """The 1-based answer code of a cell (label, case-insensitive, or numeric code); None if off-list."""
        if isinstance(value, bool):
            return None
        if isinstance(value, int | float):
            if float(value).is_integer() and 1 <= int(value) <= len(self.answers):
                return int(value)
            return None
        s = normalise(value)
        code = self._codes.get(s)
        if code is not None:
            return code
        if re.fullmatch(r"\d+(\.0+)?", s):
            n = int(float(s))
            if 1 <= n <= len(self.answers):
                return n
        return None


@dataclass(frozen=True)
class Instrument:
    id: str
    title: str
    stem: str
    answers: tuple[str, ...]
    agree_end: str  # "first" | "last": the end of the answer list that scores 100 on a positive item
    min_items_answered: int
    items: tuple[Question, ...]
    context: tuple[Question, ...]
    path: Path | None = None

    @property
    def scale_points(self) -> int:
        return len(self.answers)

    def score(self, item: Question, code: int) -> float:
        """0-100 for this answer, higher = more belonging (a negative item reversed)."""
        n = self.scale_points
        position = (n - code) / (n - 1) if self.agree_end == "first" else (code - 1) / (n - 1)
        return 100.0 * (1.0 - position if item.negative else position)


def _strings(value, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str | int):
        return (str(value),)
    if isinstance(value, list) and all(isinstance(v, str | int) for v in value):
        return tuple(str(v) for v in value)
    raise InstrumentError(f"{where}: expected a string or a list of strings, got {value!r}")


def _columns(value, where: str) -> dict[str, tuple[str, ...]]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InstrumentError(f"{where}: `columns` must map tool name -> column id(s)")
    return {str(tool): _strings(ids, f"{where} columns.{tool}") for tool, ids in value.items()}


def _labels(value, where: str) -> tuple[str, ...]:
    labels = _strings(value, where)
    if not labels or len({normalise(x) for x in labels}) != len(labels):
        raise InstrumentError(f"{where}: answers must be a non-empty list of distinct labels")
    return labels


def load_instrument(path: Path | str) -> Instrument:
    path = Path(path)
    try:
        # BaseLoader: every scalar is a string, so labels such as Yes/No stay labels (not booleans)
        doc = yaml.load(path.read_text(encoding="utf-8"), Loader=yaml.BaseLoader)
    except (OSError, yaml.YAMLError) as exc:
        raise InstrumentError(f"{path.name}: cannot read instrument: {exc}") from exc
    where = path.name
    if not isinstance(doc, dict):
        raise InstrumentError(f"{where}: not a mapping")
    for key in ("id", "scale", "items"):
        if key not in doc:
            raise InstrumentError(f"{where}: missing `{key}`")
    scale = doc["scale"]
    if not isinstance(scale, dict) or "answers" not in scale:
        raise InstrumentError(f"{where}: `scale` needs `answers`")
    answers = _labels(scale["answers"], f"{where} scale.answers")
    if len(answers) < 2:
        raise InstrumentError(f"{where}: a scale needs at least two answers")
    agree_end = scale.get("agree_end", "last")
    if agree_end not in ("first", "last"):
        raise InstrumentError(f"{where}: scale.agree_end must be `first` or `last`, got {agree_end!r}")
    items = []
    for n, raw in enumerate(doc["items"] or [], start=1):
        w = f"{where} items[{n}]"
        if not isinstance(raw, dict) or "id" not in raw or "text" not in raw:
            raise InstrumentError(f"{w}: an item needs `id` and `text`")
        negative = str(raw.get("negative", "false")).lower()
        if negative not in ("true", "false"):
            raise InstrumentError(f"{w}: `negative` must be true or false, got {negative!r}")
        items.append(
            Question(
                id=raw["id"],
                text=raw["text"],
                answers=answers,
                negative=negative == "true",
                aliases=_strings(raw.get("aliases"), f"{w} aliases"),
                columns=_columns(raw.get("columns"), w),
            )
        )
    if not items or len({i.id for i in items}) != len(items):
        raise InstrumentError(f"{where}: items must be a non-empty list with distinct ids")
    context = []
    for n, raw in enumerate(doc.get("context") or [], start=1):
        w = f"{where} context[{n}]"
        if not isinstance(raw, dict) or "field" not in raw or "text" not in raw or "answers" not in raw:
            raise InstrumentError(f"{w}: a context question needs `field`, `text` and `answers`")
        if raw["field"] not in CONTEXT_FIELDS:
            raise InstrumentError(
                f"{w}: field {raw['field']!r} is not a survey_responses column (one of {', '.join(CONTEXT_FIELDS)})"
            )
        context.append(
            Question(
                id=raw["field"],
                text=raw["text"],
                answers=_labels(raw["answers"], f"{w} answers"),
                aliases=_strings(raw.get("aliases"), f"{w} aliases"),
                columns=_columns(raw.get("columns"), w),
            )
        )
    default_min = math.ceil(2 * len(items) / 3)
    try:
        min_items = int(doc.get("min_items_answered", default_min))
    except ValueError as exc:
        raise InstrumentError(f"{where}: min_items_answered must be an integer") from exc
    if not 1 <= min_items <= len(items):
        raise InstrumentError(f"{where}: min_items_answered must be between 1 and {len(items)}")
    return Instrument(
        id=doc["id"],
        title=doc.get("title", doc["id"]),
        stem=doc.get("stem", ""),
        answers=answers,
        agree_end=agree_end,
        min_items_answered=min_items,
        items=tuple(items),
        context=tuple(context),
        path=path,
    )


def load_instruments(folder: Path | str | None = None) -> list[Instrument]:
    """Every instrument in the folder (default ingestion/instruments/), sorted by file name.

    Parsed once per folder content: a national load reads thousands of exports, and parsing the YAML for
    each was most of its time. The cache is keyed by the files' names and bytes, so an edited, added or
    removed instrument file is read again.
    """
    folder = Path(folder) if folder else INSTRUMENTS_DIR
    paths = sorted(folder.glob("*.y*ml"))
    digest = hashlib.sha256()
    for p in paths:
        try:
            digest.update(p.name.encode("utf-8") + b"\0" + p.read_bytes() + b"\0")
        except OSError as exc:
            raise InstrumentError(f"{p.name}: cannot read instrument: {exc}") from exc
    return list(_load_instruments(str(folder.resolve()), tuple(paths), digest.hexdigest()))


@functools.lru_cache(maxsize=32)
def _load_instruments(folder: str, paths: tuple[Path, ...], digest: str) -> tuple[Instrument, ...]:
    found = [load_instrument(p) for p in paths]
    ids = [i.id for i in found]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        raise InstrumentError(f"{folder}: instrument ids defined twice: {dupes}")
    return tuple(found)
