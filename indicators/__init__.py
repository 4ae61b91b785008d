"""The indicator catalogue (indicators/catalogue.yaml), read and checked once for every layer.

`catalogue()` returns the checked entries. Each consumer asks it what it needs:
- dbt gets the entries as the `indicators` var (`dbt_vars`), and its macros generate the cell and roll-up SQL;
- the mart gate asks each indicator's `range` and `share`;
- extracts ask the published name, label, grouping, unit and decimal places (`published`);
- disclosure control asks the class of each figure (`disclosure`, `gap_of`).

A pattern entry (`{item}` in its id) stands for one indicator per item of its survey instrument; `lookup`
resolves a warehouse name to its entry (with the item filled in) and `expanded` lists every concrete one.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path

import yaml

CATALOGUE = Path(__file__).resolve().parent / "catalogue.yaml"
CATALOGUE_ENV = "BELONGING_CATALOGUE"  # another catalogue file (a test's toy indicator, a fork's own)

LEVELS = ("School", "MAT", "Local authority", "Regional", "National")
SURVEY_BREAKDOWNS = ("year_group", "gender", "send", "fsm", "role")  # ingestion CONTEXT_FIELDS
FAMILIES = ("admin", "pupil_survey", "staff_survey", "attendance")
# in-year attendance (issue 15): published as the DfE gives it (National, Regional, Local authority rows of
# "Pupil attendance in schools"), never rolled up from schools; provisional, by education phase and period
ATTENDANCE = "attendance"
ATTENDANCE_BREAKDOWNS = ("education_phase",)
ATTENDANCE_LEVELS = ("Local authority", "Regional", "National")
# formula -> (families it computes, how its parts add up above school level, dbt `kind` of the value)
FORMULAS = {
    "count": ("admin", "sum", "sum"),
    "ratio": ("admin", "ratio_of_sums", "ratio"),
    "representation": ("admin", "ratio_of_sums", "ratio"),
    "cohort": ("admin", "ratio_of_sums", "ratio"),
    "respondents": ("survey", "sum", "sum"),
    "response_rate": ("survey", "ratio_of_sums", "ratio"),
    "scale_mean": ("survey", "pooled_mean", "mean"),
    "positive_share": ("survey", "ratio_of_sums", "ratio"),
    "item_agree": ("survey", "ratio_of_sums", "ratio"),
    "gap": ("survey", "difference_of_pooled_means", "gap"),
    # the DfE's own rate of each aggregate row (`rate`), with the counts behind it when it publishes them
    "published": (ATTENDANCE, "as_published", "ratio"),
    # the DfE's own aggregates by pupil characteristic (exclusions_characteristics): computed at each published
    # level from that level's row, never summed from schools (rollup `published`)
    "characteristic_rate": ("admin", "published", "ratio"),
    "risk_ratio": ("admin", "published", "risk_ratio"),
}
# the breakdowns of the by-characteristic files (config/characteristics.yaml), and the levels they publish
CHARACTERISTIC_BREAKDOWNS = ("sen_status", "fsm_status", "sex", "ethnicity_major")
PUBLISHED_LEVELS = ("Local authority", "Regional", "National")
UNITS = {  # unit -> EES indicator_unit
    "percent": "%",
    "rate_per_100": "",
    "ratio": "",
    "count": "",
    "score": "",
    "score_points": "",
}
DISCLOSURE = ("admin", "survey_cell", "survey_figure", "survey_gap")
FIELDS = {
    "id", "family", "source", "definition", "formula", "numerator", "denominator", "scale", "rollup", "unit",
    "range", "share", "dp", "published", "disclosure", "gap_of", "ci", "breakdowns", "levels", "years", "rate",
    "comparison",
}  # fmt: skip
ITEM = "{item}"
CHARACTERISTIC = "exclusions_characteristics."  # the by-characteristic counts (ingestion/characteristics.py)
SNAKE = re.compile(r"^[a-z][a-z0-9_]*$")


class CatalogueError(ValueError):
    """The catalogue breaks one of its rules; the message names the file, the entry and the rule."""


@dataclass(frozen=True)
class Published:
    name: str  # the extract column
    label: str
    grouping: str


@dataclass(frozen=True)
class Indicator:
    id: str
    family: str
    source: str
    definition: str
    formula: str
    rollup: str
    unit: str
    range: tuple[float | None, float | None]
    dp: int
    published: Published
    disclosure: str
    numerator: tuple[str, ...] = ()
    denominator: str | None = None
    scale: float = 1
    share: bool = False
    gap_of: str | None = None
    ci: bool = False
    breakdowns: tuple[str, ...] = ("Total",)
    levels: tuple[str, ...] = LEVELS
    years: int | None = None  # cohort: the denominator is counted this many academic years earlier
    rate: str | None = None  # published: the DfE's rate column, `attendance.<measure>`
    # risk_ratio: breakdown -> the category each group is compared with, or `rest` (all other pupils)
    comparison: tuple[tuple[str, str], ...] = ()
    item: str | None = None  # the item of a pattern entry filled in (lookup / expanded)

    @property
    def is_pattern(self) -> bool:
        return ITEM in self.id

    @property
    def kind(self) -> str:
        """How dbt computes the value from the summed parts: sum | ratio | mean | gap."""
        return FORMULAS[self.formula][2]

    @property
    def has_parts(self) -> bool:
        """Whether the figure has a numerator and denominator to show (a rate, share or mean; a published rate
        only where the DfE publishes the counts behind it)."""
        return self.kind in ("ratio", "mean") and (self.formula != "published" or self.denominator is not None)

    @property
    def ees_unit(self) -> str:
        return UNITS[self.unit]

    def for_item(self, item: str, negative: bool | None = None) -> Indicator:
        """The concrete indicator of one item of a pattern entry. What it counts follows the item's wording:
        `{answer}` is `agree` for a positively worded item and `disagree` for a negative one (the belonging
        direction), `{answer_words}` says it in words, `{item_text}` is the statement itself."""
        known = item_texts(self.source)
        if negative is None:
            negative = known.get(item, (None, False))[1]
        text = known.get(item, (item.replace("_", " "), negative))[0]
        fill = {
            "{item}": item,
            "{answer}": "disagree" if negative else "agree",
            "{answer_words}": "Disagree or strongly disagree" if negative else "Agree or strongly agree",
            "{item_text}": text.rstrip(" .?!"),
        }

        def sub(text: str) -> str:
            for key, value in fill.items():
                text = text.replace(key, value)
            return text

        published = Published(sub(self.published.name), sub(self.published.label), self.published.grouping)
        return replace(self, id=sub(self.id), published=published, definition=self.definition, item=item)

    def item_of(self, name: str) -> tuple[str, bool] | None:
        """The item (and whether its wording is negative, by the `{answer}` the name carries) that a warehouse
        name stands for under this pattern entry; None when it does not match."""
        if not self.is_pattern:
            return None
        pattern = re.escape(self.id).replace(re.escape(ITEM), "(?P<item>[a-z0-9_]+?)")
        pattern = pattern.replace(re.escape("{answer}"), "(?P<answer>agree|disagree)")
        match = re.fullmatch(pattern, name)
        if match is None:
            return None
        return match["item"], match.groupdict().get("answer") == "disagree"

    def as_dbt(self) -> dict:
        """What the dbt macros read (dbt_project/macros/indicators/): the docs' fields, how the value is made of
        the summed parts (`kind`), a gap's breakdown and, for admin entries, the input columns."""
        return {
            **self.as_doc(),
            "kind": self.kind,
            # admin inputs as columns of int_admin_inputs_pivoted (`census.headcount` -> `census__headcount`)
            "num_columns": [m.replace(".", "__") for m in self.numerator],
            "den_column": self.denominator.replace(".", "__") if self.denominator else None,
            "gap_of": self.gap_of,
            "years": self.years,
            "rate_column": self.rate.split(".", 1)[1] if self.rate else None,
            "comparison": dict(self.comparison),
        }

    def as_doc(self) -> dict:
        """What a reader of the docs needs (dbt docs `meta`, `belonging docs`)."""
        return {
            "id": self.id,
            "family": self.family,
            "source": self.source,
            "definition": self.definition,
            "formula": self.formula,
            "numerator": list(self.numerator),
            "denominator": self.denominator,
            "scale": self.scale,
            "rollup": self.rollup,
            "unit": self.unit,
            "range": list(self.range),
            "dp": self.dp,
            "published_name": self.published.name,
            "label": self.published.label,
            "disclosure": self.disclosure,
            "breakdowns": list(self.breakdowns),
            "levels": list(self.levels),
            **({"rate": self.rate} if self.rate else {}),
        }


