"""Survey exports for the demo: the pupil and staff belonging instruments in every tool's real layout.

Responses are drawn for whole waves at once (numpy), formatted per tool with polars expressions, then split
into files: one per organiser (a trust, or the LA for maintained schools) for tools that carry the school in
the export, one per school for Microsoft Forms (school from the file name) and for LA-run SurveyMonkey
collectors. The messy reality is there on purpose: previews and spam, duplicated rows, a cumulative
re-export, partial responses, free-text comments, personal data in every column a tool has for it, an
off-scale code, stale URNs of converted schools and one URN that GIAS does not know.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
import zlib
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import numpy as np
import polars as pl

from demo.dfe import GROUPS
from demo.schools import World

PUPIL_STEM = "Thinking about your school: to what extent do you agree with the following statements?"
PUPIL_ITEMS = (
    "I feel like an outsider (or left out of things) at school.",
    "I make friends easily at school.",
    "I feel like I belong at school.",
    "I feel awkward and out of place in my school.",
    "Other students seem to like me.",
    "I feel lonely at school.",
)
PUPIL_NEGATIVE = (True, False, False, True, False, True)
PUPIL_ANSWERS = ("Strongly agree", "Agree", "Disagree", "Strongly disagree")
PUPIL_REDCAP = (
    "belong_outsider",
    "belong_friends",
    "belong_belong",
    "belong_awkward",
    "belong_liked",
    "belong_lonely",
)
STAFF_STEM = "To what extent do you agree with the following statements?"
STAFF_ITEMS = (
    "I feel valued as a member of staff at this school.",
    "I can be myself at work.",
    "My views are listened to and acted on.",
    "I feel part of a team.",
    "I would recommend this school as a place to work.",
)
STAFF_ANSWERS = ("Strongly disagree", "Disagree", "Neither agree nor disagree", "Agree", "Strongly agree")
STAFF_REDCAP = ("staff_valued", "staff_myself", "staff_listened", "staff_team", "staff_recommend")
YEAR_Q = (
    "What year are you in?",
    tuple(f"Year {k}" for k in range(5, 14)) + ("Prefer not to say",),
    "year_group",
)
GENDER_Q = (
    "Which best describes your gender?",
    ("Boy", "Girl", "In another way", "Prefer not to say"),
    "gender",
)
YNDK = ("Yes", "No", "Don't know", "Prefer not to say")
SEND_Q = ("Do you have special educational needs or a disability (SEND)?", YNDK, "send")
FSM_Q = ("Do you receive free school meals?", YNDK, "fsm")
ROLE_Q = ("What is your role?", ("Teacher", "Leader", "Support staff", "Other"), "role")
COMMENT_Q = "Is there anything else you would like to tell us?"
COMMENTS = (
    "I like my teachers.",
    "More clubs at lunchtime please",
    'Some people call me names, but my form tutor helps. "It gets better" she says.',
    "The toilets need fixing, and the canteen queue is too long.",
    "I moved here in Year 8 and it took a while to make friends.\nNow it's fine.",
    "Staff workload is high; leadership do listen though.",
    "Nothing",
    "I love the library",
)
FIRST = ("Amelia", "Oliver", "Isla", "Noah", "Ava", "Muhammad", "Freya", "Leo", "Zara", "Jack", "Maya", "Kai")
LAST = (
    "Smith",
    "Jones",
    "Taylor",
    "Brown",
    "Ahmed",
    "Wilson",
    "Evans",
    "Nowak",
    "Begum",
    "O’Neill",
    "Hall",
    "Walker",
)


@dataclass(frozen=True)
class Wave:
    instrument: str  # pupil_belonging | staff_belonging
    year: int  # academic year start
    term: str
    start: date
    days: int
    legacy: bool = False  # 2018: Qualtrics users exported with the legacy exporter

    @property
    def label(self) -> str:
        return f"{self.year}-{(self.year + 1) % 100:02d}_{self.term}"


WAVES = (
    Wave("pupil_belonging", 2018, "autumn", date(2018, 10, 1), 45, legacy=True),
    Wave("pupil_belonging", 2023, "autumn", date(2023, 10, 2), 52),
    Wave("pupil_belonging", 2024, "autumn", date(2024, 9, 30), 52),
    Wave("staff_belonging", 2023, "summer", date(2024, 6, 3), 38),
    Wave("staff_belonging", 2024, "summer", date(2025, 6, 2), 38),
)
TOOL_SHARES = (("qualtrics", 34), ("googleforms", 24), ("surveymonkey", 15), ("redcap", 14), ("msforms", 13))
NOT_IN_GIAS_URN = "135999"  # between the maintained (10xxxx-134999) and academy (136000+) URNs handed out


def _tool_of(organiser: str, seed: int, la_rank: dict[str, int]) -> str:
    if organiser in la_rank:  # local authorities take turns, so every tool has an LA-run survey
        return TOOL_SHARES[(la_rank[organiser] + seed) % len(TOOL_SHARES)][0]
    h = zlib.crc32(f"{seed}:{organiser}".encode()) % 100
    acc = 0
    for tool, share in TOOL_SHARES:
        acc += share
        if h < acc:
            return tool
    return "qualtrics"


def _slug(s: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", s.lower().replace("’", "").replace("'", "")).strip("-")


def _ids(rng: np.random.Generator, n: int, length: int) -> np.ndarray:
    alphabet = np.frombuffer(
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789", dtype=np.uint8
    )
    codes = alphabet[rng.integers(0, len(alphabet), (n, length))]
    return np.char.add("R_", codes.view(f"S{length}").ravel().astype(str)) if n else np.array([], dtype=str)


def wave_responses(world: World, numbers: dict[int, pl.DataFrame], wave: Wave, seed: int) -> pl.DataFrame:
    """One row per response of a wave: school, organiser, tool, timing, context codes, item codes, PII."""
    rng = np.random.default_rng([seed, wave.year, 1 if wave.instrument.startswith("pupil") else 2])
    nums = numbers[wave.year]
    pupil = wave.instrument == "pupil_belonging"
    org = (
        pl.when(pl.col("trust_code").is_not_null())
        .then(pl.col("trust_code"))
        .otherwise(pl.lit("LA") + pl.col("la_code"))
    )
    org_name = (
        pl.when(pl.col("trust_name").is_not_null()).then(pl.col("trust_name")).otherwise(pl.col("la_name"))
    )
    s = nums.with_columns(org.alias("organiser"), org_name.alias("organiser_name")).sort("urn")
    la_rank = {o: k for k, o in enumerate(sorted({o for o in s["organiser"] if o.startswith("LA")}))}
    tools = [_tool_of(o, seed, la_rank) for o in s["organiser"]]
    if wave.legacy:
        tools = ["qualtrics_legacy" if t == "qualtrics" else "" for t in tools]
    s = s.with_columns(pl.Series("tool", tools))
    if (
        world.scale == "national"
    ):  # Microsoft Forms is one workbook per school: keep the benchmark's count modest
        msf = s["tool"] == "msforms"
        keep = np.zeros(s.height, dtype=bool)
        keep[np.flatnonzero(msf.to_numpy())[:60]] = True
        s = s.with_columns(
            pl.when(msf & ~pl.Series(keep))
            .then(pl.lit("googleforms"))
            .otherwise(pl.col("tool"))
            .alias("tool")
        )
    # participation: whole organisers take part, most of their schools with them
    orgs = sorted(set(s["organiser"]))
    p_org = 0.45 if wave.legacy else 0.8
    taking = {o for o, u in zip(orgs, rng.random(len(orgs)), strict=True) if u < p_org}
    part = (
        np.array([o in taking for o in s["organiser"]])
        & (rng.random(s.height) < 0.88)
        & (s["tool"] != "").to_numpy()
    )
    s = s.filter(pl.Series(part))
    phase = s["phase"].to_numpy()
    sixth = s["sixth_form"].to_numpy()
    if pupil:
        lo = np.where(phase == "Primary", 5, 7)
        hi = np.where(phase == "Primary", 6, np.where(sixth, 13, 11))
        eligible = np.zeros(s.height, dtype=np.int64)
        for y in range(5, 14):
            k = GROUPS.index(f"Year group {y}")
            cnt = sum(s[f"n_{a}_{x}_{k}"].to_numpy() for a in ("ft", "pt") for x in ("girls", "boys"))
            eligible += np.where((y >= lo) & (y <= hi), cnt, 0)
        rate = np.where(phase == "Primary", rng.beta(6, 4, s.height), rng.beta(3, 6, s.height))
        rate *= 0.19 if world.scale == "national" else 0.35
    else:
        eligible = np.round(s["headcount"].to_numpy() / 11 + 10).astype(np.int64)
        rate = rng.beta(6, 3, s.height) * (0.27 if world.scale == "national" else 1.0)
    count = rng.binomial(eligible, rate)
    n = int(count.sum())
    idx = np.repeat(np.arange(s.height), count)
    school = s.select(
        "urn",
        "entity",
        "organiser",
        "organiser_name",
        "tool",
        "phase",
        "climate",
        "staff_climate",
        "fsm_share",
        "la_code",
    )[idx]

    # timing: school days, school hours
    day = rng.integers(0, wave.days, n)
    start_date = np.datetime64(wave.start) + day.astype("timedelta64[D]")
    weekday = (start_date.astype("datetime64[D]").astype(np.int64) - 4) % 7  # 0 = Monday
    start_date = start_date + np.where(weekday >= 5, 7 - weekday, 0).astype("timedelta64[D]")
    secs = rng.integers(8 * 3600 + 1800, 15 * 3600 + 1800, n)
    start = start_date.astype("datetime64[s]") + secs.astype("timedelta64[s]")
    duration = rng.integers(95, 900, n)
    end = start + duration.astype("timedelta64[s]")

    climate = school["climate" if pupil else "staff_climate"].to_numpy()
    if pupil:
        yr_lo = np.where(school["phase"].to_numpy() == "Primary", 5, 7)
        yr_hi = np.where(school["phase"].to_numpy() == "Primary", 6, 11)
        year = yr_lo + np.floor(rng.random(n) * (yr_hi - yr_lo + 1)).astype(int)
        ctx = {
            "year_group": np.where(rng.random(n) < 0.03, 10, year - 4),
            "gender": rng.choice([1, 2, 3, 4], n, p=[0.48, 0.47, 0.02, 0.03]),
        }
        fsm_p = np.clip(school["fsm_share"].to_numpy() * 0.85, 0.01, 0.9)
        u = rng.random(n)
        ctx["fsm"] = np.where(u < fsm_p, 1, np.where(u < 0.9, 2, np.where(u < 0.96, 3, 4)))
        send_p = np.where(school["phase"].to_numpy() == "Special", 0.85, 0.15)
        u = rng.random(n)
        ctx["send"] = np.where(u < send_p, 1, np.where(u < 0.9, 2, np.where(u < 0.96, 3, 4)))
        latent = (
            climate
            + 0.15 * (school["phase"].to_numpy() == "Primary")
            - 0.45 * (ctx["send"] == 1)
            - 0.3 * (ctx["fsm"] == 1)
            - 0.15 * (ctx["gender"] == 3)
            - 0.04 * np.clip(year - 7, 0, 6)
            + rng.normal(0, 0.7, n)
        )
        shifts = np.array([0.2, 0.1, 0.0, 0.15, -0.1, 0.25])
        ystar = latent[:, None] + shifts[None, :] + rng.normal(0, 0.55, (n, 6))
        pos = np.where(ystar > 1.0, 1, np.where(ystar > -0.3, 2, np.where(ystar > -1.3, 3, 4)))
        items = np.where(np.array(PUPIL_NEGATIVE)[None, :], 5 - pos, pos)
        for k in ("gender", "send", "fsm", "year_group"):
            ctx[k] = np.where(rng.random(n) < 0.03, 0, ctx[k])  # skipped (optional)
    else:
        ctx = {"role": rng.choice([1, 2, 3, 4], n, p=[0.5, 0.12, 0.33, 0.05])}
        latent = climate + 0.3 * (ctx["role"] == 2) - 0.1 * (ctx["role"] == 3) + rng.normal(0, 0.7, n)
        ystar = latent[:, None] + np.array([0.0, 0.3, -0.2, 0.4, 0.1])[None, :] + rng.normal(0, 0.55, (n, 5))
        items = np.where(
            ystar > 1.2, 5, np.where(ystar > 0.1, 4, np.where(ystar > -0.5, 3, np.where(ystar > -1.4, 2, 1)))
        )
        ctx["role"] = np.where(rng.random(n) < 0.03, 0, ctx["role"])
    k_items = items.shape[1]
    items = np.where(rng.random(items.shape) < 0.015, 0, items)  # an item skipped here and there
    partial = rng.random(n) < 0.015  # stopped after 1-3 items: below the minimum
    answered = rng.integers(1, 4, n)
    items = np.where(partial[:, None] & (np.arange(k_items)[None, :] >= answered[:, None]), 0, items)
    for k in ctx:
        ctx[k] = np.where(partial, 0, ctx[k])
    comment = np.where(rng.random(n) < 0.08, rng.integers(0, len(COMMENTS), n), -1)
    comment = np.where(partial, -1, comment)

    # reported URN: a converted school's survey link still carries its closed URN in its first wave
    stale = world.links.filter(pl.col("link_type") == "Predecessor").select(
        pl.col("urn").alias("new_urn"), pl.col("link_urn").alias("old_urn"), pl.col("link_date")
    )
    stale = stale.filter(pl.col("link_date").dt.year() == wave.start.year)
    stale_map = (
        dict(zip(stale["new_urn"].to_list(), stale["old_urn"].to_list(), strict=True)) if pupil else {}
    )
    urn = school["urn"].to_numpy()
    reported = np.array([str(stale_map.get(int(u), int(u))) for u in np.unique(urn)])
    reported = reported[np.searchsorted(np.unique(urn), urn)] if n else np.array([], dtype=str)

    first = rng.choice(np.array(FIRST), n)
    last = rng.choice(np.array(LAST), n)
    ips = rng.integers(1, 255, (n, 4))
    frame = school.with_columns(
        pl.Series("reported_urn", reported, dtype=pl.String),
        pl.Series("start", start.astype("datetime64[us]")),
        pl.Series("end", end.astype("datetime64[us]")),
        pl.Series("duration", duration),
        pl.Series("partial", partial),
        pl.Series("comment", [COMMENTS[c] if c >= 0 else None for c in comment], dtype=pl.String),
        pl.Series("first_name", first),
        pl.Series("last_name", last),
        pl.Series("ip", [f"{a}.{b}.{c}.{d}" for a, b, c, d in ips] if n else [], dtype=pl.String),
        pl.Series("lat", np.round(rng.uniform(50.2, 54.9, n), 12)),
        pl.Series("long", np.round(rng.uniform(-5.2, 1.6, n), 12)),
        pl.Series("response_id", _ids(rng, n, 15), dtype=pl.String),
        pl.Series("sm_id", 114_000_000_000 + np.cumsum(rng.integers(1, 5000, n))),
        *[pl.Series(f"item_{j + 1}", items[:, j]) for j in range(k_items)],
        *[pl.Series(k, v) for k, v in ctx.items()],
    ).with_columns(
        (
            pl.col("first_name").str.to_lowercase()
            + "."
            + pl.col("last_name").str.to_lowercase().str.replace("’", "")
            + pl.col("duration").cast(pl.String)
            + "@"
            + pl.lit("pupils." if pupil else "staff.")
            + pl.col("urn").cast(pl.String)
            + ".sch.uk"
        ).alias("email")
    )
    return frame.sort("organiser", "start", "response_id")


# ------------------------------------------------------------------------------------------- formatting


def _instrument(wave: Wave) -> tuple[str, tuple[str, ...], tuple[str, ...], list[tuple], tuple[str, ...]]:
    if wave.instrument == "pupil_belonging":
        return PUPIL_STEM, PUPIL_ITEMS, PUPIL_ANSWERS, [YEAR_Q, GENDER_Q, SEND_Q, FSM_Q], PUPIL_REDCAP
    return STAFF_STEM, STAFF_ITEMS, STAFF_ANSWERS, [ROLE_Q], STAFF_REDCAP


def _answer(col: str, options: tuple[str, ...], labels: bool) -> pl.Expr:
    """A code column (0 = not answered) as the export writes it: a label or the numeric code."""
    c = pl.col(col)
    if labels:
        return pl.when(c > 0).then(
            c.replace_strict({i + 1: o for i, o in enumerate(options)}, default=None, return_dtype=pl.String)
        )
    return pl.when(c > 0).then(c.cast(pl.String))


def _questions(wave: Wave, labels: bool) -> list[tuple[str, str, pl.Expr]]:
    """(kind, text, value) for each question column in survey order: context first for pupils."""
    stem, items, answers, context, _ = _instrument(wave)
    out: list[tuple[str, str, pl.Expr]] = []
    pre, post = (context[:1], context[1:]) if wave.instrument == "pupil_belonging" else ([], context)
    for text, opts, field in pre:
        out.append(("single", text, _answer(field, opts, labels)))
    for j, item in enumerate(items):
        out.append(("matrix", item, _answer(f"item_{j + 1}", answers, labels)))
    for text, opts, field in post:
        out.append(("single", text, _answer(field, opts, labels)))
    out.append(("text", COMMENT_Q, pl.col("comment")))
    return out


def _csv_rows(
    frame: pl.DataFrame, *, quote_all: bool = False, crlf: bool = False, trailing_comma: bool = False
) -> str:
    if trailing_comma:
        frame = frame.with_columns(pl.lit(None, pl.String).alias("_trailing"))
    if quote_all:
        frame = frame.with_columns(pl.all().cast(pl.String).fill_null(""))
    return frame.write_csv(
        include_header=False,
        quote_style="always" if quote_all else "necessary",
        line_terminator="\r\n" if crlf else "\n",
    )


def _header(
    cells: list[str], *, quote_all: bool = False, crlf: bool = False, trailing_comma: bool = False
) -> str:
    if trailing_comma:
        cells = [*cells, ""]
    row = [c if (c or quote_all) else None for c in cells]  # an empty header cell is left bare
    frame = pl.DataFrame([row], schema={f"c{k}": pl.String for k in range(len(cells))}, orient="row")
    return _csv_rows(frame, quote_all=quote_all, crlf=crlf)


def format_qualtrics(frame: pl.DataFrame, wave: Wave, labels: bool) -> tuple[str, pl.DataFrame]:
    """Qualtrics current export: export tags, question text, ImportId JSON; numeric Status (0 kept)."""
    qs = _questions(wave, labels)
    tags = [
        "StartDate",
        "EndDate",
        "Status",
        "IPAddress",
        "Progress",
        "Duration (in seconds)",
        "Finished",
        "RecordedDate",
        "ResponseId",
        "RecipientLastName",
        "RecipientFirstName",
        "RecipientEmail",
        "ExternalReference",
        "LocationLatitude",
        "LocationLongitude",
        "DistributionChannel",
        "UserLanguage",
    ]
    texts = [
        "Start Date",
        "End Date",
        "Response Type",
        "IP Address",
        "Progress",
        "Duration (in seconds)",
        "Finished",
        "Recorded Date",
        "Response ID",
        "Recipient Last Name",
        "Recipient First Name",
        "Recipient Email",
        "External Data Reference",
        "Location Latitude",
        "Location Longitude",
        "Distribution Channel",
        "User Language",
    ]
    imports = [
        "startDate",
        "endDate",
        "status",
        "ipAddress",
        "progress",
        "duration",
        "finished",
        "recordedDate",
        "_recordId",
        "recipientLastName",
        "recipientFirstName",
        "recipientEmail",
        "externalDataReference",
        "locationLatitude",
        "locationLongitude",
        "distributionChannel",
        "userLanguage",
    ]
    stem = _instrument(wave)[0]
    qn, sub = 0, 0
    cols: list[pl.Expr] = []
    for kind, text, expr in qs:
        if kind == "matrix":
            if sub == 0:
                qn += 1
            sub += 1
            tag, txt, imp = f"Q{qn}_{sub}", f"{stem} - {text}", f"QID{qn}_{sub}"
        else:
            qn += 1
            sub = 0
            tag, txt, imp = f"Q{qn}", text, f"QID{qn}_TEXT" if kind == "text" else f"QID{qn}"
        tags.append(tag)
        texts.append(txt)
        imports.append(imp)
        cols.append(expr.alias(tag))
    email = pl.col("DistributionChannel") == "email"
    data = frame.with_columns(
        pl.when(pl.col("partial")).then(pl.lit("0")).otherwise(pl.lit("1")).alias("Finished"),
        pl.when(pl.col("partial")).then(pl.lit("33")).otherwise(pl.lit("100")).alias("Progress"),
        pl.when(pl.col("duration") % 3 == 0)
        .then(pl.lit("email"))
        .otherwise(pl.lit("anonymous"))
        .alias("DistributionChannel"),
    ).select(
        pl.col("start").dt.strftime("%Y-%m-%d %H:%M:%S").alias("StartDate"),
        pl.col("end").dt.strftime("%Y-%m-%d %H:%M:%S").alias("EndDate"),
        pl.lit("0").alias("Status"),
        pl.col("ip").alias("IPAddress"),
        "Progress",
        pl.col("duration").cast(pl.String).alias("Duration (in seconds)"),
        "Finished",
        pl.col("end").dt.strftime("%Y-%m-%d %H:%M:%S").alias("RecordedDate"),
        pl.col("response_id").alias("ResponseId"),
        pl.when(email).then(pl.col("last_name")).alias("RecipientLastName"),
        pl.when(email).then(pl.col("first_name")).alias("RecipientFirstName"),
        pl.when(email).then(pl.col("email")).alias("RecipientEmail"),
        pl.col("reported_urn").alias("ExternalReference"),
        pl.col("lat").cast(pl.String).alias("LocationLatitude"),
        pl.col("long").cast(pl.String).alias("LocationLongitude"),
        "DistributionChannel",
        pl.lit("EN-GB").alias("UserLanguage"),
        *cols,
        "organiser",
    )
    head = (
        _header(tags)
        + _header(texts)
        + _header([json.dumps({"ImportId": i}, separators=(",", ":")) for i in imports])
    )
    return head, data


def format_qualtrics_legacy(frame: pl.DataFrame, wave: Wave) -> tuple[str, pl.DataFrame]:
    """Qualtrics legacy export (before 2018): V1..V10 over ResponseID..Finished, numeric codes, trailing comma."""
    qs = _questions(wave, labels=False)
    stem = _instrument(wave)[0]
    row1 = [f"V{k}" for k in range(1, 11)]
    row2 = [
        "ResponseID",
        "ResponseSet",
        "Name",
        "ExternalDataReference",
        "EmailAddress",
        "IPAddress",
        "Status",
        "StartDate",
        "EndDate",
        "Finished",
    ]
    qn, sub = 0, 0
    cols = []
    for kind, text, expr in qs:
        if kind == "matrix":
            if sub == 0:
                qn += 1
            sub += 1
            tag, txt = f"Q{qn}_{sub}", f"{stem} - {text}"
        else:
            qn += 1
            sub = 0
            tag, txt = f"Q{qn}", text
        row1.append(tag)
        row2.append(txt)
        cols.append(expr.alias(tag))
    row1 += ["LocationLatitude", "LocationLongitude", "LocationAccuracy"]
    row2 += ["LocationLatitude", "LocationLongitude", "LocationAccuracy"]
    data = frame.select(
        pl.col("response_id").alias("V1"),
        pl.lit("Default Response Set").alias("V2"),
        (pl.col("last_name") + ", " + pl.col("first_name")).alias("V3"),
        pl.col("reported_urn").alias("V4"),
        pl.col("email").alias("V5"),
        pl.col("ip").alias("V6"),
        pl.lit("0").alias("V7"),
        pl.col("start").dt.strftime("%Y-%m-%d %H:%M:%S").alias("V8"),
        pl.col("end").dt.strftime("%Y-%m-%d %H:%M:%S").alias("V9"),
        pl.when(pl.col("partial")).then(pl.lit("0")).otherwise(pl.lit("1")).alias("V10"),
        *cols,
        pl.col("lat").cast(pl.String).alias("LocationLatitude"),
        pl.col("long").cast(pl.String).alias("LocationLongitude"),
        pl.lit("-1").alias("LocationAccuracy"),
        "organiser",
    )
    head = _header(row1, trailing_comma=True) + _header(row2, trailing_comma=True)
    return head, data


def format_surveymonkey(
    frame: pl.DataFrame, wave: Wave, with_custom: bool = True
) -> tuple[str, pl.DataFrame]:
    qs = _questions(wave, labels=True)
    stem = _instrument(wave)[0]
    row1 = [
        "Respondent ID",
        "Collector ID",
        "Start Date",
        "End Date",
        "IP Address",
        "Email Address",
        "First Name",
        "Last Name",
        "Custom Data 1",
    ]
    if with_custom:  # a custom variable: SurveyMonkey exports it as a column named after the variable
        row1.append("URN")
    row2 = [""] * len(row1)
    cols = []
    first_matrix = True
    for i, (kind, text, expr) in enumerate(qs):
        if kind == "matrix":
            row1.append(stem if first_matrix else "")
            row2.append(text)
            first_matrix = False
        else:
            row1.append(text)
            row2.append("Open-Ended Response" if kind == "text" else "Response")
        cols.append(expr.alias(f"q{i}"))
    collector = (
        str(100_000_000 + zlib.crc32(str(frame["organiser"][0]).encode()) % 900_000_000)
        if frame.height
        else ""
    )
    data = frame.select(
        pl.col("sm_id").cast(pl.String).alias("Respondent ID"),
        pl.lit(collector).alias("Collector ID"),
        pl.col("start").dt.strftime("%m/%d/%Y %I:%M:%S %p").alias("Start Date"),
        pl.col("end").dt.strftime("%m/%d/%Y %I:%M:%S %p").alias("End Date"),
        pl.col("ip").alias("IP Address"),
        pl.col("email").alias("Email Address"),
        pl.col("first_name").alias("First Name"),
        pl.col("last_name").alias("Last Name"),
        # the school's own pupil number, passed in by the school's link: personal data
        (pl.lit("P") + pl.col("sm_id").cast(pl.String).str.slice(4)).alias("Custom Data 1"),
        *([pl.col("reported_urn").alias("URN")] if with_custom else []),
        *cols,
        "organiser",
    )
    return _header(row1, crlf=True) + _header(row2, crlf=True), data


def format_googleforms(frame: pl.DataFrame, wave: Wave, drop_stop: bool) -> tuple[str, pl.DataFrame]:
    qs = _questions(wave, labels=True)
    stem = _instrument(wave)[0]
    header = ["Timestamp", "Email address", "School URN"]
    cols = []
    for i, (kind, text, expr) in enumerate(qs):
        if kind == "matrix":
            t = text[:-1] if drop_stop and text.endswith(".") else text
            header.append(f"{stem} [{t}]")
        else:
            header.append(text)
        cols.append(expr.alias(f"q{i}"))
    month, day = pl.col("start").dt.month(), pl.col("start").dt.day()
    bst = month.is_between(4, 9) | ((month == 10) & (day < 27)) | ((month == 3) & (day > 28))
    stamp = pl.col("start").dt.strftime("%Y/%m/%d %-I:%M:%S %p") + pl.when(bst).then(
        pl.lit(" GMT+1")
    ).otherwise(pl.lit(" GMT"))
    data = frame.select(
        stamp.alias("Timestamp"),
        pl.col("email").alias("Email address"),
        pl.col("reported_urn").alias("School URN"),
        *cols,
        "organiser",
    )
    return _header(header, quote_all=True), data


def format_redcap(frame: pl.DataFrame, wave: Wave) -> tuple[str, pl.DataFrame]:
    _, _, answers, context, redcap = _instrument(wave)
    inst = wave.instrument
    cols = [
        pl.when(pl.col(f"item_{j + 1}") > 0).then(pl.col(f"item_{j + 1}").cast(pl.String)).alias(v)
        for j, v in enumerate(redcap)
    ]
    ctx = [pl.when(pl.col(f) > 0).then(pl.col(f).cast(pl.String)).alias(f) for _, _, f in context]
    data = frame.with_row_index("record_id", offset=1).select(
        pl.col("record_id").cast(pl.String),
        pl.lit(f"{wave.term}_{wave.year}_arm_1").alias("redcap_event_name"),
        pl.col("email").alias("redcap_survey_identifier"),
        pl.when(pl.col("partial"))
        .then(pl.lit("[not completed]"))
        .otherwise(pl.col("end").dt.strftime("%Y-%m-%d %H:%M"))
        .alias(f"{inst}_timestamp"),
        pl.col("reported_urn").alias("school_urn"),
        *ctx,
        *cols,
        pl.col("comment").alias("comments"),
        pl.when(pl.col("partial")).then(pl.lit("0")).otherwise(pl.lit("2")).alias(f"{inst}_complete"),
        "organiser",
    )
    header = [c for c in data.columns if c != "organiser"]
    return _header(header), data


def format_msforms(frame: pl.DataFrame, wave: Wave, anonymous: bool) -> tuple[list[str], pl.DataFrame]:
    qs = _questions(wave, labels=True)
    header = ["ID", "Start time", "Completion time", "Email", "Name", "Last modified time"]
    cols = []
    for i, (_kind, text, expr) in enumerate(qs):
        header.append(text)  # matrix statements stand alone
        cols.append(expr.alias(f"q{i}"))
    data = frame.with_row_index("ID", offset=1).select(
        pl.col("ID").cast(pl.Int64),
        pl.col("start").dt.strftime("%-m/%-d/%Y %H:%M").alias("Start time"),
        pl.col("end").dt.strftime("%-m/%-d/%Y %H:%M").alias("Completion time"),
        (pl.lit("anonymous") if anonymous else pl.col("email")).alias("Email"),
        (pl.lit(None, pl.String) if anonymous else pl.col("first_name") + " " + pl.col("last_name")).alias(
            "Name"
        ),
        pl.lit(None, pl.String).alias("Last modified time"),
        *cols,
        "organiser",
    )
    return header, data


# ------------------------------------------------------------------------------------------ messy rows


def _with_noise(data: pl.DataFrame, rng: np.random.Generator, *, previews: bool) -> pl.DataFrame:
    """Qualtrics: a survey preview (Status 1), a spam response (8) and an exact duplicate row."""
    if data.height < 3:
        return data
    extra = []
    if previews:
        picks = rng.choice(data.height, 3, replace=False)
        prev = data[int(picks[0])].with_columns(
            pl.lit("1").alias("Status"), pl.lit("preview").alias("DistributionChannel")
        )
        prev = prev.with_columns(pl.col("ResponseId").str.replace("^R_", "R_p"))
        spam = data[int(picks[1])].with_columns(pl.lit("8").alias("Status"))
        spam = spam.with_columns(pl.col("ResponseId").str.replace("^R_", "R_s"))
        extra += [prev, spam]
    extra.append(data[int(rng.integers(data.height))])  # exported twice
    return pl.concat([data, *extra])


def _write_text(path: Path, head: str, body: str, *, bom: bool = False, encoding: str = "utf-8") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = (head + body).encode(encoding)
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + data)
    return path


FIXED_ZIP_TIME = (2026, 4, 16, 9, 0, 0)


def write_xlsx(path: Path, header: list[str], rows: list[list[object]]) -> Path:
    """An .xlsx as Microsoft Forms downloads it, with fixed zip timestamps so the bytes are reproducible."""
    from openpyxl import Workbook

    wb = Workbook(write_only=True)
    ws = wb.create_sheet("Sheet1")
    ws.append(header)
    for r in rows:
        ws.append(r)
    fixed = datetime(2026, 4, 16, 9, 0, 0)
    wb.properties.creator = "Microsoft Forms"
    wb.properties.created = fixed
    buf = io.BytesIO()
    wb.save(buf)
    out = io.BytesIO()
    with zipfile.ZipFile(buf) as zin, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in sorted(zin.infolist(), key=lambda i: i.filename):
            content = zin.read(info.filename)
            if info.filename == "docProps/core.xml":
                content = re.sub(
                    rb"(<dcterms:(?:created|modified)[^>]*>)[^<]*", rb"\g<1>2026-04-16T09:00:00Z", content
                )
            zi = zipfile.ZipInfo(info.filename, date_time=FIXED_ZIP_TIME)
            zi.compress_type = zipfile.ZIP_DEFLATED
            zout.writestr(zi, content)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(out.getvalue())
    return path


def write_surveys(
    world: World, numbers: dict[int, pl.DataFrame], root: Path, seed: int
) -> tuple[list[Path], int]:
    """Write every wave's exports under `root`; returns (files, responses written incl. noise rows)."""
    written: list[Path] = []
    total = 0
    off_scale_done = False
    not_in_gias_done = False
    for wave in WAVES:
        frame = wave_responses(world, numbers, wave, seed)
        rng = np.random.default_rng([seed, wave.year, len(wave.instrument), 99])
        short = "pupil" if wave.instrument == "pupil_belonging" else "staff"
        per_school_done = 0  # national scale: only a couple of LAs export one SurveyMonkey file per school
        for tool in sorted(set(frame["tool"])):
            sub = frame.filter(pl.col("tool") == tool)
            folder = root / tool / wave.label
            if tool == "msforms":
                for (urn,), part in sub.partition_by("urn", as_dict=True, maintain_order=True).items():
                    anonymous = wave.instrument == "pupil_belonging" or int(urn) % 2 == 0
                    header, data = format_msforms(part, wave, anonymous)
                    rows = data.drop("organiser").rows()
                    written.append(
                        write_xlsx(
                            folder / f"{wave.instrument}_{part['reported_urn'][0]}.xlsx",
                            header,
                            [list(r) for r in rows],
                        )
                    )
                    total += len(rows)
                continue
            for (org,), part in sub.partition_by("organiser", as_dict=True, maintain_order=True).items():
                name = _slug(part["organiser_name"][0])
                stem = f"{name}_{short}_belonging_{wave.label}"
                if tool == "qualtrics":
                    labels = zlib.crc32(org.encode()) % 2 == 0
                    if not labels and not off_scale_done and wave.instrument == "pupil_belonging":
                        # one response with an answer code the 4-point scale does not have
                        part = part.with_columns(
                            pl.when(pl.int_range(pl.len()) == 0)
                            .then(7)
                            .otherwise(pl.col("item_3"))
                            .alias("item_3")
                        )
                        off_scale_done = True
                    head, data = format_qualtrics(part, wave, labels)
                    data = _with_noise(data.drop("organiser"), rng, previews=True)
                    if (
                        wave.instrument == "pupil_belonging"
                        and data.height > 10
                        and not written_cumulative(written, wave, tool)
                    ):
                        # a school re-exported the growing survey: the first export overlaps the second
                        early = data.head(data.height * 3 // 5)
                        written.append(
                            _write_text(folder / f"{stem}_export1.csv", head, _csv_rows(early), bom=labels)
                        )
                        total += early.height
                    written.append(_write_text(folder / f"{stem}.csv", head, _csv_rows(data), bom=labels))
                elif tool == "qualtrics_legacy":
                    head, data = format_qualtrics_legacy(part, wave)
                    data = _with_noise(data.drop("organiser"), rng, previews=False)
                    written.append(
                        _write_text(folder / f"{stem}.csv", head, _csv_rows(data, trailing_comma=True))
                    )
                elif tool == "surveymonkey":
                    per_school = org.startswith("LA") and (world.scale == "small" or per_school_done < 2)
                    if per_school:  # LA-run collectors: one export per school, school in the file name
                        per_school_done += 1
                        for (urn,), one in part.partition_by(
                            "reported_urn", as_dict=True, maintain_order=True
                        ).items():
                            head, data = format_surveymonkey(one, wave, with_custom=False)
                            written.append(
                                _write_text(
                                    folder / f"{stem}_{urn}.csv",
                                    head,
                                    _csv_rows(data.drop("organiser"), crlf=True),
                                )
                            )
                            total += data.height
                        continue
                    head, data = format_surveymonkey(part, wave)
                    data = data.drop("organiser")
                    written.append(_write_text(folder / f"{stem}.csv", head, _csv_rows(data, crlf=True)))
                elif tool == "googleforms":
                    head, data = format_googleforms(part, wave, drop_stop=zlib.crc32(org.encode()) % 3 == 0)
                    data = data.drop("organiser")
                    if not not_in_gias_done and wave.instrument == "pupil_belonging" and not wave.legacy:
                        data = data.with_columns(
                            pl.when(pl.int_range(pl.len()) == 0)
                            .then(pl.lit(NOT_IN_GIAS_URN))
                            .otherwise(pl.col("School URN"))
                            .alias("School URN")
                        )
                        not_in_gias_done = True
                    written.append(
                        _write_text(folder / f"{stem}.csv", head, _csv_rows(data, quote_all=True, crlf=True))
                    )
                elif tool == "redcap":
                    head, data = format_redcap(part, wave)
                    data = data.drop("organiser")
                    written.append(
                        _write_text(folder / f"{stem}.csv", head, _csv_rows(data, crlf=True), bom=True)
                    )
                total += data.height
    return written, total


def written_cumulative(written: list[Path], wave: Wave, tool: str) -> bool:
    return any(
        p.name.endswith("_export1.csv") and p.parent.name == wave.label and p.parent.parent.name == tool
        for p in written
    )
