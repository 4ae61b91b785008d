"""DfE Explore Education Statistics files for the demo: census (SPC), SEN, absence and exclusions.

Each publication and academic year is one CSV (+ `<name>.meta.csv`) with School rows and the aggregate rows
the DfE publishes beside them (Local authority, Regional incl. Inner London, National; absence and
exclusions also per education phase with a `Total`). Aggregates are the sums of the school rows *before*
school-level suppression, so reconciliation works as it does on the real files. 2018/19 is written in the
2019-era vintage (`x` suppression, `laestab`/`estab`, lower-case levels in absence, no `indicator_dp`).

The census and SEN files follow the DfE's layout changes: the census of 2023/24 is wide with `urn` and year-group
columns in legal-sex wording; the census of the newest demo year is the long "School level" file (one row per
school x attendance pattern x sex x breakdown, School rows only, with each school's trust that year: the real long
file starts in 2025/26, the demo writes it for its newest year so that it shows); the SEN file of the newest year is
long too (one row per school x SEN provision x primary need, as from 2024/25). The counts are the same numbers in
every layout.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import polars as pl

from demo.headers import SEN_2223, SEN_LONG, SPC_2223, SPC_2324, SPC_LONG
from demo.schools import LEGACY_YEARS, YEARS, World

GROUPS = (
    ["Early 1", "Early 2", "Nursery 1", "Nursery 2", "Reception"]
    + [f"Year group {k}" for k in range(1, 15)]
    + ["Year group Not followed"]
)
EDU_PHASE = {"Primary": "State-funded primary", "Secondary": "State-funded secondary", "Special": "Special"}
SPC_PHASE = {
    "Primary": "State-funded primary",
    "Secondary": "State-funded secondary",
    "Special": "Special school",
}
NEEDS = ("spld", "mld", "sld", "pmld", "semh", "slcn", "hi", "vi", "msi", "pd", "asd", "oth", "nsa")
EHC_NEED_P = np.array([3, 6, 8, 2, 16, 20, 2, 1, 0.3, 3, 33, 3, 2.7])
SUP_NEED_P = np.array([13, 19, 0.5, 0.1, 21, 24, 2, 1, 0.2, 2, 9, 4, 4.2])
ETHNIC_P = np.array([66, 0.3, 0.1, 7, 0.6, 1.5, 0.9, 1.7, 2.5, 3, 4.5, 2, 1.9, 1, 4, 0.8, 0.5, 2, 1.7])


def _fmt(values: pl.Expr) -> pl.Expr:
    """Numbers as the DfE writes them: integers without a decimal point, rates rounded to 2 dp."""
    return values.cast(pl.String).str.replace(r"\.0$", "")


def school_numbers(world: World, year: int, seed: int) -> pl.DataFrame:
    """Every open school's pupil numbers for academic `year` (census, SEN, absence, exclusions), unrounded truth.

    Year-group counts are columns `n_<ft|pt>_<girls|boys>_<group index>`; the survey writer uses them for
    response rates, the DfE writers for every file, so the sources agree with each other.
    """
    st = world.state(year)
    n = st.height
    rng = np.random.default_rng([seed, year, 17])
    phase = st["phase"].to_numpy()
    size = st["base_size"].to_numpy() * (1 + 0.015 * (year - 2022)) * rng.uniform(0.96, 1.04, n)
    fsm_share = np.clip(
        st["fsm_share"].to_numpy() + 0.012 * (year - 2022) + rng.normal(0, 0.01, n), 0.01, 0.9
    )
    eal_share = st["eal_share"].to_numpy()
    sixth = st["sixth_form"].to_numpy()
    nursery = st["nursery"].to_numpy()
    g = len(GROUPS)
    mean = np.zeros((n, g))
    prim = phase == "Primary"
    sec = phase == "Secondary"
    spec = phase == "Special"
    c_p = size / 7
    mean[prim, 4:11] = c_p[prim, None]  # Reception .. Year 6
    mean[prim & nursery, 3] = 0.8 * c_p[prim & nursery]
    c_s = size / (5 + 0.7 * sixth)
    mean[sec, 11:16] = c_s[sec, None]  # Year 7 .. Year 11
    mean[sec & sixth, 16:18] = 0.35 * c_s[sec & sixth, None]
    c_x = size / 13.5
    mean[spec, 5:18] = c_x[spec, None]  # Year 1 .. Year 13
    mean[spec, 4] = 0.5 * c_x[spec]
    total = rng.poisson(mean)
    girls = rng.binomial(total, 0.49)
    boys = total - girls
    part = np.zeros_like(total, dtype=bool)
    part[:, 2:4] = True  # nursery places are part time
    cols: dict[str, np.ndarray] = {}
    for k in range(g):
        for sex, arr in (("girls", girls), ("boys", boys)):
            ft = np.where(part[:, k], 0, arr[:, k])
            pt = np.where(part[:, k], arr[:, k], 0)
            cols[f"n_ft_{sex}_{k}"] = ft
            cols[f"n_pt_{sex}_{k}"] = pt
    headcount = total.sum(axis=1)
    fsm_all = rng.binomial(headcount, fsm_share)
    base = total[:, 5:16].sum(axis=1)  # Year 1 .. Year 11: the performance-tables FSM base
    fsm_pt = np.minimum(
        rng.binomial(fsm_all, np.where(headcount > 0, base / np.maximum(headcount, 1), 0)), base
    )
    eal = rng.binomial(headcount, eal_share)
    eal_unclassified = rng.binomial(headcount - eal, 0.004)
    ehc_p = np.where(spec, 0.96, np.where(sec, 0.028, 0.026))
    ehc = rng.binomial(headcount, ehc_p)
    sup = rng.binomial(headcount - ehc, np.where(spec, 0.8, 0.11 + 0.08 * fsm_share))

    # absence: sessions over the year; persistent absence higher in secondary and with FSM
    enrol = headcount + rng.binomial(headcount, 0.04)
    sess_per = rng.normal(318, 6, n).clip(290, 330)
    sess_possible = np.round(enrol * sess_per).astype(np.int64)
    legacy = year in LEGACY_YEARS
    base_abs = np.select([prim, sec], [0.052, 0.082], 0.105) * (0.78 if legacy else 1.0)
    abs_rate = np.clip(base_abs * (0.7 + 1.5 * fsm_share) * rng.lognormal(0, 0.12, n), 0.01, 0.4)
    sess_overall = rng.binomial(sess_possible, abs_rate)
    sess_unauth = rng.binomial(sess_overall, np.clip(0.25 + 0.5 * fsm_share, 0, 0.9))
    sess_auth = sess_overall - sess_unauth
    pa10 = rng.binomial(enrol, np.clip(abs_rate * 2.6, 0, 0.8))
    pa50 = rng.binomial(pa10, np.clip(abs_rate * 0.14, 0, 0.5))

    # exclusions: suspensions per 100 pupils far higher in secondary and special, rising with FSM
    susp_base = np.select([prim, sec], [1.4, 18.0], 14.0) * (0.6 if legacy else 1.0)
    susp_rate = susp_base * (0.4 + 2.6 * fsm_share) * rng.lognormal(0, 0.35, n) / 100
    suspension = rng.poisson(headcount * susp_rate)
    one_plus = np.minimum(rng.binomial(suspension, 0.45), headcount)
    perm = rng.poisson(headcount * np.select([prim, sec], [0.0003, 0.0022], 0.0006) * (0.5 + 2 * fsm_share))
    perm = np.minimum(perm, one_plus + 1)
    return st.with_columns(
        pl.lit(year).alias("year"),
        pl.Series("headcount", headcount),
        pl.Series("fsm_all", fsm_all),
        pl.Series("fsm_base", base),
        pl.Series("fsm_pt", fsm_pt),
        pl.Series("eal", eal),
        pl.Series("eal_unclassified", eal_unclassified),
        pl.Series("ehc", ehc),
        pl.Series("sup", sup),
        pl.Series("enrolments", enrol),
        pl.Series("sess_possible", sess_possible),
        pl.Series("sess_overall", sess_overall),
        pl.Series("sess_authorised", sess_auth),
        pl.Series("sess_unauthorised", sess_unauth),
        pl.Series("pa10", pa10),
        pl.Series("pa50", pa50),
        pl.Series("suspension", suspension),
        pl.Series("one_plus_susp", one_plus),
        pl.Series("perm_excl", perm),
        *[pl.Series(k, v) for k, v in cols.items()],
    )


# ---------------------------------------------------------------------------------------------- geography


def _geo(world: World, nums: pl.DataFrame, legacy: bool) -> pl.DataFrame:
    """Region columns as the file's vintage writes them (2019 era: Inner/Outer London, 'the Humber')."""
    region_name = nums["region_code"].replace_strict(world.regions, default=None)
    code = nums["region_code"]
    if legacy:
        inner = nums["inner_london"]
        code = pl.Series(
            [
                ("E13000001" if i else "E13000002") if c == "E12000007" else c
                for c, i in zip(code, inner, strict=True)
            ]
        )
        region_name = pl.Series(
            [
                (
                    "Inner London"
                    if c == "E13000001"
                    else "Outer London"
                    if c == "E13000002"
                    else nm.replace("The Humber", "the Humber")
                )
                for c, nm in zip(code, region_name, strict=True)
            ]
        )
    return nums.with_columns(
        pl.Series("region_code_out", code), pl.Series("region_name_out", region_name, dtype=pl.String)
    )