@dataclass(frozen=True)
class Catalogue:
    entries: tuple[Indicator, ...]
    path: Path
    _by_id: dict[str, Indicator] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self):
        self._by_id.update({e.id: e for e in self.entries if not e.is_pattern})

    def __iter__(self):
        return iter(self.entries)

    def lookup(self, name: str, source: str | None = None) -> Indicator | None:
        """The entry of warehouse indicator `name` (of `source`), a pattern's item filled in; None if unknown."""
        entry = self._by_id.get(name)
        if entry is not None and (source is None or entry.source == source):
            return entry
        for entry in self.entries:
            if entry.is_pattern and (source is None or entry.source == source):
                found = entry.item_of(name)
                if found is None:
                    continue
                item, negative = found
                known = item_texts(entry.source)
                if item in known:  # an item of the instrument: the name must count in its belonging direction
                    if "{answer}" in entry.id and negative != known[item][1]:
                        continue
                    return entry.for_item(item)
                if source is not None:  # with its source, any item the lake holds for that instrument
                    return entry.for_item(item, negative)
        return None

    def get(self, name: str, source: str | None = None) -> Indicator:
        entry = self.lookup(name, source)
        if entry is None:
            raise CatalogueError(
                f"{self.path}: no entry for indicator {name!r}" + (f" of {source!r}" if source else "")
            )
        return entry

    def position(self, name: str, source: str | None = None) -> tuple[int, str]:
        """Where an indicator sorts: its entry's place in the catalogue, then (a pattern's) item."""
        e = self.get(name, source)
        pattern = e.id if e.item is None else next(p.id for p in self.entries if p.is_pattern and p.source == e.source
                                                   and (p.item_of(name) or ("",))[0] == e.item)  # fmt: skip
        return [x.id for x in self.entries].index(pattern), e.item or ""

    def expanded(self) -> list[Indicator]:
        """Every concrete indicator: pattern entries once per item of their instrument, in catalogue order."""
        out: list[Indicator] = []
        for entry in self.entries:
            if entry.is_pattern:
                out += [entry.for_item(item) for item in sorted(items_of(entry.source))]
            else:
                out.append(entry)
        return out

    def of(self, **where) -> list[Indicator]:
        """Entries whose attributes equal the given values (`of(family="admin")`)."""
        return [e for e in self.entries if all(getattr(e, k) == v for k, v in where.items())]

    def dbt_vars(self) -> dict:
        return {"indicators": [e.as_dbt() for e in self.entries]}


