"""The DfE's "suspensions and permanent exclusions by pupil characteristic" files for the demo (issue 15).

One file per academic year with National, Regional and Local authority rows, per education phase and `Total`, by
characteristic: SEN provision, FSM eligibility, sex, major ethnic group (and rows the reader knows and does not
read: national curriculum year, unclassified pupils). The newest years are in the current EES layout
(`suspension`, `education_phase`, `new_la_code` before `old_la_code`, GSS symbols); the 2019-era year in the
2019 EES layout (`fixed_excl`, `school_type`, labels such as `SEN provision SEN with statement EHC`, `x` . `:`).

Each school's pupils and its suspensions, pupils suspended and permanent exclusions (demo/dfe.py school_numbers,
the numbers of the school-level exclusions file) are split across the groups of each characteristic with
realistic relative risks (SEN and FSM pupils suspended far more often), so every group adds up to the school and
each area's all-pupils row is the sum of its schools' rows: it reconciles with the exclusions file. Area counts
of 1 or 2 are suppressed, as the DfE does.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl

from demo.dfe import EDU_PHASE, LEVEL_ORDER, PHASE_ORDER, _fmt, _write
from demo.schools import LEGACY_YEARS, World

MEASURES = ("suspension", "one_plus_susp", "perm_excl")
# characteristic -> [(group, (2019 group label, 2019 label), (current group label, current label), risk weight)]
GROUPS = {
    "sen": [
        ("ehc", ("SEN provision", "SEN provision SEN with statement EHC"), ("SEN provision", "EHC plan"), 3.3),
        ("sup", ("SEN provision", "SEN provision SEN without statement"), ("SEN provision", "SEN support"), 3.6),
        ("none", ("SEN provision", "SEN Provision No SEN"), ("SEN provision", "No SEN"), 1.0),
    ],
    "fsm": [
        ("yes", ("FSM eligible", "FSM Eligible"), ("FSM eligible", "FSM eligible"), 3.1),
        ("no", ("FSM eligible", "FSM NotEligible"), ("FSM eligible", "FSM not eligible"), 1.0),
    ],
    "sex": [
        ("female", ("Gender", "Gender female"), ("Sex", "Female"), 1.0),
        ("male", ("Gender", "Gender male"), ("Sex", "Male"), 2.4),
    ],
    "ethnicity": [
        ("white", ("Ethnicity", "Ethnicity Major White Total"), ("Ethnicity major", "White"), 1.1),
        ("mixed", ("Ethnicity", "Ethnicity Major Mixed Total"), ("Ethnicity major", "Mixed"), 1.4),
        ("asian", ("Ethnicity", "Ethnicity Major Asian Total"), ("Ethnicity major", "Asian"), 0.45),
        ("black", ("Ethnicity", "Ethnicity Major Black Total"), ("Ethnicity major", "Black"), 1.25),
        ("chinese", ("Ethnicity", "Ethnicity Major Chinese"), ("Ethnicity major", "Chinese"), 0.2),
        ("other", ("Ethnicity", "Ethnicity Major Any Other Ethnic Group"), ("Ethnicity major", "Any other ethnic group"),
         0.85),
        ("unclassified", ("Ethnicity", "Ethnicity Major Unclassified"), ("Ethnicity major", "Unclassified"), 1.0),
    ],
}
ETHNIC_SHARES = np.array([0.66, 0.07, 0.125, 0.065, 0.006, 0.024, 0.05])
# rows the reader knows and does not read (config/characteristics.yaml groups_not_read): Year 10 and 11 pupils
NC_YEARS = {10: ("NC year", "NC Year 10"), 11: ("NC year", "NC Year 11")}
NC_CURRENT = {10: ("NC year", "Year 10"), 11: ("NC year", "Year 11")}

CURRENT = ("time_period", "time_identifier", "geographic_level", "country_code", "country_name", "region_code",
           "region_name", "new_la_code", "old_la_code", "la_name", "education_phase", "characteristic_group",
           "characteristic", "headcount", "perm_excl", "perm_excl_rate", "suspension", "susp_rate", "one_plus_susp",
           "one_plus_susp_rate")  # fmt: skip
LEGACY = ("time_identifier", "time_period", "geographic_level", "country_code", "country_name", "region_code",
          "region_name", "old_la_code", "new_la_code", "la_name", "school_type", "characteristic_group",
          "characteristic", "headcount", "perm_excl", "perm_excl_rate", "fixed_excl", "fixed_excl_rate",
          "one_plus_fixed", "one_plus_fixed_rate")  # fmt: skip


def _split(rng: np.random.Generator, total: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """`total` (one count per school) split across groups in proportion to `weights` (schools x groups): the
    conditional binomials of a multinomial, vectorised over schools. Rows add up to `total` exactly."""
    out = np.zeros(weights.shape, dtype=np.int64)
    remaining = total.astype(np.int64).copy()
    left = weights.sum(axis=1)
    for k in range(weights.shape[1] - 1):
        p = np.divide(weights[:, k], left, out=np.zeros_like(left), where=left > 0).clip(0, 1)
        out[:, k] = rng.binomial(remaining, p)
        remaining -= out[:, k]
        left = left - weights[:, k]
    out[:, -1] = remaining
    return out


def school_groups(nums: pl.DataFrame, year: int, seed: int) -> pl.DataFrame:
    """One row per school x characteristic group: its pupils and its suspensions, pupils suspended and permanent
    exclusions in that group (every characteristic's groups add up to the school's numbers)."""
    rng = np.random.default_rng([seed, year, 151])
    n = nums.height
    headcount = nums["headcount"].to_numpy().astype(np.int64)
    ehc, sup = nums["ehc"].to_numpy(), nums["sup"].to_numpy()
    fsm = np.minimum(nums["fsm_all"].to_numpy(), headcount)
    girls = rng.binomial(headcount, 0.49)
    pupils = {
        "sen": np.stack([ehc, sup, headcount - ehc - sup], axis=1),
        "fsm": np.stack([fsm, headcount - fsm], axis=1),
        "sex": np.stack([girls, headcount - girls], axis=1),
        "ethnicity": _split(rng, headcount, np.tile(ETHNIC_SHARES, (n, 1))),
    }
    frames = []
    base = nums.select("urn", "edu_phase", "region_code", "la_code", "gss_code", "la_name")
    for char, groups in GROUPS.items():
        sizes = pupils[char]
        weights = sizes * np.array([g[3] for g in groups])
        counts = {m: _split(rng, nums[m].to_numpy(), weights) for m in MEASURES}
        for k, (group, *_rest) in enumerate(groups):
            frames.append(base.with_columns(
                pl.lit(char).alias("char"), pl.lit(group).alias("group"), pl.Series("headcount", sizes[:, k]),
                *[pl.Series(m, counts[m][:, k]) for m in MEASURES]))  # fmt: skip
    # national curriculum Years 10 and 11 of secondary schools (read by no indicator: the reader counts them)
    for y in NC_YEARS:
        cohort = np.where(nums["phase"].to_numpy() == "Secondary", headcount // 6, 0)
        frames.append(base.with_columns(
            pl.lit("nc").alias("char"), pl.lit(str(y)).alias("group"), pl.Series("headcount", cohort),
            *[pl.Series(m, rng.binomial(nums[m].to_numpy(), np.where(cohort > 0, 0.22, 0.0))) for m in MEASURES]))  # fmt: skip
    total = base.with_columns(pl.lit("total").alias("char"), pl.lit("total").alias("group"), nums["headcount"],
                              *[nums[m] for m in MEASURES])
    return pl.concat([total, *frames], how="vertical_relaxed")


def _areas(groups: pl.DataFrame, world: World) -> pl.DataFrame:
    """National, Regional and Local authority sums, per phase and Total."""
    keys = {"National": [], "Regional": ["region_code"], "Local authority": ["region_code", "la_code", "gss_code",
                                                                              "la_name"]}  # fmt: skip
    sums = [pl.col(c).sum() for c in ("headcount", *MEASURES)]
    frames = []
    for level, cols in keys.items():
        for phase in (True, False):
            by = [*cols, "char", "group", *(["edu_phase"] if phase else [])]
            out = groups.group_by(by).agg(sums)
            if not phase:
                out = out.with_columns(pl.lit("Total").alias("edu_phase"))
            frames.append(out.with_columns(pl.lit(level).alias("geographic_level")))
    areas = pl.concat(frames, how="diagonal_relaxed")
    return areas.with_columns(
        pl.col("region_code").replace_strict(world.regions, default=None).alias("region_name"))


def _labels(legacy: bool) -> pl.DataFrame:
    rows = [("total", "total", "Total", "Total")]
    for char, groups in GROUPS.items():
        rows += [(char, g, *(old if legacy else new)) for g, old, new, _ in groups]
    rows += [("nc", str(y), *(NC_YEARS if legacy else NC_CURRENT)[y]) for y in NC_YEARS]
    return pl.DataFrame([(*r, i) for i, r in enumerate(rows)], orient="row",
                        schema=["char", "group", "characteristic_group", "characteristic", "_co"])


def characteristics_file(world: World, nums: pl.DataFrame, year: int, seed: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    legacy = year in LEGACY_YEARS
    nums = nums.with_columns(pl.col("phase").replace_strict(EDU_PHASE).alias("edu_phase"))
    areas = _areas(school_groups(nums, year, seed), world).join(_labels(legacy), on=["char", "group"])
    small, na = ("x", ".") if legacy else ("c", "z")

    def count(m: str) -> pl.Expr:
        return pl.when(pl.col(m).is_between(1, 2)).then(pl.lit(small)).otherwise(_fmt(pl.col(m)))

    def rate(m: str) -> pl.Expr:
        value = _fmt((pl.col(m) / pl.col("headcount") * 100).round(2))
        return (pl.when(pl.col(m).is_between(1, 2)).then(pl.lit(small))
                .when(pl.col("headcount") == 0).then(pl.lit(na)).otherwise(value))  # fmt: skip

    national = pl.col("geographic_level") == "National"
    la = pl.col("geographic_level") == "Local authority"
    order = ["_lo", "region_code", "la_code", "_po", "_co"]
    out = areas.with_columns(
        pl.col("geographic_level").replace_strict(LEVEL_ORDER).alias("_lo"),
        pl.col("edu_phase").replace_strict(PHASE_ORDER, default=9).alias("_po"),
    ).sort(order, nulls_last=False).select(
        pl.lit(f"{year}{(year + 1) % 100:02d}").alias("time_period"),
        pl.lit("Academic year").alias("time_identifier"),
        "geographic_level",
        pl.lit("E92000001").alias("country_code"),
        pl.lit("England").alias("country_name"),
        pl.when(national).then(pl.lit("")).otherwise(pl.col("region_code")).alias("region_code"),
        pl.when(national).then(pl.lit("")).otherwise(pl.col("region_name")).alias("region_name"),
        pl.when(la).then(pl.col("gss_code")).otherwise(pl.lit("")).alias("new_la_code"),
        pl.when(la).then(pl.col("la_code")).otherwise(pl.lit("")).alias("old_la_code"),
        pl.when(la).then(pl.col("la_name")).otherwise(pl.lit("")).alias("la_name"),
        pl.col("edu_phase").alias("education_phase"),
        "characteristic_group",
        "characteristic",
        _fmt(pl.col("headcount")).alias("headcount"),
        count("perm_excl").alias("perm_excl"),
        rate("perm_excl").alias("perm_excl_rate"),
        count("suspension").alias("suspension"),
        rate("suspension").alias("susp_rate"),
        count("one_plus_susp").alias("one_plus_susp"),
        rate("one_plus_susp").alias("one_plus_susp_rate"),
    )
    if legacy:
        out = out.rename({"education_phase": "school_type", "suspension": "fixed_excl", "susp_rate": "fixed_excl_rate",
                          "one_plus_susp": "one_plus_fixed", "one_plus_susp_rate": "one_plus_fixed_rate"})
        out = out.select(LEGACY)
        meta = [("school_type", "Filter", "School type", "", "", "Filter by school type", ""),
                ("characteristic", "Filter", "Characteristic", "", "", "Filter by pupil characteristic",
                 "characteristic_group")]  # fmt: skip
    else:
        out = out.select(CURRENT)
        meta = [("education_phase", "Filter", "Education phase", "", "", "Filter by phase", ""),
                ("characteristic", "Filter", "Characteristic", "", "", "Filter by pupil characteristic",
                 "characteristic_group")]  # fmt: skip
    names = {"perm_excl": "Number of permanent exclusions", "perm_excl_rate": "Permanent exclusion rate",
             "headcount": "Number of pupils"}  # fmt: skip
    for c in out.columns[13:]:
        meta.append((c, "Indicator", names.get(c, c.replace("_", " ").capitalize()), "", "%" if "rate" in c else "",
                     "", ""))  # fmt: skip
    meta_frame = pl.DataFrame(
        [list(r) for r in meta], orient="row",
        schema={c: pl.String for c in ("col_name", "col_type", "label", "indicator_grouping", "indicator_unit",
                                       "filter_hint", "filter_grouping_column")})  # fmt: skip
    return out, meta_frame


def write_characteristics(world: World, numbers: dict[int, pl.DataFrame], root: Path, seed: int) -> list[Path]:
    """Each year's by-characteristic file (+ `.meta.csv`) under `root` (landing/dfe)."""
    written = []
    for year, nums in numbers.items():
        legacy = year in LEGACY_YEARS
        data, meta = characteristics_file(world, nums, year, seed)
        name = "exclusions_by_characteristic" if legacy else "exc_characteristics"
        path = root / "exclusions_characteristics" / f"{year}-{(year + 1) % 100:02d}" / f"{name}.csv"
        written.append(_write(data, path, crlf=legacy))
        written.append(_write(meta, path.with_name(f"{name}.meta.csv"), crlf=legacy))
    return written