def _levels(nums: pl.DataFrame, measures: list[str], by_phase: bool, extra_inner: bool) -> pl.DataFrame:
    """Aggregate rows: National, Regional (+ Inner London beside London), Local authority; per phase + Total."""
    frames = []
    phase_keys = [pl.col("edu_phase")] if by_phase else []
    specs = [
        ("National", []),
        ("Regional", ["region_code_out", "region_name_out"]),
        ("Local authority", ["region_code_out", "region_name_out", "la_code", "gss_code", "la_name"]),
    ]
    for level, keys in specs:
        for with_phase in [True, False] if by_phase else [False]:
            group = keys + (["edu_phase"] if with_phase else [])
            agg = [pl.len().alias("num_schools")] + [pl.col(m).sum() for m in measures]
            out = nums.group_by(group).agg(agg) if group else nums.select(agg)
            if not with_phase:
                out = out.with_columns(pl.lit("Total").alias("edu_phase"))
            frames.append(out.with_columns(pl.lit(level).alias("geographic_level")))
            if level == "Regional" and extra_inner:
                inner = nums.filter(pl.col("inner_london"))
                if inner.height:
                    g2 = ["edu_phase"] if with_phase else []
                    o2 = inner.group_by(g2).agg(agg) if g2 else inner.select(agg)
                    if not with_phase:
                        o2 = o2.with_columns(pl.lit("Total").alias("edu_phase"))
                    frames.append(
                        o2.with_columns(
                            pl.lit("Regional").alias("geographic_level"),
                            pl.lit("E13000001").alias("region_code_out"),
                            pl.lit("Inner London").alias("region_name_out"),
                        )
                    )
    del phase_keys
    return pl.concat(frames, how="diagonal_relaxed")


LEVEL_ORDER = {"National": 0, "Regional": 1, "Local authority": 2, "School": 3}
PHASE_ORDER = {"Total": 0, "State-funded primary": 1, "State-funded secondary": 2, "Special": 3}


def _with_aggregates(
    nums: pl.DataFrame, measures: list[str], by_phase: bool, extra_inner: bool
) -> pl.DataFrame:
    school = nums.with_columns(pl.lit("School").alias("geographic_level"), pl.lit(1).alias("num_schools"))
    agg = _levels(nums, measures, by_phase, extra_inner)
    out = pl.concat([agg, school], how="diagonal_relaxed")
    return out.with_columns(
        pl.col("geographic_level").replace_strict(LEVEL_ORDER).alias("_lo"),
        pl.col("edu_phase").replace_strict(PHASE_ORDER, default=9).alias("_po"),
    ).sort("_lo", "region_code_out", "la_code", "_po", "urn", nulls_last=False)


def _rate(num: str, den: str, dp: int = 2) -> pl.Expr:
    return pl.when(pl.col(den) > 0).then((pl.col(num) / pl.col(den) * 100).round(dp)).otherwise(0.0)


def _suppress(frame: pl.DataFrame, pairs: list[tuple[str, str]], symbol: str) -> pl.DataFrame:
    """School rows: a count of 1 or 2 and its rate are shown as the suppression symbol."""
    exprs = []
    for count, rate in pairs:
        small = (pl.col("geographic_level") == "School") & pl.col(count).is_between(1, 2)
        exprs.append(pl.when(small).then(pl.lit(symbol)).otherwise(_fmt(pl.col(count))).alias(count))
        exprs.append(pl.when(small).then(pl.lit(symbol)).otherwise(_fmt(pl.col(rate))).alias(rate))
    return frame.with_columns(exprs)