def catalogue_path() -> Path:
    return Path(os.environ.get(CATALOGUE_ENV) or CATALOGUE)


def catalogue(path: Path | str | None = None) -> Catalogue:
    """The checked catalogue (of `path`, else $BELONGING_CATALOGUE, else indicators/catalogue.yaml)."""
    path = Path(path) if path else catalogue_path()
    return _load(str(path.resolve()), path.stat().st_mtime_ns)


@cache
def _load(path: str, _mtime: int) -> Catalogue:
    try:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise CatalogueError(f"{path}: not valid YAML: {' '.join(str(exc).split())}") from None
    defaults = raw.get("defaults", {})
    entries = raw.get("indicators") or []
    if not isinstance(entries, list) or not entries:
        raise CatalogueError(f"{path}: `indicators` must be a list of entries")
    parsed = [_entry({**defaults, **e}, path, i) for i, e in enumerate(entries, start=1)]
    unique = {"id": lambda e: e.id, "published name": lambda e: e.published.name,
              "published label": lambda e: (e.source, e.published.label)}  # fmt: skip
    for what, key in unique.items():
        seen: dict = {}
        for e in parsed:
            if key(e) in seen:
                raise CatalogueError(f"{path}: entries {seen[key(e)]!r} and {e.id!r} have the same {what}")
            seen[key(e)] = e.id
    return Catalogue(tuple(parsed), Path(path))


