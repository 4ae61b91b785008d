"""The indicator report of a release (`report.html` in its public part).

A self-contained page for a trust CEO or an LA officer: no script, no network, charts as inline SVG. It is built
only from the public extracts (the `.csv` files and their `.meta.csv`), so it can never show more than they do: a
suppressed cell is shown as `c` and left out of every chart, with a count of what was left out. What each figure
means comes from the indicator catalogue (indicators/catalogue.yaml).

Sections: headline national figures with their trends; the belonging gaps for pupils with SEND and pupils on free
school meals, with their confidence intervals; belonging against inclusion across schools and across trusts;
per-LA and per-trust tables; what each figure means. The same extracts give the same bytes.
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from indicators import catalogue
from publication.charts import ci_chart, line_chart, scatter_chart

REPORT_NAME = "report.html"
TERMS = {"Autumn term": 1, "Spring term": 2, "Summer term": 3, "Academic year": 0}
SYMBOL_MEANING = {
    "c": "suppressed to protect confidentiality (fewer than 10 respondents, fewer than 3 schools, or a cell "
         "that would reveal one)",
    "x": "not available (the source does not publish it for this year or place)",
    "z": "not applicable (for example a gap where a group is absent, or a rate with no roll)",
    "low": "a rounded value below the smallest shown",
    "u": "low reliability",
}  # fmt: skip
NO_ROW = "no figure in the extracts for this place and year (not surveyed, or not published for it)"
SOURCES = {"admin": "admin_indicators", "pupil_belonging": "pupil_belonging", "staff_belonging": "staff_belonging"}
LEVEL_SLUG = {"National": "national", "Regional": "regional", "Local authority": "la", "MAT": "mat",
              "School": "school"}  # fmt: skip

# The figures the report leads with: (source, published column). Missing columns are skipped.
HEADLINES = (
    ("pupil_belonging", "belonging_score_mean"),
    ("pupil_belonging", "belonging_positive_percent"),
    ("staff_belonging", "staff_belonging_score_mean"),
    ("admin", "suspension_rate"),
    ("admin", "persistent_absence_percent"),
    ("admin", "special_needs_support_percent"),
    ("admin", "ehc_plan_percent"),
    ("admin", "fsm_percent"),
    ("admin", "roll_stability_y10_y11_percent"),
)
GAPS = (("belonging_gap_special_needs_points", "pupils with SEND"),
        ("belonging_gap_free_meals_points", "pupils on free school meals"))  # fmt: skip
NAME_HEADINGS = {"la_name": "Local authority", "trust_name": "Trust", "region_name": "Region"}
INCLUSION = ("suspension_rate", "special_needs_representation_ratio", "roll_stability_y10_y11_percent",
             "persistent_absence_percent")
TABLE_COLUMNS = (
    ("pupil_belonging", "respondents"),
    ("pupil_belonging", "belonging_score_mean"),
    ("pupil_belonging", "belonging_positive_percent"),
    ("pupil_belonging", "belonging_gap_special_needs_points"),
    ("staff_belonging", "staff_belonging_score_mean"),
    ("admin", "pupils_headcount"),
    ("admin", "suspension_rate"),
    ("admin", "persistent_absence_percent"),
    ("admin", "special_needs_support_percent"),
    ("admin", "ehc_plan_percent"),
    ("admin", "roll_stability_y10_y11_percent"),
)


@dataclass(frozen=True)
class Extract:
    """One public extract: its rows as published text, and its `.meta.csv` labels."""

    source: str
    level: str
    rows: pl.DataFrame  # every column as the published text
    labels: dict[str, str]

    def has(self, column: str) -> bool:
        return column in self.rows.columns

    def totals(self) -> pl.DataFrame:
        """The rows of the whole group (survey extracts split by `breakdown`; `Total` is the whole)."""
        if "breakdown" not in self.rows.columns:
            return self.rows
        return self.rows.filter((pl.col("breakdown") == "Total") & (pl.col("breakdown_value") == "Total"))


def _period_key(time_period: str, time_identifier: str) -> tuple[int, int]:
    return int(time_period), TERMS.get(time_identifier, 0)


def period_label(time_period: str, time_identifier: str) -> str:
    """`202425` + `Autumn term` -> `2024/25 autumn`; an academic year -> `2024/25`."""
    year = f"{time_period[:4]}/{time_period[4:]}" if len(time_period) == 6 else time_period
    term = time_identifier.split()[0].lower() if time_identifier in TERMS and TERMS[time_identifier] else ""
    return f"{year} {term}".strip()


def number(text: str | None) -> float | None:
    """A published cell as a number; None for a symbol or a blank."""
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def read_extracts(extracts_dir: Path) -> dict[tuple[str, str], Extract]:
    """Every extract of the folder, by (source, level), read as text exactly as published."""
    out: dict[tuple[str, str], Extract] = {}
    for source, prefix in SOURCES.items():
        for level, slug in LEVEL_SLUG.items():
            path = extracts_dir / f"{prefix}_{slug}.csv"
            if not path.is_file():
                continue
            rows = _with_flags(pl.read_csv(path, infer_schema=False, encoding="utf8"), path.with_suffix(".parquet"))
            meta_path = path.with_name(f"{prefix}_{slug}.meta.csv")
            labels = {}
            if meta_path.is_file():
                meta = pl.read_csv(meta_path, infer_schema=False)
                labels = dict(zip(meta["col_name"], meta["label"], strict=True))
            out[(source, level)] = Extract(source, level, rows, labels)
    return out


FLAG = "__low_reliability"


def _with_flags(rows: pl.DataFrame, parquet: Path) -> pl.DataFrame:
    """The CSV rows with `<column>__low_reliability` beside each figure the typed extract (the same rows, with a
    `<column>_status` per figure) marks low reliability: a value shown but not to be ranked (a school that
    opened, closed, merged or changed age range within a roll-stability window)."""
    if not parquet.is_file():
        return rows
    statuses = pl.read_parquet(parquet, columns=None)
    flagged = [c for c in statuses.columns if c.endswith("_status")
               and (statuses[c] == "low_reliability").any() and c.removesuffix("_status") in rows.columns]  # fmt: skip
    if not flagged or statuses.height != rows.height:
        return rows
    return rows.with_columns(
        (statuses[c] == "low_reliability").alias(c.removesuffix("_status") + FLAG) for c in flagged)


def _entry(source: str, column: str):
    """The catalogue entry whose published name is `column` (None when the catalogue has no such name)."""
    for e in catalogue().expanded():
        if e.source == source and e.published.name == column:
            return e
    return None


def _label(extracts: dict, source: str, column: str) -> str:
    for (s, _), x in extracts.items():
        if s == source and column in x.labels:
            return x.labels[column]
    entry = _entry(source, column)
    return entry.published.label if entry else column


def _esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def _series(extract: Extract, column: str, where: pl.Expr | None = None) -> list[tuple[str, str]]:
    """(period label, published text) of a column over time, in time order (the extract's Total rows)."""
    rows = extract.totals()
    if where is not None:
        rows = rows.filter(where)
    keyed = sorted(
        (_period_key(r["time_period"], r["time_identifier"]), period_label(r["time_period"], r["time_identifier"]),
         r[column])
        for r in rows.select("time_period", "time_identifier", column).iter_rows(named=True)
    )  # fmt: skip
    return [(label, value) for _, label, value in keyed]


def _cell(text: str | None, numeric: bool = True) -> str:
    """A table cell: numbers right-aligned, symbols marked with their meaning as a tooltip."""
    if text is None or text == "":
        return f'<td class="sym" title="{_esc(NO_ROW)}">&ndash;</td>'
    if text in SYMBOL_MEANING:
        return f'<td class="sym" title="{_esc(SYMBOL_MEANING[text])}">{_esc(text)}</td>'
    return f'<td class="num">{_esc(text)}</td>' if numeric else f"<td>{_esc(text)}</td>"


def _headlines(extracts: dict) -> str:
    cards = []
    for source, column in HEADLINES:
        x = extracts.get((source, "National"))
        if x is None or not x.has(column):
            continue
        series = _series(x, column)
        if not series:
            continue
        period, value = series[-1]
        previous = next((v for _, v in reversed(series[:-1]) if number(v) is not None), None)
        change = ""
        if number(value) is not None and previous is not None:
            delta = number(value) - number(previous)
            dp = len(value.split(".")[1]) if "." in value else 0
            change = f'<div class="change">{delta:+.{dp}f} since {series[-2][0]}</div>' if len(series) > 1 else ""
        label = _label(extracts, source, column)
        spark = line_chart([(label, [(p, number(v)) for p, v in series])], width=220, height=60, spark=True,
                           title=f"{label}, England, by period")  # fmt: skip
        cards.append(
            f'<div class="card"><div class="label">{_esc(label)}</div>'
            f'<div class="value">{_esc(value)}</div><div class="period">England, {_esc(period)}</div>'
            f"{change}{spark}</div>"
        )
    if not cards:
        return ""
    return '<section id="headlines"><h2>Headline figures for England</h2><div class="cards">' + "".join(cards) + \
        "</div></section>"  # fmt: skip


def _trends(extracts: dict) -> str:
    charts = []
    for source, column in HEADLINES:
        national = extracts.get((source, "National"))
        if national is None or not national.has(column):
            continue
        label = _label(extracts, source, column)
        series = [("England", [(p, number(v)) for p, v in _series(national, column)])]
        regional = extracts.get((source, "Regional"))
        if regional is not None and regional.has(column):
            for region in sorted(set(regional.totals()["region_name"].to_list())):
                series.append((region, [(p, number(v)) for p, v in
                                        _series(regional, column, pl.col("region_name") == region)]))
        charts.append(f"<figure>{line_chart(series, title=label)}<figcaption>{_esc(label)}: England (bold) and "
                      f"each region.</figcaption></figure>")
    if not charts:
        return ""
    return '<section id="trends"><h2>Trends</h2><div class="grid">' + "".join(charts) + "</div></section>"


def _gaps(extracts: dict) -> str:
    national = extracts.get(("pupil_belonging", "National"))
    if national is None:
        return ""
    parts = []
    for column, group in GAPS:
        if not national.has(column):
            continue
        label = _label(extracts, "pupil_belonging", column)
        rows = [(p, number(v), number(lo), number(hi), v) for (p, v), (_, lo), (_, hi) in zip(
            _series(national, column), _series(national, f"{column}_ci_lower"),
            _series(national, f"{column}_ci_upper"), strict=True)]  # fmt: skip
        figure = ci_chart(rows, title=f"{label}, England", zero=True)
        regional = extracts.get(("pupil_belonging", "Regional"))
        region_figure = ""
        if regional is not None and regional.has(column):
            latest = _latest_period(regional.totals())
            if latest is not None:
                rr = regional.totals().filter((pl.col("time_period") == latest[0]) &
                                              (pl.col("time_identifier") == latest[1])).sort("region_name")
                rrows = [(r["region_name"], number(r[column]), number(r[f"{column}_ci_lower"]),
                          number(r[f"{column}_ci_upper"]), r[column]) for r in rr.iter_rows(named=True)]
                region_figure = (f"<figure>{ci_chart(rrows, title=f'{label}, by region, {period_label(*latest)}', zero=True)}"
                                 f"<figcaption>By region, {_esc(period_label(*latest))}.</figcaption></figure>")  # fmt: skip
        parts.append(
            f"<h3>Belonging gap for {_esc(group)}</h3><p>{_esc(_definition('pupil_belonging', column))}</p>"
            f'<div class="grid"><figure>{figure}<figcaption>England, each survey wave. The bar is the 95% '
            f"confidence interval; a gap whose interval crosses zero may be chance.</figcaption></figure>"
            f"{region_figure}</div>"
        )
    if not parts:
        return ""
    return '<section id="gaps"><h2>Who feels they belong less</h2>' + "".join(parts) + "</section>"


# ------------------------------------------------------------------------ disproportionality (issue 15)
RISK_RATIO = "one_plus_suspension_risk_ratio"
GROUP_PERCENT = "group_one_plus_suspension_percent"
# the pupil groups the section names, with the group each is compared with (the catalogue's `comparison`)
GROUP_WORDS = {"sen_status": "special educational needs", "fsm_status": "free school meals",
               "ethnicity_major": "ethnicity", "sex": "sex"}  # fmt: skip


def _comparison_words(breakdown: str) -> str:
    versus = dict(catalogue().get(RISK_RATIO).comparison).get(breakdown, "")
    if versus == "rest":
        return "all other pupils"
    return f"pupils with {versus[0].lower()}{versus[1:]}" if breakdown == "sen_status" else f"{versus} pupils"


def _disproportionality(extracts: dict) -> str:
    """Who is suspended out of proportion, in England, in the latest year: each pupil group's risk ratio (how many
    times as likely its pupils are to be suspended at least once as the pupils they are compared with) with its
    95% CI, and the percentages behind it; by region, the same for the group with the largest national ratio."""
    national = extracts.get(("admin", "National"))
    if national is None or not national.has(RISK_RATIO) or "breakdown" not in national.rows.columns:
        return ""
    rows = national.rows.filter(pl.col("breakdown") != "Total")
    shown = rows.filter(pl.col(RISK_RATIO).cast(pl.Float64, strict=False).is_not_null())
    latest = _latest_period(shown)
    if latest is None:
        return ""
    year = rows.filter(pl.col("time_period") == latest[0])
    total = national.totals().filter(pl.col("time_period") == latest[0])
    everyone = total[GROUP_PERCENT][0] if total.height and national.has(GROUP_PERCENT) else None
    table, chart_rows, bounds = [], [], {}
    for breakdown, words in GROUP_WORDS.items():
        for r in year.filter(pl.col("breakdown") == breakdown).sort("breakdown_value").iter_rows(named=True):
            rr, lo, hi = r[RISK_RATIO], r[f"{RISK_RATIO}_ci_lower"], r[f"{RISK_RATIO}_ci_upper"]
            if breakdown in dict(catalogue().get(RISK_RATIO).comparison) and rr != "z":
                chart_rows.append((r["breakdown_value"], number(rr), number(lo), number(hi), rr))
                bounds[r["breakdown_value"]] = (lo, hi)
            compared = dict(catalogue().get(RISK_RATIO).comparison)
            versus = _comparison_words(breakdown) if compared.get(breakdown) not in (None, r["breakdown_value"]) else ""
            table.append(f"<tr><td>{_esc(words)}</td><td>{_esc(r['breakdown_value'])}</td>"
                         f"{_cell(r.get(GROUP_PERCENT))}{_cell(rr)}{_cell(lo)}{_cell(hi)}"
                         f"<td>{_esc(versus)}</td></tr>")  # fmt: skip
    if not table:
        return ""
    worst = max((c for c in chart_rows if c[1] is not None), key=lambda c: c[1], default=None)
    lead = ""
    if worst is not None:
        lead = (f"<p>In England in {_esc(period_label(*latest))}, pupils in the group <b>{_esc(worst[0])}</b> were "
                f"<b>{_esc(worst[4])} times</b> as likely to be suspended at least once as the pupils they are "
                f"compared with (95% confidence interval {_esc(bounds[worst[0]][0])} to "
                f"{_esc(bounds[worst[0]][1])}).</p>")
    figure = ci_chart(chart_rows, title=f"Risk ratio of one or more suspensions, England, {period_label(*latest)}")
    return (
        '<section id="disproportionality"><h2>Who is suspended out of proportion</h2>'
        "<p>How many times as likely a pupil of each group is to be suspended at least once in the year, compared "
        "with similar pupils outside the group: pupils with an EHC plan or on SEN support against pupils with no "
        "SEN, pupils eligible for free school meals against those who are not, and each ethnic group against all "
        "other pupils. A risk ratio of 1 means no difference; 2 means twice as likely. It counts pupils, not "
        "suspensions, so a few pupils suspended many times do not inflate it. The figures are the DfE's own "
        "for England, each region and each local authority (the extracts hold all three)."
        + (f" Across all pupils, {_esc(everyone)}% were suspended at least once." if everyone else "")
        + "</p>" + lead
        + f'<div class="grid"><figure>{figure}<figcaption>Each bar is the 95% confidence interval (on the log '
        "scale, Katz): where it does not cross 1, the difference is unlikely to be chance.</figcaption></figure>"
        '<div class="scroll"><table><thead><tr><th>Characteristic</th><th>Group</th>'
        "<th>Pupils suspended at least once (%)</th><th>Risk ratio</th><th>95% CI lower</th><th>95% CI upper</th>"
        "<th>Compared with</th></tr></thead><tbody>" + "".join(table) + "</tbody></table></div></div></section>"
    )


def _latest_period(rows: pl.DataFrame) -> tuple[str, str] | None:
    periods = {(r[0], r[1]) for r in rows.select("time_period", "time_identifier").iter_rows()}
    return max(periods, key=lambda p: _period_key(*p)) if periods else None


def _latest_wave_per_year(rows: pl.DataFrame) -> pl.DataFrame:
    """Each place's latest survey wave of each academic year (a year can hold several terms' waves)."""
    order = pl.col("time_identifier").replace_strict(TERMS, default=0, return_dtype=pl.Int8)
    return rows.with_columns(_term=order).sort("_term").group_by(
        [c for c in rows.columns if c in ("time_period", "school_urn", "trust_id", "new_la_code", "region_code")],
        maintain_order=True).last().drop("_term")  # fmt: skip


def _joined(extracts: dict, level: str, key: str) -> tuple[pl.DataFrame, str] | None:
    """The survey Total rows of a level beside the admin rows of the same place and academic year: the latest
    year both cover. Returns the joined rows and the year."""
    survey = extracts.get(("pupil_belonging", level))
    admin = extracts.get(("admin", level))
    if survey is None or admin is None:
        return None
    s = _latest_wave_per_year(survey.totals())
    rows = admin.totals()  # all pupils: not the DfE's rows by pupil group
    both = sorted(set(s["time_period"]) & set(rows["time_period"]))
    if not both:
        return None
    year = both[-1]
    cols = [c for c in rows.columns if c not in s.columns or c == key] + ["time_period"]
    joined = s.filter(pl.col("time_period") == year).join(
        rows.filter(pl.col("time_period") == year).select(list(dict.fromkeys(cols))), on=[key, "time_period"],
        how="inner")  # fmt: skip
    return joined, year


def _scatter_section(extracts: dict, level: str, key: str, name_col: str, noun: str) -> str:
    found = _joined(extracts, level, key)
    if found is None:
        return ""
    rows, year = found
    year_label = period_label(year, "Academic year")
    figures = []
    y_col = "belonging_score_mean"
    for x_col in INCLUSION:
        if x_col not in rows.columns or y_col not in rows.columns:
            continue
        points, left_out, flagged = [], 0, 0
        flag = pl.col(x_col + FLAG) if x_col + FLAG in rows.columns else pl.lit(False)
        for r in rows.select(name_col, x_col, y_col, flag.alias("flag")).sort(name_col).iter_rows():
            x, y = number(r[1]), number(r[2])
            if r[3] and x is not None and y is not None:
                flagged += 1
            elif x is None or y is None:
                left_out += 1
            else:
                points.append((x, y, r[0]))
        x_label = _label(extracts, "admin", x_col)
        y_label = _label(extracts, "pupil_belonging", y_col)
        r_text = _correlation(points)
        figures.append(
            f"<figure>{scatter_chart(points, x_label=x_label, y_label=y_label, title=f'{y_label} against {x_label}, {noun}, {year_label}')}"
            f"<figcaption>Each dot is one {noun[:-1] if noun.endswith('s') else noun} ({len(points)} shown; "
            f"{left_out} not shown because a figure is suppressed, not available or not applicable"
            + (f"; {flagged} flagged as low reliability, shown in the extracts but not compared here" if flagged
               else "") + f"). {r_text}</figcaption></figure>"
        )  # fmt: skip
    if not figures:
        return ""
    return f'<h3>Across {_esc(noun)}, {_esc(year_label)}</h3><div class="grid">' + "".join(figures) + "</div>"


def _correlation(points: list[tuple[float, float, str]]) -> str:
    """Pearson's r of the plotted points, in words; a signal to look into, not a verdict."""
    n = len(points)
    if n < 3:
        return "Too few to describe a relationship."
    mx = sum(p[0] for p in points) / n
    my = sum(p[1] for p in points) / n
    sxx = sum((p[0] - mx) ** 2 for p in points)
    syy = sum((p[1] - my) ** 2 for p in points)
    if sxx == 0 or syy == 0:
        return "No spread to describe a relationship."
    r = sum((p[0] - mx) * (p[1] - my) for p in points) / math.sqrt(sxx * syy)
    strength = "little or no" if abs(r) < 0.1 else "a weak" if abs(r) < 0.3 else "a moderate" if abs(r) < 0.5 \
        else "a strong"  # fmt: skip
    direction = "" if abs(r) < 0.1 else (" positive" if r > 0 else " negative")
    return f"Correlation r = {r:.2f}: {strength}{direction} association. It describes, it does not explain."


def _inclusion(extracts: dict) -> str:
    parts = [_scatter_section(extracts, "School", "school_urn", "school_name", "schools"),
             _scatter_section(extracts, "MAT", "trust_id", "trust_name", "trusts")]  # fmt: skip
    body = "".join(p for p in parts if p)
    if not body:
        return ""
    return (
        '<section id="inclusion"><h2>Belonging and inclusion</h2><p>Do schools and trusts where pupils feel they '
        "belong also include every child? Each chart sets the mean belonging score against one inclusion measure "
        "of the same academic year. A school far from the others is a question to ask, not a finding. Roll "
        "stability in particular is a signal, not a verdict: moves between schools, emigration and a school's "
        "own reorganisation all show in it, and schools that opened, closed, merged or changed age range in the "
        "window are not shown.</p>"
        f"{body}</section>"
    )


def _table(extracts: dict, level: str, key: str, name_cols: tuple[str, ...], heading: str, anchor: str) -> str:
    """The latest year of each place: survey figures (the year's latest wave) beside the DfE figures."""
    frames = {}
    for source, _ in TABLE_COLUMNS:
        x = extracts.get((source, level))
        if x is not None and source not in frames:
            frames[source] = _latest_wave_per_year(x.totals()) if "breakdown" in x.rows.columns else x.rows
    if not frames:
        return ""
    years = sorted(set().union(*(set(f["time_period"]) for f in frames.values())))
    year = next((y for y in reversed(years) if "pupil_belonging" not in frames
                 or y in set(frames["pupil_belonging"]["time_period"])), years[-1])  # fmt: skip
    columns = [(s, c) for s, c in TABLE_COLUMNS if s in frames and c in frames[s].columns]
    places: dict[str, dict] = {}
    for source, frame in frames.items():
        for r in frame.filter(pl.col("time_period") == year).iter_rows(named=True):
            place = places.setdefault(r[key], {n: r.get(n) for n in name_cols})
            for s, c in columns:
                if s == source:
                    place[(s, c)] = r[c]
    head = "".join(f"<th>{_esc(NAME_HEADINGS.get(n, n))}</th>" for n in name_cols) + "".join(
        f'<th title="{_esc(_definition(s, c))}">{_esc(_label(extracts, s, c))}</th>' for s, c in columns)
    body = []
    for k in sorted(places, key=lambda k: (str(places[k].get(name_cols[-1]) or ""), k)):
        p = places[k]
        body.append("<tr>" + "".join(_cell(p.get(n), numeric=False) for n in name_cols)
                    + "".join(_cell(p.get((s, c))) for s, c in columns) + "</tr>")  # fmt: skip
    return (
        f'<section id="{anchor}"><h2>{_esc(heading)}, {_esc(period_label(year, "Academic year"))}</h2>'
        f"<p>{len(places)} rows. Survey figures are from the latest wave of the year; DfE figures from the same "
        f"academic year (&ndash; where the extracts hold no figure for that place and year). Hover a heading for its definition, a symbol "
        f'for its meaning.</p><div class="scroll"><table><thead><tr>{head}</tr></thead><tbody>'
        + "".join(body) + "</tbody></table></div></section>"
    )  # fmt: skip


def _definition(source: str, column: str) -> str:
    base = column.removesuffix("_ci_lower").removesuffix("_ci_upper")
    entry = _entry(source, base)
    return entry.definition if entry else ""


def _definitions(extracts: dict) -> str:
    rows, seen = [], set()
    for (source, _), x in sorted(extracts.items(), key=lambda kv: (kv[0][0], kv[0][1])):
        for column in x.rows.columns:
            entry = _entry(source, column)
            if entry is None or (source, column) in seen:
                continue
            seen.add((source, column))
            how = {"sum": "added up", "ratio_of_sums": "ratio of sums (numerators and denominators added up)",
                   "published": "the DfE's own figure for the place and pupil group",
                   "pooled_mean": "mean pooled over respondents",
                   "difference_of_pooled_means": "difference of means pooled over respondents"}.get(
                       entry.rollup, entry.rollup)  # fmt: skip
            rows.append(
                f"<tr><td><code>{_esc(column)}</code></td><td>{_esc(_label(extracts, source, column))}</td>"
                f"<td>{_esc(entry.definition)}</td><td>{_esc(_source_words(entry.source))}</td>"
                f"<td>{_esc(how)}</td></tr>"
            )
    symbols = "".join(f"<tr><td><code>{_esc(s)}</code></td><td>{_esc(m)}</td></tr>" for s, m in SYMBOL_MEANING.items())
    return (
        '<section id="definitions"><h2>What the figures mean</h2>'
        "<p>Every figure is defined once, in the project's indicator catalogue. Figures for trusts, local "
        "authorities, regions and England are made from the schools' own numerators and denominators (ratios of "
        "sums), never by averaging school percentages.</p>"
        '<div class="scroll full"><table><thead><tr><th>Column</th><th>Label</th><th>Definition</th><th>Source</th>'
        "<th>Above school level</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table></div>"
        "<h3>Symbols</h3><table><tbody>" + symbols + "</tbody></table></section>"
    )


def _source_words(source: str) -> str:
    return {"admin": "DfE published statistics (census, SEN, absence, exclusions)",
            "pupil_belonging": "pupil sense-of-belonging survey (PISA items)",
            "staff_belonging": "staff belonging survey"}.get(source, source)  # fmt: skip


STYLE = """
body{font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1b1b1b;margin:0;background:#f7f7f5}
header{background:#0b3d59;color:#fff;padding:24px 32px}header h1{margin:0 0 4px;font-size:26px}
header p{margin:0;opacity:.9}nav{background:#e8eef2;padding:8px 32px}nav a{margin-right:18px;color:#0b3d59}
main{max-width:1200px;margin:0 auto;padding:8px 32px 48px}section{margin-top:28px}
h2{border-bottom:2px solid #0b3d59;padding-bottom:4px}h3{margin-bottom:4px}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(240px,1fr));gap:12px}
.card{background:#fff;border:1px solid #d9dee2;border-radius:6px;padding:12px}
.card .label{font-size:13px;color:#444;min-height:38px}.card .value{font-size:30px;font-weight:700}
.card .period,.card .change{font-size:12px;color:#555}
.grid{display:grid;align-items:start;grid-template-columns:repeat(auto-fill,minmax(520px,1fr));gap:16px}
figure{background:#fff;border:1px solid #d9dee2;border-radius:6px;margin:0;padding:8px}
figcaption{font-size:13px;color:#444;padding:4px}svg{max-width:100%;height:auto}
.scroll{overflow-x:auto;max-height:640px;overflow-y:auto;background:#fff;border:1px solid #d9dee2}
.scroll.full{max-height:none}
table{border-collapse:collapse;font-size:13px;width:100%}th,td{padding:4px 8px;border-bottom:1px solid #eee}
th{background:#eef2f5;position:sticky;top:0;text-align:left;font-weight:600}td.num{text-align:right;
font-variant-numeric:tabular-nums}td.sym{text-align:right;color:#8a5a00;background:#fff8e6}
.note{background:#fff;border-left:4px solid #0b3d59;padding:8px 12px}footer{color:#555;font-size:12px;
padding:24px 32px}
"""


def _attendance(extracts_dir: Path) -> str:
    """Attendance this year (issue 15): the DfE's provisional in-year overall absence for England week by week, by
    phase (an inline SVG line chart), and the year to date beside the latest annual absence figures."""
    weekly_path = extracts_dir / "attendance_weekly_national.csv"
    ytd_path = extracts_dir / "attendance_year_to_date_national.csv"
    if not weekly_path.is_file() and not ytd_path.is_file():
        return ""
    figure = "in_year_overall_absence_percent"
    parts = ['<section id="attendance"><h2>Attendance this year <small>(provisional)</small></h2>'
             '<p class="note"><strong>Provisional in-year data</strong> from schools\' daily registers (the DfE\'s '
             '"Pupil attendance in schools"), revised as the year goes on: the annual absence figures above are '
             "final. Local authority and regional figures are in the <code>attendance_weekly_*</code> and "
             "<code>attendance_year_to_date_*</code> extracts.</p>"]  # fmt: skip
    if weekly_path.is_file():
        rows = pl.read_csv(weekly_path, infer_schema=False)
        week = pl.col("time_identifier").str.extract(r"(\d+)$").cast(pl.Int32)
        rows = rows.with_columns(week.alias("_week")).sort(pl.col("time_period").cast(pl.Int32), "_week")
        periods = [f"{w} ({y})" for y, w in dict.fromkeys(rows.select("time_period", "time_identifier").iter_rows())]
        series = []
        for phase in ("Total", "Primary", "Secondary", "Special"):
            mine = rows.filter(pl.col("breakdown_value") == phase)
            if mine.height:
                points = [(f"{w} ({y})", number(v))
                          for y, w, v in mine.select("time_period", "time_identifier", figure).iter_rows()]
                series.append(("All phases" if phase == "Total" else phase, points))
        if series and periods:
            title = "Overall absence by week, England, provisional (%)"
            parts.append(f"<figure>{line_chart(series, title=title)}<figcaption>{_esc(title)}: all phases (bold) and "
                         "each phase; a week the DfE did not publish (half term) is left out.</figcaption></figure>")
    if ytd_path.is_file():
        ytd = pl.read_csv(ytd_path, infer_schema=False).filter(pl.col("breakdown_value") == "Total")
        for r in ytd.iter_rows(named=True):
            parts.append(f"<p>Year to date {_esc(period_label(r['time_period'], r['time_identifier']))}, England, all "
                         f"phases (provisional): overall absence {_esc(r.get(figure))}%, persistent absence "
                         f"{_esc(r.get('in_year_persistent_absence_percent', 'x'))}%.</p>")
    annual_path = extracts_dir / "admin_indicators_national.csv"
    if annual_path.is_file():
        annual = pl.read_csv(annual_path, infer_schema=False)
        if {"overall_absence_percent", "persistent_absence_percent"} <= set(annual.columns) and annual.height:
            last = annual.sort("time_period").row(-1, named=True)
            when = period_label(last["time_period"], last["time_identifier"])
            parts.append(f"<p>Beside it, the latest annual (final) figures, {_esc(when)}: overall absence "
                         f"{_esc(last['overall_absence_percent'])}%, persistent absence "
                         f"{_esc(last['persistent_absence_percent'])}%.</p>")
    return "".join(parts) + "</section>"


def render_report(extracts_dir: Path, release_id: str, created: str | None = None) -> str:
    """The report page of the extracts in `extracts_dir` (the public extracts of one release)."""
    extracts = read_extracts(extracts_dir)
    levels = sorted({lvl for _, lvl in extracts}, key=list(LEVEL_SLUG).index)
    sections = [
        _headlines(extracts),
        _trends(extracts),
        _attendance(Path(extracts_dir)),
        _gaps(extracts),
        _disproportionality(extracts),
        _inclusion(extracts),
        _table(extracts, "Local authority", "new_la_code", ("la_name",), "Local authorities", "las"),
        _table(extracts, "MAT", "trust_id", ("trust_name",), "Trusts", "trusts"),
        _definitions(extracts),
    ]
    nav = "".join(f'<a href="#{a}">{t}</a>' for a, t in (
        ("headlines", "Headlines"), ("trends", "Trends"), ("attendance", "Attendance this year"), ("gaps", "Gaps"),
        ("disproportionality", "Who is suspended"), ("inclusion", "Belonging and inclusion"),
        ("las", "Local authorities"), ("trusts", "Trusts"), ("definitions", "Definitions")))  # fmt: skip
    when = f", published {_esc(created)}" if created else ""
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>Belonging and inclusion in schools: release {_esc(release_id)}</title><style>{STYLE}</style>"
        f"</head><body><header><h1>Belonging and inclusion in schools</h1><p>Release {_esc(release_id)}{when}. "
        f"Levels: {_esc(', '.join(levels))}.</p></header><nav>{nav}</nav><main>"
        '<p class="note">Built only from this release\'s public extracts: every figure here is in them, and a '
        "figure suppressed there (<code>c</code>) is suppressed here too. Survey figures are what pupils and "
        "staff said; DfE figures are the Department for Education's published statistics.</p>"
        + "".join(s for s in sections if s)
        + "</main><footer>Charts are drawn in the page (no network). Extracts, their metadata and the data "
        "guidance are beside this report.</footer></body></html>\n"
    )


def write_report(extracts_dir: Path, out: Path, release_id: str, created: str | None = None) -> Path:
    out.write_text(render_report(extracts_dir, release_id, created), encoding="utf-8", newline="\n")
    return out
