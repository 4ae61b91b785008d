"""The catalogue as a page a person reads: `belonging docs` writes it beside the dbt docs (the same
definitions the dbt docs show as mart_indicators' `meta.indicators`)."""

from __future__ import annotations

from html import escape

from indicators import Catalogue

FAMILY_TITLES = {"admin": "From DfE files", "attendance": "Attendance this year (provisional, DfE in-year)",
                 "pupil_survey": "Pupil survey", "staff_survey": "Staff survey"}


def _range(lo, hi) -> str:
    def show(v, inf):
        return inf if v is None else f"{v:g}"

    return f"{show(lo, '−∞')} to {show(hi, '∞')}"


def catalogue_html(cat: Catalogue) -> str:
    """A self-contained HTML page: one table per family, one row per catalogue entry."""
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'><title>Indicator catalogue</title>",
        "<style>body{font-family:system-ui,sans-serif;margin:2rem;max-width:90rem}table{border-collapse:collapse;"
        "width:100%;margin-bottom:2rem}th,td{border:1px solid #bbb;padding:.3rem .5rem;vertical-align:top;"
        "text-align:left;font-size:.9rem}th{background:#eee}code{font-size:.85rem}</style></head><body>",
        "<h1>Indicator catalogue</h1>",
        f"<p>Every published indicator, from <code>{escape(cat.path.name)}</code>. Aggregates are ratios of sums "
        "over the schools whose inputs were published as numbers, never means of school values. "
        "<code>{item}</code> stands for each item of the survey instrument.</p>",
    ]
    for family, title in FAMILY_TITLES.items():
        entries = cat.of(family=family)
        if not entries:
            continue
        parts.append(f"<h2>{escape(title)}</h2><table><tr><th>indicator</th><th>definition</th><th>formula</th>"
                     "<th>rolls up as</th><th>unit, range, dp</th><th>published as</th><th>disclosure</th>"
                     "<th>breakdowns</th><th>levels</th></tr>")
        for e in entries:
            formula = e.formula
            if e.numerator:
                formula += f": {' + '.join(e.numerator)}" + (f" / {e.denominator}" if e.denominator else "")
                formula += f" × {e.scale:g}" if e.scale != 1 else ""
            parts.append(
                "<tr>"
                f"<td><code>{escape(e.id)}</code><br>{escape(e.source)}</td>"
                f"<td>{escape(e.definition)}</td>"
                f"<td>{escape(formula)}</td>"
                f"<td>{escape(e.rollup.replace('_', ' '))}</td>"
                f"<td>{escape(e.unit.replace('_', ' '))}; {escape(_range(*e.range))}; {e.dp} dp</td>"
                f"<td><code>{escape(e.published.name)}</code><br>{escape(e.published.label)}</td>"
                f"<td>{escape(e.disclosure.replace('_', ' '))}" + (f" ({escape(e.gap_of)})" if e.gap_of else "")
                + "</td>"
                f"<td>{escape(', '.join(e.breakdowns))}</td>"
                f"<td>{escape(', '.join(e.levels))}</td>"
                "</tr>"
            )
        parts.append("</table>")
    parts.append("</body></html>\n")
    return "\n".join(parts)