def _entry(raw: dict, path: str, number: int) -> Indicator:
    where = f"{path}: entry {raw.get('id', number)!r}"

    def fail(rule: str):
        raise CatalogueError(f"{where}: {rule}")

    unknown = sorted(set(raw) - FIELDS)
    if unknown:
        fail(f"unknown field(s) {unknown} (known: {sorted(FIELDS)})")
    for required in ("id", "family", "source", "definition", "formula", "rollup", "unit", "range", "dp",
                     "published", "disclosure"):  # fmt: skip
        if raw.get(required) in (None, ""):
            fail(f"`{required}` is required")
    ident, family, formula = str(raw["id"]), raw["family"], raw["formula"]
    if not SNAKE.match(ident.replace(ITEM, "item").replace("{answer}", "agree")):
        fail("`id` must be snake_case (with `{item}` for a pattern)")
    if family not in FAMILIES:
        fail(f"`family` {family!r} is not one of {FAMILIES}")
    if formula not in FORMULAS:
        fail(f"`formula` {formula!r} is not one of {sorted(FORMULAS)}")
    computes, rollup, _kind = FORMULAS[formula]
    if computes != (family if family in ("admin", ATTENDANCE) else "survey"):
        fail(f"formula {formula!r} computes {computes} indicators, not {family}")
    if raw["rollup"] != rollup:
        fail(f"formula {formula!r} rolls up as {rollup!r}, not {raw['rollup']!r}")
    if raw["unit"] not in UNITS:
        fail(f"`unit` {raw['unit']!r} is not one of {sorted(UNITS)}")
    if (family == "admin") != (raw["source"] == "admin") or (family == ATTENDANCE) != (raw["source"] == ATTENDANCE):
        fail("admin indicators have source `admin`, attendance ones `attendance`; survey indicators the instrument's id")
    if family in ("pupil_survey", "staff_survey") and raw["source"] not in instrument_ids():
        fail(f"`source` {raw['source']!r} is no survey instrument (ingestion/instruments/: {instrument_ids()})")
    numerator = tuple(raw.get("numerator") or ())
    denominator = raw.get("denominator")
    rate = raw.get("rate")
    if (family == ATTENDANCE) != (rate is not None):
        fail("an attendance figure names the DfE's `rate` column (`attendance.<measure>`); nothing else does")
    if family == ATTENDANCE:
        if len(numerator) > 1 or bool(numerator) != bool(denominator):
            fail("a published rate has one `numerator` and a `denominator` (the counts the DfE publishes), or neither")
        for measure in (rate, *numerator, *([denominator] if denominator else [])):
            if not str(measure).startswith(f"{ATTENDANCE}.") or measure not in dfe_measures():
                fail(f"{measure!r} is no attendance measure of the lake (ingestion/lake_schema.py DFE_MEASURES)")
    elif family == "admin":
        if not numerator:
            fail(f"formula {formula!r} needs a `numerator`: DfE counts as <publication>.<measure>")
        if (formula == "count") == bool(denominator):
            fail("a count has no `denominator`; a ratio or representation needs one")
        for measure in (*numerator, *([denominator] if denominator else [])):
            if measure not in dfe_counts():
                fail(f"{measure!r} is no DfE count of the lake (ingestion/lake_schema.py DFE_MEASURES)")
    elif numerator or denominator:
        fail("survey formulas take no `numerator`/`denominator`: the formula names what it counts")
    years = raw.get("years")
    if (formula == "cohort") != (years is not None):
        fail(
            "a cohort has `years` (how many academic years before the numerator its denominator is counted); "
            "nothing else does"
        )
    if years is not None and (not isinstance(years, int) or isinstance(years, bool) or not 1 <= years <= 6):
        fail("`years` must be a whole number of academic years, 1 to 6")
    lo_hi = raw["range"]
    if not (isinstance(lo_hi, list) and len(lo_hi) == 2 and all(v is None or isinstance(v, int | float)
                                                                 for v in lo_hi)):  # fmt: skip
        fail("`range` must be [min, max] (numbers or null)")
    if None not in lo_hi and lo_hi[0] > lo_hi[1]:
        fail("`range` min is above max")
    disclosure = raw["disclosure"]
    if disclosure not in DISCLOSURE or (disclosure == "admin") != (family in ("admin", ATTENDANCE)):
        fail(f"`disclosure` {disclosure!r}: admin figures are `admin`, survey figures one of {DISCLOSURE[1:]}")
    gap_of = raw.get("gap_of")
    if (formula == "gap") != bool(gap_of) or (formula == "gap") != (disclosure == "survey_gap"):
        fail("a gap has `gap_of` (the breakdown of its two means) and disclosure `survey_gap`; nothing else does")
    if gap_of and gap_of not in SURVEY_BREAKDOWNS:
        fail(f"`gap_of` {gap_of!r} is not one of {SURVEY_BREAKDOWNS}")
    breakdowns = tuple(raw.get("breakdowns") or ("Total",))
    published_rollup = rollup == "published"
    if family == ATTENDANCE:
        if breakdowns[0] != "Total" or any(b not in ATTENDANCE_BREAKDOWNS for b in breakdowns[1:]):
            fail(f"attendance `breakdowns` start with Total, then any of {ATTENDANCE_BREAKDOWNS}")
    else:
        allowed = CHARACTERISTIC_BREAKDOWNS if published_rollup else SURVEY_BREAKDOWNS
        if breakdowns[0] != "Total" or any(b not in allowed for b in breakdowns[1:]):
            fail(f"`breakdowns` start with Total, then any of {allowed}")
    if family == "admin" and not published_rollup and breakdowns != ("Total",):
        fail("admin indicators have the Total breakdown only (but for the by-characteristic formulas)")
    levels = tuple(raw.get("levels") or LEVELS)
    if any(level not in LEVELS for level in levels):
        fail(f"`levels` must be among {LEVELS}")
    if family == ATTENDANCE and any(level not in ATTENDANCE_LEVELS for level in levels):
        fail(f"attendance is published at {ATTENDANCE_LEVELS} only (the DfE's file has no School rows)")
    characteristic = [m for m in (*numerator, *([denominator] if denominator else [])) if m.startswith(CHARACTERISTIC)]
    if published_rollup and (any(level not in PUBLISHED_LEVELS for level in levels) or len(characteristic) != len(
            numerator) + bool(denominator)):  # fmt: skip
        fail(f"formula {formula!r} reads the DfE's by-characteristic rows ({CHARACTERISTIC}.<measure>) at "
             f"{PUBLISHED_LEVELS} only")
    if not published_rollup and characteristic:
        fail(f"only the by-characteristic formulas read {CHARACTERISTIC} counts")
    comparison = raw.get("comparison") or {}
    if (formula == "risk_ratio") != bool(comparison):
        fail("a risk_ratio has `comparison` (breakdown -> the category compared with, or `rest`); nothing else does")
    if comparison and (not isinstance(comparison, dict) or set(comparison) != set(breakdowns[1:])):
        fail(f"`comparison` names the category compared with for each breakdown but Total: {breakdowns[1:]}")
    published = raw["published"]
    if not isinstance(published, dict) or set(published) != {"name", "label", "grouping"}:
        fail("`published` has exactly name, label and grouping")
    if not SNAKE.match(str(published["name"]).replace(ITEM, "item").replace("{answer}", "agree")):
        fail("the published name must be snake_case")
    if (ITEM in ident) != (ITEM in str(published["name"])):
        fail("a pattern entry ({item} in its id) has {item} in its published name, and only a pattern does")
    if ITEM in ident and family == "admin":
        fail("only survey indicators can be patterns over an instrument's items")
    if not isinstance(raw["dp"], int) or not 0 <= raw["dp"] <= 6:
        fail("`dp` must be a whole number of decimal places, 0 to 6")
    return Indicator(
        id=ident,
        family=family,
        source=raw["source"],
        definition=" ".join(str(raw["definition"]).split()),
        formula=formula,
        rollup=raw["rollup"],
        unit=raw["unit"],
        range=(lo_hi[0], lo_hi[1]),
        dp=raw["dp"],
        published=Published(str(published["name"]), str(published["label"]), str(published["grouping"])),
        disclosure=disclosure,
        numerator=numerator,
        denominator=denominator,
        scale=raw.get("scale", 1),
        share=bool(raw.get("share", False)),
        gap_of=gap_of,
        ci=bool(raw.get("ci", False)),
        breakdowns=breakdowns,
        levels=levels,
        years=years,
        rate=rate,
        comparison=tuple((str(k), str(v)) for k, v in comparison.items()),
    )


