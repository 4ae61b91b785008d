"""Demo in-year attendance (issue 15): the DfE's "Pupil attendance in schools" weekly and year-to-date files for the
autumn after the latest census, in the producer's own layout (reference: attendance_ees_*_sample.csv): National,
Regional and Local authority rows by education phase, R `write.csv` quoting (text quoted, numbers quoted where a
row is suppressed), `c` for a local authority with one school of a phase, fractional `num_schools` and
`enrolments` in the year to date (averages over the weeks), `time_identifier` last in the year-to-date file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl

PHASES = ("Primary", "Secondary", "Special")
WEEKS = (37, 38, 39, 40, 41, 42, 43, 45)  # autumn term to November; week 44 is half term
SESSIONS_PER_WEEK = 10  # five days, morning and afternoon
WEEK_EFFECT = np.linspace(0.8, 1.25, len(WEEKS))  # absence rises as the autumn goes on
HEAD = ["time_period", "time_identifier", "geographic_level", "country_code", "country_name", "region_code",
        "region_name", "new_la_code", "la_name", "old_la_code", "education_phase", "num_schools", "enrolments",
        "present_sessions", "overall_attendance", "approved_educational_activity", "overall_absence",
        "authorised_absence", "unauthorised_absence", "late_sessions", "possible_sessions", "total_num_schools",
        "total_enrolments", "attendance_perc", "overall_absence_perc", "authorised_absence_perc",
        "unauthorised_absence_perc"]  # fmt: skip
COUNTS = ["overall_absence", "authorised_absence", "unauthorised_absence", "possible_sessions", "late_sessions",
          "approved_educational_activity"]  # fmt: skip


def _school_weeks(world, nums: pl.DataFrame, seed: int) -> pl.DataFrame:
    """One row per school and week: its sessions that week, from its last annual absence rate."""
    rng = np.random.default_rng([seed, 15])
    schools = nums.filter(pl.col("phase").is_in(PHASES) & (pl.col("headcount") > 0)).select(
        "urn", pl.col("phase").alias("education_phase"), "la_code", "gss_code", "la_name", "region_code",
        "headcount", (pl.col("sess_overall") / pl.col("sess_possible")).fill_nan(0.05).fill_null(0.05).alias("rate"),
        (pl.col("pa10") / pl.col("enrolments")).fill_nan(0.15).fill_null(0.15).alias("pa_share"),
    )  # fmt: skip
    frames = []
    for i, week in enumerate(WEEKS):
        n = schools.height
        reported = rng.uniform(size=n) > 0.02  # a few schools miss a week's return
        enrol = np.round(schools["headcount"].to_numpy() * rng.uniform(0.99, 1.01, n))
        possible = enrol * SESSIONS_PER_WEEK
        absent = np.round(possible * np.clip(schools["rate"].to_numpy() * WEEK_EFFECT[i] * rng.uniform(0.85, 1.15, n),
                                             0, 0.6))  # fmt: skip
        authorised = np.round(absent * rng.uniform(0.62, 0.75, n))
        frames.append(schools.with_columns(
            pl.lit(week).alias("week"), pl.Series("enrolments", enrol), pl.Series("possible_sessions", possible),
            pl.Series("overall_absence", absent), pl.Series("authorised_absence", authorised),
            pl.Series("unauthorised_absence", absent - authorised),
            pl.Series("late_sessions", np.round(possible * 0.008)),
            pl.Series("approved_educational_activity", np.round(possible * 0.01)),
        ).filter(pl.Series(reported)))  # fmt: skip
    return pl.concat(frames)


def _aggregate(rows: pl.DataFrame, world, by: list[str], weeks: int) -> pl.DataFrame:
    """National, Regional and LA rows by phase and Total: counts summed; schools and pupils averaged over weeks."""
    out = []
    levels = [("National", []), ("Regional", ["region_code"]),
              ("Local authority", ["region_code", "gss_code", "la_code", "la_name"])]  # fmt: skip
    for level, keys in levels:
        for phase in (*PHASES, "Total"):
            part = rows if phase == "Total" else rows.filter(pl.col("education_phase") == phase)
            group = [*by, *keys]
            agg = part.group_by(group).agg(
                (pl.len() / weeks).alias("num_schools"),
                pl.col("urn").n_unique().alias("total_num_schools"),
                (pl.col("enrolments").sum() / weeks).alias("enrolments"),
                *[pl.col(c).sum() for c in COUNTS],
                (pl.col("pa_count").sum() / weeks).alias("pa_count"),  # pupils: an average, as enrolments
            )
            out.append(agg.with_columns(pl.lit(level).alias("geographic_level"), pl.lit(phase).alias("education_phase")))
    frame = pl.concat(out, how="diagonal_relaxed")
    return frame.with_columns(
        pl.col("region_code").replace_strict(world.regions, default=None).alias("region_name"),
        (pl.col("overall_absence") / pl.col("possible_sessions") * 100).alias("overall_absence_perc"),
        (pl.col("authorised_absence") / pl.col("possible_sessions") * 100).alias("authorised_absence_perc"),
        (pl.col("unauthorised_absence") / pl.col("possible_sessions") * 100).alias("unauthorised_absence_perc"),
        (pl.col("pa_count") / pl.col("enrolments") * 100).alias("pa_perc"),
    ).with_columns(
        (100 - pl.col("overall_absence_perc")).alias("attendance_perc"),
        (pl.col("possible_sessions") - pl.col("overall_absence")).alias("present_sessions"),
        (pl.col("possible_sessions") - pl.col("overall_absence")).alias("overall_attendance"),
        pl.col("enrolments").alias("total_enrolments"),
    )


def _cell(value, quoted: bool) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return f'"{value}"'
    text = f"{value:.15g}" if isinstance(value, float) else str(value)
    return f'"{text}"' if quoted else text


def _write(frame: pl.DataFrame, path: Path, head: list[str], period: str) -> Path:
    """R write.csv: every text cell quoted; a row with a suppressed LA (one school) shows `"c"` in every measure
    but the school counts, and quotes its numbers."""
    lines = [",".join(f'"{c}"' for c in head)]
    order = {"National": 0, "Regional": 1, "Local authority": 2}
    rows = frame.with_columns(pl.col("geographic_level").replace_strict(order, return_dtype=pl.Int8).alias("_o"))
    sort = [c for c in ("_week", "_o", "region_code", "new_la_code", "education_phase") if c in rows.columns]
    for r in rows.sort(sort, nulls_last=False).iter_rows(named=True):
        one_school = r["geographic_level"] == "Local authority" and r["total_num_schools"] == 1
        cells = []
        for c in head:
            v = r.get(c)
            if c == "time_period":
                cells.append(period if r.get("_week") is None else str(r["_year"]))
            elif c == "time_identifier":
                cells.append(f'"{r["time_identifier"]}"')
            elif one_school and c not in ("num_schools", "total_num_schools") and c in r and not isinstance(v, str):
                cells.append('"c"')
            else:
                cells.append(_cell(v, quoted=False))
        lines.append(",".join(cells))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(("\n".join(lines) + "\n").encode("utf-8"))
    return path


def write_attendance(world, nums: pl.DataFrame, root: Path, seed: int) -> list[Path]:
    """The weekly and year-to-date files of the autumn after the census year of `nums` (its latest)."""
    year = int(nums["year"].max()) + 1  # the calendar year of the autumn term: academic year year/year+1
    weeks = _school_weeks(world, nums, seed).with_columns(
        (pl.col("enrolments") * pl.col("pa_share")).alias("pa_count")
    )
    geo = {"country_code": "E92000001", "country_name": "England"}
    weekly = _aggregate(weeks, world, ["week"], 1).with_columns(
        pl.format("Week {}", "week").alias("time_identifier"), pl.col("week").alias("_week"), pl.lit(year).alias("_year"),
    )  # fmt: skip
    ytd = _aggregate(weeks, world, [], len(WEEKS)).with_columns(pl.lit("Academic year").alias("time_identifier"))
    out = []
    for frame, head, name in ((weekly, HEAD, f"attendance_weekly_{year}"),
                              (ytd, [c for c in HEAD if c != "time_identifier"] + ["pa_perc", "time_identifier"],
                               f"attendance_ytd_{year}{(year + 1) % 100:02d}")):  # fmt: skip
        frame = frame.with_columns(
            *[pl.lit(v).alias(k) for k, v in geo.items()],
            pl.col("gss_code").alias("new_la_code"), pl.col("la_code").alias("old_la_code"),
        ).with_columns(
            pl.when(pl.col("geographic_level") == "National").then(None).otherwise(pl.col(c)).alias(c)
            for c in ("region_code", "region_name")
        )  # fmt: skip
        out.append(_write(frame, root / "attendance" / f"{name}.csv", head, f"{year}{(year + 1) % 100:02d}"))
    return out