def _common(frame: pl.DataFrame, year: int, legacy_case: bool = False) -> pl.DataFrame:
    level = pl.col("geographic_level")
    if legacy_case:
        level = level.str.to_lowercase()
    return frame.with_columns(
        pl.lit(f"{year}{(year + 1) % 100:02d}").alias("time_period"),
        pl.lit("academic year" if legacy_case else "Academic year").alias("time_identifier"),
        level.alias("geographic_level_out"),
        pl.lit("E92000001").alias("country_code"),
        pl.lit("England").alias("country_name"),
        pl.when(pl.col("geographic_level") == "National")
        .then(pl.lit(""))
        .otherwise(pl.col("region_code_out"))
        .alias("region_code"),
        pl.when(pl.col("geographic_level") == "National")
        .then(pl.lit(""))
        .otherwise(pl.col("region_name_out"))
        .alias("region_name"),
        pl.col("la_code").fill_null("").alias("old_la_code"),
        pl.col("gss_code").fill_null("").alias("new_la_code"),
        pl.col("la_name").fill_null(""),
        pl.col("urn").cast(pl.String).fill_null("").alias("school_urn"),
        (pl.col("la_code") + pl.col("estab").cast(pl.String)).fill_null("").alias("school_laestab"),
        pl.col("estab").cast(pl.String).fill_null("").alias("estab_out"),
        pl.col("name").fill_null("").alias("school_name"),
    )


# ---------------------------------------------------------------------------------------------- files


def _write(
    frame: pl.DataFrame, path: Path, *, crlf: bool = False, encoding: str = "utf-8", bom: bool = False
) -> Path:
    # EES files leave empty cells bare (polars would quote an empty string)
    frame = frame.with_columns(pl.when(pl.col(pl.String) != "").then(pl.col(pl.String)))
    text = frame.write_csv(line_terminator="\r\n" if crlf else "\n", quote_style="necessary")
    data = text.encode(encoding)
    if bom:
        data = b"\xef\xbb\xbf" + data
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def _meta(rows: list[tuple], legacy: bool) -> pl.DataFrame:
    cols = [
        "col_name",
        "col_type",
        "label",
        "indicator_grouping",
        "indicator_unit",
        "indicator_dp",
        "filter_hint",
        "filter_grouping_column",
    ]
    if legacy:
        cols.remove("indicator_dp")
        rows = [r[:5] + r[6:] for r in rows]
    return pl.DataFrame([list(r) for r in rows], schema={c: pl.String for c in cols}, orient="row")