def instrument_ids() -> list[str]:
    from ingestion.surveys.instruments import load_instruments

    return sorted(i.id for i in load_instruments())


@cache
def item_texts(source: str) -> dict[str, tuple[str, bool]]:
    """Item id -> (its statement, whether it is negatively worded) of survey instrument `source`."""
    from ingestion.surveys.instruments import load_instruments

    return {q.id: (q.text, q.negative) for i in load_instruments() if i.id == source for q in i.items}


def items_of(source: str) -> frozenset[str]:
    """The item ids of survey instrument `source` (what a pattern entry stands for)."""
    return frozenset(item_texts(source))


def dfe_count_measures() -> dict[str, list[str]]:
    """The DfE counts of each publication, in the lake's order (published rates are never summed)."""
    from ingestion.lake_schema import DFE_MEASURES

    return {p: [m for m in ms if not m.endswith(("_rate", "_percent"))] for p, ms in DFE_MEASURES.items()}


def dfe_measures() -> set[str]:
    """Every DfE measure of the lake, `<publication>.<measure>` (published rates included)."""
    from ingestion.lake_schema import DFE_MEASURES

    return {f"{p}.{m}" for p, ms in DFE_MEASURES.items() for m in ms}


def dfe_counts() -> set[str]:
    """The DfE counts an admin formula can use, `<publication>.<measure>` (the by-characteristic counts too:
    `exclusions_characteristics.<measure>`, read by the by-characteristic formulas only)."""
    from ingestion.lake_schema import DFE_MEASURES

    counts = {f"{p}.{m}" for p, ms in dfe_count_measures().items() for m in ms}
    return counts | {f"{CHARACTERISTIC}{m}" for m in DFE_MEASURES["exclusions"] if not m.endswith("_rate")}