def exclusions_file(world: World, nums: pl.DataFrame, year: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    legacy = year in LEGACY_YEARS
    base = _geo(world, nums, legacy).with_columns(
        pl.col("phase").replace_strict(EDU_PHASE).alias("edu_phase")
    )
    measures = ["headcount", "perm_excl", "suspension", "one_plus_susp"]
    f = _common(_with_aggregates(base, measures, True, not legacy), year)
    f = f.with_columns(
        _rate("perm_excl", "headcount").alias("perm_excl_rate"),
        _rate("suspension", "headcount").alias("susp_rate"),
        _rate("one_plus_susp", "headcount").alias("one_plus_susp_rate"),
    )
    symbol = "x" if legacy else "c"
    f = _suppress(
        f,
        [
            ("perm_excl", "perm_excl_rate"),
            ("suspension", "susp_rate"),
            ("one_plus_susp", "one_plus_susp_rate"),
        ],
        symbol,
    )
    f = f.with_columns(_fmt(pl.col("headcount")), _fmt(pl.col("num_schools")))
    if legacy:
        is_school = pl.col("geographic_level") == "School"
        acad = (
            pl.when(pl.col("type").str.contains("converter"))
            .then(pl.lit("Converter academy"))
            .when(pl.col("type").str.contains("sponsor"))
            .then(pl.lit("Sponsored academy"))
            .otherwise(pl.lit(""))
        )
        out = f.select(
            "time_identifier",
            "time_period",
            pl.col("geographic_level_out").alias("geographic_level"),
            "country_code",
            "country_name",
            "region_code",
            "region_name",
            "old_la_code",
            "new_la_code",
            "la_name",
            pl.col("estab_out").alias("estab"),
            "school_laestab",
            pl.when(is_school).then(acad).otherwise(pl.lit("Total")).alias("academy_type"),
            pl.when(is_school)
            .then(pl.when(acad != "").then(pl.col("open_date").dt.strftime("%d/%m/%Y")).otherwise(pl.lit("")))
            .otherwise(pl.lit("Total"))
            .alias("academy_open_date"),
            pl.col("edu_phase").alias("school_type"),
            "num_schools",
            "headcount",
            "perm_excl",
            "perm_excl_rate",
            pl.col("suspension").alias("fixed_excl"),
            pl.col("susp_rate").alias("fixed_excl_rate"),
            pl.col("one_plus_susp").alias("one_plus_fixed"),
            pl.col("one_plus_susp_rate").alias("one_plus_fixed_rate"),
        ).rename({"school_laestab": "laestab"})
        meta = _meta(
            [
                ("school_type", "Filter", "School type", "", "", "", "Filter by school type", ""),
                ("num_schools", "Indicator", "Number of schools", "", "", "", "", ""),
                ("headcount", "Indicator", "Number of pupils", "", "", "", "", ""),
                ("perm_excl", "Indicator", "Number of permanent exclusions", "", "", "", "", ""),
                ("perm_excl_rate", "Indicator", "Permanent exclusion rate", "", "%", "", "", ""),
                ("fixed_excl", "Indicator", "Number of fixed period exclusions", "", "", "", "", ""),
                ("fixed_excl_rate", "Indicator", "Fixed period exclusion rate", "", "%", "", "", ""),
                (
                    "one_plus_fixed",
                    "Indicator",
                    "Number of pupils with one or more fixed period exclusions",
                    "",
                    "",
                    "",
                    "",
                    "",
                ),
                (
                    "one_plus_fixed_rate",
                    "Indicator",
                    "Percentage of pupils with one or more fixed period exclusions",
                    "",
                    "%",
                    "",
                    "",
                    "",
                ),
            ],
            legacy=True,
        )
        return out, meta
    out = f.select(
        "time_period",
        "time_identifier",
        pl.col("geographic_level_out").alias("geographic_level"),
        "country_code",
        "country_name",
        "region_code",
        "region_name",
        "old_la_code",
        "new_la_code",
        "la_name",
        "school_urn",
        "school_laestab",
        "school_name",
        pl.col("edu_phase").alias("education_phase"),
        "num_schools",
        "headcount",
        "perm_excl",
        "perm_excl_rate",
        "suspension",
        "susp_rate",
        "one_plus_susp",
        "one_plus_susp_rate",
    )
    meta = _meta(
        [
            ("education_phase", "Filter", "Education phase", "", "", "", "Filter by education phase", ""),
            ("num_schools", "Indicator", "Number of schools", "", "", "0", "", ""),
            ("headcount", "Indicator", "Headcount", "", "", "0", "", ""),
            (
                "perm_excl",
                "Indicator",
                "Number of permanent exclusions",
                "Permanent exclusions",
                "",
                "0",
                "",
                "",
            ),
            (
                "perm_excl_rate",
                "Indicator",
                "Permanent exclusion rate",
                "Permanent exclusions",
                "%",
                "2",
                "",
                "",
            ),
            ("suspension", "Indicator", "Number of suspensions", "Suspensions", "", "0", "", ""),
            ("susp_rate", "Indicator", "Suspension rate", "Suspensions", "%", "2", "", ""),
            (
                "one_plus_susp",
                "Indicator",
                "Number of pupils with one or more suspensions",
                "Suspensions",
                "",
                "0",
                "",
                "",
            ),
            (
                "one_plus_susp_rate",
                "Indicator",
                "Percentage of pupils with one or more suspensions",
                "Suspensions",
                "%",
                "2",
                "",
                "",
            ),
        ],
        legacy=False,
    )
    return out, meta


def absence_file(world: World, nums: pl.DataFrame, year: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    legacy = year in LEGACY_YEARS
    base = _geo(world, nums, legacy).with_columns(
        pl.col("phase").replace_strict(EDU_PHASE).alias("edu_phase")
    )
    measures = [
        "enrolments",
        "sess_possible",
        "sess_overall",
        "sess_authorised",
        "sess_unauthorised",
        "pa10",
        "pa50",
    ]
    f = _common(_with_aggregates(base, measures, True, not legacy), year, legacy_case=legacy)
    f = f.with_columns(
        _rate("sess_overall", "sess_possible").alias("sess_overall_percent"),
        _rate("sess_authorised", "sess_possible").alias("sess_authorised_percent"),
        _rate("sess_unauthorised", "sess_possible").alias("sess_unauthorised_percent"),
        _rate("pa10", "enrolments").alias("enrolments_pa_10_exact_percent"),
        _rate("pa50", "enrolments").alias("enrolments_pa_50_exact_percent"),
    ).rename({"pa10": "enrolments_pa_10_exact", "pa50": "enrolments_pa_50_exact"})
    symbol = "x" if legacy else "c"
    pairs = [("enrolments_pa_10_exact", "enrolments_pa_10_exact_percent")]
    if not legacy:
        pairs.append(("enrolments_pa_50_exact", "enrolments_pa_50_exact_percent"))
    f = _suppress(f, pairs, symbol)
    plain = [
        "num_schools",
        "enrolments",
        "sess_possible",
        "sess_overall",
        "sess_authorised",
        "sess_unauthorised",
    ]
    pct = ["sess_overall_percent", "sess_authorised_percent", "sess_unauthorised_percent"]
    f = f.with_columns([_fmt(pl.col(c)) for c in plain + pct])
    geo = [
        "time_period",
        "time_identifier",
        pl.col("geographic_level_out").alias("geographic_level"),
        "country_code",
        "country_name",
        "region_code",
        "region_name",
        "old_la_code",
        "new_la_code",
        "la_name",
    ]
    measures_out = plain + pct + ["enrolments_pa_10_exact", "enrolments_pa_10_exact_percent"]
    if legacy:
        out = f.select(
            *geo,
            pl.col("school_urn").alias("urn"),
            pl.col("school_laestab").alias("laestab"),
            pl.col("edu_phase").alias("school_type"),
            *measures_out,
        )
        filt = ("school_type", "Filter", "School type", "", "", "", "Filter by school type", "")
    else:
        out = f.select(
            *geo,
            "school_urn",
            "school_laestab",
            "school_name",
            pl.col("edu_phase").alias("education_phase"),
            *measures_out,
            "enrolments_pa_50_exact",
            "enrolments_pa_50_exact_percent",
        )
        filt = ("education_phase", "Filter", "Education phase", "", "", "", "Filter by education phase", "")
    labels = {
        "num_schools": ("Number of schools", "", "0"),
        "enrolments": ("Number of enrolments", "", "0"),
        "sess_possible": ("Number of possible sessions", "Sessions", "0"),
        "sess_overall": ("Number of overall absence sessions", "Sessions", "0"),
        "sess_authorised": ("Number of authorised absence sessions", "Sessions", "0"),
        "sess_unauthorised": ("Number of unauthorised absence sessions", "Sessions", "0"),
        "sess_overall_percent": ("Percentage of overall absence", "Absence rates", "2"),
        "sess_authorised_percent": ("Percentage of authorised absence", "Absence rates", "2"),
        "sess_unauthorised_percent": ("Percentage of unauthorised absence", "Absence rates", "2"),
        "enrolments_pa_10_exact": ("Number of persistent absentees", "Persistent absence", "0"),
        "enrolments_pa_10_exact_percent": (
            "Percentage of enrolments who are persistently absent",
            "Persistent absence",
            "2",
        ),
        "enrolments_pa_50_exact": ("Number of severe absentees", "Severe absence", "0"),
        "enrolments_pa_50_exact_percent": (
            "Percentage of enrolments who are severely absent",
            "Severe absence",
            "2",
        ),
    }
    rows = [filt]
    for c in out.columns[out.columns.index(filt[0]) + 1 :]:
        label, grp, dp = labels[c]
        rows.append((c, "Indicator", label, grp, "%" if "percent" in c else "", dp, "", ""))
    return out, _meta(rows, legacy)


_AGE = re.compile(r"^\(?(part|full)[- ]time (girls|boys) aged (\d+)(?: \(born (.*)\))?$")
_YG = re.compile(r"^(Part|Full) time (girls|boys) (.+)$")


CENSUS_RENAMED_FROM = 2023  # `urn`, `full-time male Year group 12`
CENSUS_LONG_FROM = max(YEARS)  # the long "School level" file (the real one from 2025/26)
SEN_LONG_FROM = max(YEARS)  # the long SEN file (the real one from 2024/25)


def census_file(world: World, nums: pl.DataFrame, year: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The school-level census of `year` in that year's layout (see the module docstring)."""
    if year >= CENSUS_LONG_FROM:
        return census_long_file(world, nums, year)
    data, meta = census_wide_file(world, nums, year)
    if year >= CENSUS_RENAMED_FROM:
        names = dict(zip(SPC_2223, SPC_2324, strict=True))
        data = data.rename(names)
        meta = meta.with_columns(pl.col("col_name").replace(names))
    return data, meta


def census_wide_file(world: World, nums: pl.DataFrame, year: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The school-level SPC underlying data: the exact 256-column 2022/23 header, with aggregate rows."""
    base = _geo(world, nums, False)
    cols: dict[str, pl.Expr] = {}
    counts: list[str] = []
    gidx = {gname: k for k, gname in enumerate(GROUPS)}

    def n(ftpt: str, sex: str, k: int) -> pl.Expr:
        return pl.col(f"n_{ftpt}_{sex}_{k}")

    for col in SPC_2223:
        m = _YG.match(col)
        if m and m.group(3) in gidx:
            cols[col] = n("ft" if m.group(1) == "Full" else "pt", m.group(2), gidx[m.group(3)])
            counts.append(col)
            continue
        m = _AGE.match(col)
        if m:
            ftpt = "ft" if m.group(1) == "full" else "pt"
            sex, age, born = m.group(2), int(m.group(3)), m.group(4)
            if age == 2:
                e = n(ftpt, sex, gidx["Nursery 1"])
            elif age == 3:
                e = (n(ftpt, sex, gidx["Nursery 2"]) / 3).floor() + (
                    pl.lit(1 if born and born.startswith("September") else 0)
                    * (n(ftpt, sex, gidx["Nursery 2"]) % 3)
                )
            elif age == 4:
                e = (n(ftpt, sex, gidx["Reception"]) / 3).floor() + (
                    pl.lit(1 if born and born.startswith("September") else 0)
                    * (n(ftpt, sex, gidx["Reception"]) % 3)
                )
            elif 5 <= age <= 18:
                e = n(ftpt, sex, gidx[f"Year group {age - 4}"])
            else:
                e = pl.lit(0)
            cols[col] = e.cast(pl.Int64)
            counts.append(col)

    def yg(*names: str) -> pl.Expr:
        return pl.sum_horizontal(
            [n(a, s, gidx[g]) for g in names for a in ("ft", "pt") for s in ("girls", "boys")]
        )

    def all_of(ftpt: tuple[str, ...], sexes: tuple[str, ...]) -> pl.Expr:
        return pl.sum_horizontal([n(a, s, k) for k in range(len(GROUPS)) for a in ftpt for s in sexes])

    derived = {
        "Number of early year pupils (years E1 and E2)": yg("Early 1", "Early 2"),
        "Number of nursery pupils (years N1 and N2)": yg("Nursery 1", "Nursery 2"),
        "Number of reception pupils (year R)": yg("Reception"),
        "Number of key stage 1 pupils (years 1 and 2)": yg("Year group 1", "Year group 2"),
        "Number of key stage 2 pupils (years 3 to 6)": yg(*[f"Year group {k}" for k in range(3, 7)]),
        "Number of key stage 3 pupils (years 7 to 9)": yg(*[f"Year group {k}" for k in range(7, 10)]),
        "Number of key stage 4 pupils (years 10 and 11)": yg("Year group 10", "Year group 11"),
        "Number of key stage 5 pupils (years 12 to 14)": yg(
            "Year group 12", "Year group 13", "Year group 14"
        ),
        "Number of pupils not reception or key stage 1 to 5": yg("Year group Not followed"),
        "headcount total girls": all_of(("ft", "pt"), ("girls",)),
        "headcount total boys": all_of(("ft", "pt"), ("boys",)),
        "full time pupils": all_of(("ft",), ("girls", "boys")),
        "part time pupils": all_of(("pt",), ("girls", "boys")),
        "headcount of pupils": pl.col("headcount"),
        "boy boarders": pl.lit(0),
        "girl boarders": pl.lit(0),
        "total boarders": pl.lit(0),
        "number of pupils known to be eligible for and claiming free scho": pl.col("fsm_all"),
        "number of FSM eligible pupils taking a free school meal on censu": (pl.col("fsm_all") * 0.86).round(
            0
        ),
        "number of pupils (used for FSM calculation in Performance Tables": pl.col("fsm_base"),
        "number of pupils known to be eligible for free school meals (Per": pl.col("fsm_pt"),
        "number of infants taking a free school meal on census day": (
            yg("Reception", "Year group 1", "Year group 2") * 0.88
        ).round(0),
        "number of pupils of compulsory school age and above": pl.col("headcount")
        - yg("Nursery 1", "Nursery 2", "Reception", "Early 1", "Early 2"),
        "number of pupils whose first language is known or believed to be other than English": pl.col("eal"),
        "number of pupils whose first language is unclassified": pl.col("eal_unclassified"),
        "number of pupils whose first language is known or believed to be English": pl.col("headcount")
        - pl.col("eal")
        - pl.col("eal_unclassified"),
    }
    for k, v in derived.items():
        cols[k] = v.cast(pl.Int64)
        counts.append(k)
    ethnic_cols = [
        c
        for c in SPC_2223
        if c.startswith("number of pupils classified as") or c == "number of pupils unclassified"
    ]
    rng = np.random.default_rng([year, nums.height, 3])
    eth = (
        np.vstack([rng.multinomial(h, ETHNIC_P / ETHNIC_P.sum()) for h in nums["headcount"].to_numpy()])
        if nums.height
        else np.zeros((0, len(ethnic_cols)))
    )
    base = base.with_columns([pl.Series(f"_eth{k}", eth[:, k]) for k in range(len(ethnic_cols))])
    for k, c in enumerate(ethnic_cols):
        cols[c] = pl.col(f"_eth{k}")
        counts.append(c)
    wide = base.with_columns([e.alias(c) for c, e in cols.items()]).with_columns(
        pl.col("phase").replace_strict(SPC_PHASE).alias("edu_phase")
    )
    f = _common(_with_aggregates(wide, counts, False, True), year)
    is_school = pl.col("geographic_level") == "School"

    def pct(num: str, den: str) -> pl.Expr:
        return pl.when(pl.col(den) > 0).then((pl.col(num) / pl.col(den) * 100).round(1)).otherwise(0.0)

    def text(e: pl.Expr) -> pl.Expr:
        return pl.when(is_school).then(e).otherwise(pl.lit(""))

    fill = {
        "URN": text(pl.col("school_urn")),
        "Estab": text(pl.col("estab_out")),
        "LAEstab": text(pl.col("school_laestab")),
        "open_date": text(pl.col("open_date").dt.strftime("%d/%m/%Y")),
        "sex_of_school_description": text(pl.lit("Mixed")),
        "phase-type_grouping": pl.when(is_school).then(pl.col("edu_phase")).otherwise(pl.lit("Total")),
        "type_of_establishment": text(pl.col("type")),
        "middle_school": text(pl.lit("Not applicable")),
        "all_through_school": text(pl.lit("Not applicable")),
        "hospital_school": text(pl.lit("No")),
        "denomination": text(pl.col("religious")),
        "admissions_policy": text(
            pl.when(pl.col("phase") == "Secondary")
            .then(pl.lit("Non-selective"))
            .otherwise(pl.lit("Not applicable"))
        ),
        "district_administrative_code": text(pl.col("gss_code")),
        "district_administrative_name": text(pl.col("la_name")),
        "urban_rural": text(pl.lit("(England/Wales) Urban major conurbation")),
        "fte pupils": (pl.col("full time pupils") + pl.col("part time pupils") * 0.5).round(1),
        "% of pupils known to be eligible for and claiming free school me": pct(
            "number of pupils known to be eligible for and claiming free scho", "headcount of pupils"
        ),
        "% of pupils taking free school meals on census day": pct(
            "number of FSM eligible pupils taking a free school meal on censu", "headcount of pupils"
        ),
        "% of pupils known to be eligible for free school meals (Performa": pct(
            "number of pupils known to be eligible for free school meals (Per",
            "number of pupils (used for FSM calculation in Performance Tables",
        ),
    }
    select = []
    for c in SPC_2223:
        if c in fill:
            e = fill[c]
        elif c in (
            "time_period",
            "time_identifier",
            "country_code",
            "country_name",
            "region_code",
            "region_name",
            "old_la_code",
            "new_la_code",
            "la_name",
            "school_name",
        ):
            e = pl.col(c)
        elif c == "geographic_level":
            e = pl.col("geographic_level_out")
        elif c in counts:
            e = pl.col(c)
        else:
            e = pl.lit("")
        select.append(_fmt(e).alias(c) if c in counts or c in fill else e.cast(pl.String).alias(c))
    out = f.select(select)
    rows = [("phase-type_grouping", "Filter", "Phase type grouping", "", "", "", "Filter by phase", "")]
    for c in SPC_2223:
        if c in counts or c.startswith("%") or c == "fte pupils":
            rows.append(
                (
                    c,
                    "Indicator",
                    c,
                    "",
                    "%" if c.startswith("%") else "",
                    "1" if c.startswith("%") or c == "fte pupils" else "0",
                    "",
                    "",
                )
            )
    return out, _meta(rows, False)


def _primary_needs(nums: pl.DataFrame, year: int) -> tuple[np.ndarray, np.ndarray]:
    """Pupils by primary need (columns in NEEDS' order) of those with an EHC plan and of those on SEN support."""
    rng = np.random.default_rng([year, nums.height, 5])
    ehc = nums["ehc"].to_numpy()
    sup = nums["sup"].to_numpy()
    ehc_need = (
        np.vstack([rng.multinomial(x, EHC_NEED_P / EHC_NEED_P.sum()) for x in ehc])
        if nums.height
        else np.zeros((0, 13))
    )
    sup_need = (
        np.vstack([rng.multinomial(x, SUP_NEED_P / SUP_NEED_P.sum()) for x in sup])
        if nums.height
        else np.zeros((0, 13))
    )
    return ehc_need, sup_need


def sen_file(world: World, nums: pl.DataFrame, year: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The school-level SEN underlying data: the exact 75-column header, with aggregate rows (long from
    SEN_LONG_FROM)."""
    if year >= SEN_LONG_FROM:
        return sen_long_file(world, nums, year)
    ehc_need, sup_need = _primary_needs(nums, year)
    wide = _geo(world, nums, False).with_columns(
        [pl.Series(f"EHC_Primary_need_{k}", ehc_need[:, i]) for i, k in enumerate(NEEDS)]
        + [pl.Series(f"SUP_Primary_need_{k}", sup_need[:, i]) for i, k in enumerate(NEEDS)]
        + [
            pl.col("headcount").alias("Total pupils"),
            pl.col("sup").alias("SEN support"),
            pl.col("ehc").alias("EHC plan"),
        ]
        + [pl.col("phase").replace_strict(SPC_PHASE).alias("edu_phase")]
    )
    prov = [c for c in SEN_2223 if c.lower().startswith("prov_")]
    wide = wide.with_columns(
        [
            (
                pl.col(f"EHC_Primary_need_{c.split('_', 1)[1].lower()}")
                + pl.col(f"SUP_Primary_need_{c.split('_', 1)[1].lower()}")
            ).alias(c)
            for c in prov
        ]
        + [pl.lit(0).alias("SEN_Unit"), pl.lit(0).alias("RP_Unit")]
    )
    counts = (
        ["Total pupils", "SEN support", "EHC plan"]
        + [f"EHC_Primary_need_{k}" for k in NEEDS]
        + [f"SUP_Primary_need_{k}" for k in NEEDS]
        + prov
        + ["SEN_Unit", "RP_Unit"]
    )
    f = _common(_with_aggregates(wide, counts, False, True), year)
    is_school = pl.col("geographic_level") == "School"

    def text(e: pl.Expr) -> pl.Expr:
        return pl.when(is_school).then(e).otherwise(pl.lit(""))

    fill = {
        "geographic_level": pl.col("geographic_level_out"),
        "URN": text(pl.col("school_urn")),
        "estab": text(pl.col("estab_out")),
        "laestab": text(pl.col("school_laestab")),
        "open_date": text(pl.col("open_date").dt.strftime("%d/%m/%Y")),
        "sex_of_school_description": text(pl.lit("Mixed")),
        "phase_type_grouping": pl.when(is_school).then(pl.col("edu_phase")).otherwise(pl.lit("Total")),
        "type_of_establishment": text(pl.col("type")),
        "middle_school": text(pl.lit("Not applicable")),
        "all_through": text(pl.lit("Not applicable")),
        "hospital_school": text(pl.lit("No")),
        "denomination": text(pl.col("religious")),
        "admissions_policy": text(pl.lit("Not applicable")),
        "district_administrative_code": text(pl.col("gss_code")),
        "district_administrative_name": text(pl.col("la_name")),
        "urban_rural": text(pl.lit("(England/Wales) Urban major conurbation")),
    }
    select = []
    for c in SEN_2223:
        if c in fill:
            e = fill[c].cast(pl.String)
        elif c in counts:
            e = _fmt(pl.col(c))
        elif c in f.columns:
            e = pl.col(c).cast(pl.String)
        else:
            e = pl.lit("")
        select.append(e.alias(c))
    out = f.select(select)
    rows = [("phase_type_grouping", "Filter", "Phase type grouping", "", "", "", "Filter by phase", "")]
    rows += [(c, "Indicator", c.replace("_", " "), "", "", "0", "", "") for c in counts]
    return out, _meta(rows, False)


# ---------------------------------------------------------------------------------------------- long files
ATTENDANCE = {"Total": ("ft", "pt"), "Full-time": ("ft",), "Part-time": ("pt",)}
SEXES = {"Total": ("girls", "boys"), "Female": ("girls",), "Male": ("boys",)}
AGE_GROUPS = {2: ("Nursery 1",), 3: ("Nursery 2",), 4: ("Reception",)} | {
    age: (f"Year group {age - 4}",) for age in range(5, 19)
}
NEED_LABELS = (
    "Specific learning difficulty", "Moderate learning difficulty", "Severe learning difficulty",
    "Profound and multiple learning difficulty", "Social, emotional and mental health",
    "Speech, language and communication needs", "Hearing impairment", "Visual impairment",
    "Multi-sensory impairment", "Physical disability", "Autistic spectrum disorder",
    "Other difficulty or disability", "SEN support but no specialist assessment of type of need",
)  # fmt: skip


def _r_urn(urn: pl.Expr) -> pl.Expr:
    """A URN as R's write.csv writes a number: `1e+05` where that is shorter than the digits (100000)."""
    return (
        pl.when(urn % 100_000 == 0)
        .then(pl.format("{}e+05", (urn // 100_000).cast(pl.String)))
        .otherwise(urn.cast(pl.String))
    )


def _school_size(headcount: pl.Expr) -> pl.Expr:
    band = (headcount - 1) // 100
    return (
        pl.when(headcount <= 0)
        .then(pl.lit("No pupils"))
        .when(headcount <= 1000)
        .then(pl.format("{} to {} pupils", band * 100 + 1, band * 100 + 100))
        .when(headcount <= 1500)
        .then(pl.lit("1001 to 1500 pupils"))
        .otherwise(pl.lit("1501 or more pupils"))
    )


def _long(
    base: pl.DataFrame, ids: list[str], specs: list[tuple[tuple[str, ...], pl.Expr]], labels: list[str]
) -> pl.DataFrame:
    """One row per school x spec (in school order, then spec order): the spec's labels and its count."""
    wide = base.with_row_index("_school").select(
        "_school", *ids, *[e.cast(pl.Int64).alias(f"_c{i}") for i, (_, e) in enumerate(specs)]
    )
    names = pl.DataFrame(
        {"_spec": [f"_c{i}" for i in range(len(specs))], "_order": list(range(len(specs)))}
        | {label: [spec[0][j] for spec in specs] for j, label in enumerate(labels)}
    )
    return (
        wide.unpivot(index=["_school", *ids], on=[f"_c{i}" for i in range(len(specs))], variable_name="_spec",
                     value_name="pupil_count")
        .join(names, on="_spec")
        .sort("_school", "_order")
    )  # fmt: skip


def _school_cells(year: int) -> dict[str, pl.Expr]:
    """The cells that place a School row of a long file (the columns the census and SEN long files share)."""
    return {
        "time_period": pl.lit(f"{year}{(year + 1) % 100:02d}"),
        "time_identifier": pl.lit("Academic year"),
        "geographic_level": pl.lit("School"),
        "country_code": pl.lit("E92000001"),
        "country_name": pl.lit("England"),
        "region_name": pl.col("region_name_out"),
        "region_code": pl.col("region_code_out"),
        "school_urn": _r_urn(pl.col("urn")),
        "old_la_code": pl.col("la_code"),
        "new_la_code": pl.col("gss_code"),
        "la_name": pl.col("la_name"),
        "estab": pl.col("estab").cast(pl.String),
        "school_name": pl.col("name"),
        "school_laestab": pl.col("la_code") + pl.col("estab").cast(pl.String),
        "phase_type_grouping": pl.col("edu_phase"),
        "open_date": pl.col("open_date").dt.strftime("%d/%m/%Y"),
        "sex_of_school_description": pl.lit("Mixed"),
        "district_administrative_code": pl.col("gss_code"),
        "district_administrative_name": pl.col("la_name"),
    }


def _layout(rows: pl.DataFrame, header: tuple[str, ...], fill: dict[str, pl.Expr]) -> pl.DataFrame:
    """The rows in a file's columns, every cell text: `fill` where it says, else the row's own column, else blank."""
    return rows.select(
        [fill[c].cast(pl.String).alias(c) if c in fill else pl.col(c) if c in rows.columns else pl.lit("").alias(c)
         for c in header]
    )  # fmt: skip


def census_long_file(world: World, nums: pl.DataFrame, year: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The long school-level census: School rows only, one per school x attendance pattern x sex x breakdown,
    in the 41 columns of the EES catalogue (HEADERS.md), with `trust` the school's trust that year (`z` for a
    school in none). Topics: `Total` and `Age` (crossed with sex; `Total` with attendance too), and the topics
    this project reads for FSM, first language and national-curriculum year (ingestion/registry.yaml)."""
    gidx = {g: k for k, g in enumerate(GROUPS)}

    def count(groups, attendance="Total", sex="Total") -> pl.Expr:
        cols = [
            pl.col(f"n_{a}_{x}_{gidx[g]}") for g in groups for a in ATTENDANCE[attendance] for x in SEXES[sex]
        ]
        return pl.sum_horizontal(cols) if cols else pl.lit(0)

    specs = [((a, x, "Total", "Total"), count(GROUPS, a, x)) for a in ATTENDANCE for x in SEXES]
    specs += [
        (("Total", x, "Age", f"Aged {age}"), count(AGE_GROUPS.get(age, ()), "Total", x))
        for age in range(20) for x in SEXES
    ]  # fmt: skip
    specs += [
        (("Total", "Total", "National curriculum year group",
          g.replace("Year group Not followed", "Not followed").replace("Year group ", "Year ")), count((g,)))
        for g in GROUPS
    ]  # fmt: skip
    fsm = "Free school meals"
    specs += [
        (("Total", "Total", fsm, "Known to be eligible for free school meals"), pl.col("fsm_all")),
        (("Total", "Total", fsm, "Known to be eligible for free school meals (performance tables)"), pl.col("fsm_pt")),
        (("Total", "Total", fsm, "Pupils used for the FSM calculation in performance tables"), pl.col("fsm_base")),
        (("Total", "Total", "First language", "Known or believed to be English"),
         pl.col("headcount") - pl.col("eal") - pl.col("eal_unclassified")),
        (("Total", "Total", "First language", "Known or believed to be other than English"), pl.col("eal")),
        (("Total", "Total", "First language", "Unclassified"), pl.col("eal_unclassified")),
    ]  # fmt: skip
    base = _geo(world, nums, False).with_columns(pl.col("phase").replace_strict(SPC_PHASE).alias("edu_phase"))
    ids = ["urn", "estab", "name", "la_code", "gss_code", "la_name", "region_code_out", "region_name_out",
           "edu_phase", "trust_name", "open_date", "type", "religious", "headcount"]  # fmt: skip
    rows = _long(base, ids, specs, ["attendance_pattern", "sex", "breakdown_topic", "breakdown"])
    academy = pl.col("type").str.starts_with("Academy")
    fill = _school_cells(year) | {
        "trust": pl.col("trust_name").fill_null("z"),
        "establishment_type": pl.col("type"),
        "middle_school": pl.lit("No"),
        "all_through": pl.lit("No"),
        "hospital_school": pl.lit("No"),
        "religious_denomination": pl.col("religious"),
        "admissions_policy": pl.when(pl.col("edu_phase") == "State-funded secondary")
        .then(pl.lit("Non-selective"))
        .otherwise(pl.lit("Not applicable")),
        "urban_rural": pl.lit("Urban: Nearer to a major town or city"),
        "academy_flag": pl.when(academy).then(pl.lit("Academy")).otherwise(pl.lit("LA Maintained")),
        "school_size": _school_size(pl.col("headcount")),
        "school_time": pl.lit("32.5"),
        "pupil_count": pl.col("pupil_count").cast(pl.String),
        "pupil_percent": pl.when(pl.col("headcount") > 0)
        .then(_fmt((pl.col("pupil_count") / pl.col("headcount") * 100).round(1)))
        .otherwise(pl.lit("x")),
    }
    out = _layout(rows, SPC_LONG, fill)
    meta_rows = [
        (c, "Filter", label, "", "", "", f"Filter by {label.lower()}", group)
        for c, label, group in (
            ("phase_type_grouping", "Phase type grouping", ""), ("trust", "Trust", ""),
            ("establishment_type", "Establishment type", ""), ("admissions_policy", "Admissions policy", ""),
            ("academy_flag", "Academy flag", ""), ("school_size", "School size", ""),
            ("attendance_pattern", "Attendance", ""), ("sex", "Sex", ""),
            ("breakdown", "Breakdown", "breakdown_topic"),
        )
    ]  # fmt: skip
    meta_rows += [
        ("pupil_count", "Indicator", "Number of pupils", "", "", "0", "", ""),
        ("pupil_percent", "Indicator", "Percentage of pupils", "", "%", "1", "", ""),
    ]
    return out, _meta(meta_rows, False)


def sen_long_file(world: World, nums: pl.DataFrame, year: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The long school-level SEN file: School rows only, one per school x SEN provision x primary need."""
    ehc_need, sup_need = _primary_needs(nums, year)
    base = _geo(world, nums, False).with_columns(
        [pl.Series(f"_ehc_{i}", ehc_need[:, i]) for i in range(len(NEEDS))]
        + [pl.Series(f"_sup_{i}", sup_need[:, i]) for i in range(len(NEEDS))]
        + [pl.col("phase").replace_strict(SPC_PHASE).alias("edu_phase")]
    )
    specs = [
        (("Total", "Total"), pl.col("headcount")),
        (("SEN support", "Total"), pl.col("sup")),
        (("EHC plan", "Total"), pl.col("ehc")),
        (("No SEN", "Total"), pl.col("headcount") - pl.col("sup") - pl.col("ehc")),
    ]
    for i, need in enumerate(NEED_LABELS):
        specs += [
            (("SEN support", need), pl.col(f"_sup_{i}")),
            (("EHC plan", need), pl.col(f"_ehc_{i}")),
            (("Total", need), pl.col(f"_sup_{i}") + pl.col(f"_ehc_{i}")),
        ]
    ids = ["urn", "estab", "name", "la_code", "gss_code", "la_name", "region_code_out", "region_name_out",
           "edu_phase", "open_date", "type", "religious"]  # fmt: skip
    rows = _long(base, ids, specs, ["sen_provision", "sen_primary_need"])
    fill = _school_cells(year) | {
        "type_of_establishment": pl.col("type"),
        "middle_school": pl.lit("Not applicable"),
        "all_through": pl.lit("Not applicable"),
        "hospital_school": pl.lit("No"),
        "denomination": pl.col("religious"),
        "admissions_policy": pl.lit("Not applicable"),
        "urban_rural": pl.lit("(England/Wales) Urban major conurbation"),
        "pupil_count": pl.col("pupil_count").cast(pl.String),
    }
    out = _layout(rows, SEN_LONG, fill)
    meta_rows = [
        ("phase_type_grouping", "Filter", "Phase type grouping", "", "", "", "Filter by phase", ""),
        ("sen_primary_need", "Filter", "Primary need", "", "", "", "Filter by primary need", "sen_provision"),
        ("pupil_count", "Indicator", "Number of pupils", "", "", "0", "", ""),
    ]
    return out, _meta(meta_rows, False)


# (publication, folder, file stem, writer, byte conventions by vintage)
PUBLICATIONS = {
    "exclusions": (exclusions_file, "exc_school", "exclusions_by_geographic_level"),
    "absence": (absence_file, "1a_absence_3term_nat_reg_la_sch", "absence_3term_nat_reg_la_sch"),
    "census": (census_file, "spc_school_level_underlying_data", "spc_school_level_underlying_data"),
    "sen": (sen_file, "sen_school_level_underlying_data", "sen_school_level_underlying_data"),
}
# realistic mix of encodings and line endings: (crlf, encoding, bom) by (publication, legacy)
BYTES = {
    ("exclusions", False): (False, "utf-8", False),
    ("exclusions", True): (True, "utf-8", False),
    ("absence", False): (True, "utf-8", False),
    ("absence", True): (False, "utf-8", False),
    ("census", False): (False, "utf-8", False),
    ("census", True): (True, "cp1252", False),
    ("sen", False): (True, "utf-8", True),
    ("sen", True): (True, "utf-8", True),
}


def write_dfe(world: World, numbers: dict[int, pl.DataFrame], root: Path) -> list[Path]:
    written = []
    for year, nums in numbers.items():
        legacy = year in LEGACY_YEARS
        label = f"{year}-{(year + 1) % 100:02d}"
        for pub, (fn, stem, legacy_stem) in PUBLICATIONS.items():
            data, meta = fn(world, nums, year)
            crlf, enc, bom = BYTES[(pub, legacy)]
            name = legacy_stem if legacy else stem
            path = root / pub / label / f"{name}.csv"
            written.append(_write(data, path, crlf=crlf, encoding=enc, bom=bom))
            written.append(_write(meta, path.with_name(f"{name}.meta.csv"), crlf=crlf, encoding=enc))
    return written
