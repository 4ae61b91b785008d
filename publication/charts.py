"""Charts as inline SVG for the report: a line chart, a dot-and-interval chart and a scatter plot.

No script and no network: each function returns an `<svg>` element as text, with a `<title>` for screen
readers and a `<title>` on every mark, so hovering a dot names it. Coordinates are rounded to 0.1 px, so the
same data give the same bytes.
"""

from __future__ import annotations

import html
import math

PALETTE = ("#0b3d59", "#d95f02", "#1b9e77", "#7570b3", "#e7298a", "#66a61e", "#e6ab02", "#a6761d", "#666666",
           "#1f78b4", "#b2df8a")  # fmt: skip
FONT = 'font-family="system-ui,sans-serif"'


def _f(v: float) -> str:
    text = f"{v:.1f}"
    return "0.0" if text == "-0.0" else text


def _esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """Round tick values spanning [lo, hi] (1, 2 or 5 times a power of ten apart)."""
    scale = max(abs(lo), abs(hi), 1.0)
    if hi - lo < scale * 1e-6:  # one value (or a spread below float precision): a small band around it
        lo, hi = lo - scale * 1e-3, hi + scale * 1e-3
    raw = (hi - lo) / max(count - 1, 1)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    digits = max(0, 1 - math.floor(math.log10(step)))
    start = math.floor(lo / step) * step
    ticks = [round(start, digits)]
    while ticks[-1] < hi or len(ticks) < 2:
        ticks.append(round(start + step * len(ticks), digits))
    return ticks


def _tick_text(v: float, ticks: list[float]) -> str:
    step = ticks[1] - ticks[0] if len(ticks) > 1 else 1
    dp = max(0, -math.floor(math.log10(step))) if step < 1 else 0
    return f"{v:.{dp}f}"


def _frame(width: int, height: int, title: str, body: str) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" '
            f'height="{height}" role="img" aria-label="{_esc(title)}"><title>{_esc(title)}</title>{body}</svg>')  # fmt: skip


def _y_axis(ticks: list[float], y, left: int, right: int) -> str:
    out = []
    for t in ticks:
        out.append(f'<line x1="{left}" x2="{right}" y1="{_f(y(t))}" y2="{_f(y(t))}" stroke="#e3e3e3"/>'
                   f'<text x="{left - 6}" y="{_f(y(t) + 4)}" text-anchor="end" font-size="11" {FONT} '
                   f'fill="#555">{_tick_text(t, ticks)}</text>')  # fmt: skip
    return "".join(out)


def line_chart(series: list[tuple[str, list[tuple[str, float | None]]]], *, title: str, width: int = 580,
               height: int = 300, spark: bool = False) -> str:
    """Lines over ordered categories (periods). The first series is drawn bold; a missing value breaks its line.
    `spark`: a small chart with no axes or legend."""
    periods: list[str] = []
    for _, points in series:
        for p, _ in points:
            if p not in periods:
                periods.append(p)
    values = [v for _, pts in series for _, v in pts if v is not None]
    if not periods or not values:
        return _frame(width, height, title, f'<text x="8" y="20" font-size="12" {FONT}>no published values</text>')
    if spark:
        left, right, top, bottom = 4, width - 4, 6, height - 6
        lo, hi = min(values), max(values)
        if hi == lo:
            lo, hi = lo - 1, hi + 1
        ticks = []
    else:
        left, right, top, bottom = 48, width - 16 - (170 if len(series) > 1 else 0), 12, height - 36
        ticks = nice_ticks(min(values), max(values))
        lo, hi = ticks[0], ticks[-1]

    def x(i: int) -> float:
        return left + (right - left) * (i + 0.5) / len(periods)

    def y(v: float) -> float:
        return bottom - (bottom - top) * (v - lo) / (hi - lo)

    body = [] if spark else [_y_axis(ticks, y, left, right)]
    if not spark:
        step = max(1, math.ceil(len(periods) / 8))
        body += [f'<text x="{_f(x(i))}" y="{bottom + 16}" text-anchor="middle" font-size="11" {FONT} '
                 f'fill="#555">{_esc(p)}</text>' for i, p in enumerate(periods) if i % step == 0]  # fmt: skip
    for n, (name, points) in reversed(list(enumerate(series))):
        colour = PALETTE[0] if n == 0 else PALETTE[1 + (n - 1) % (len(PALETTE) - 1)]
        stroke = 3 if n == 0 else 1.2
        by_period = dict(points)
        run: list[str] = []
        runs: list[list[str]] = []
        for i, p in enumerate(periods):
            v = by_period.get(p)
            if v is None:
                if run:
                    runs.append(run)
                run = []
                continue
            run.append(f"{_f(x(i))},{_f(y(v))}")
            body.append(f'<circle cx="{_f(x(i))}" cy="{_f(y(v))}" r="{3 if n == 0 else 2}" fill="{colour}">'
                        f"<title>{_esc(name)}, {_esc(p)}: {_esc(_num(v))}</title></circle>")  # fmt: skip
        if run:
            runs.append(run)
        opacity = "1" if n == 0 else "0.7"
        body += [f'<polyline points="{" ".join(r)}" fill="none" stroke="{colour}" stroke-width="{stroke}" '
                 f'stroke-opacity="{opacity}"/>' for r in runs if len(r) > 1]  # fmt: skip
        if not spark and len(series) > 1:
            ly = top + 14 * n + 4
            body.append(f'<line x1="{right + 12}" x2="{right + 28}" y1="{ly}" y2="{ly}" stroke="{colour}" '
                        f'stroke-width="{stroke}"/><text x="{right + 32}" y="{ly + 4}" font-size="11" {FONT}>'
                        f"{_esc(name)}</text>")  # fmt: skip
    return _frame(width, height, title, "".join(body))


def _num(v: float) -> str:
    return f"{v:g}"


def ci_chart(rows: list[tuple[str, float | None, float | None, float | None, str]], *, title: str,
             width: int = 560, zero: bool = False) -> str:
    """One row per category: a dot at the value and a bar over its 95% confidence interval. A row without a
    value shows its published symbol (`c`, `z`, `x`) instead. `zero`: draw the zero line."""
    row_h = 24
    label_w = 180
    value_w = 130  # the value and its interval, written at the right
    height = 28 + row_h * max(len(rows), 1) + 24
    values = [v for _, val, lo, hi, _ in rows for v in (val, lo, hi) if v is not None]
    if zero:
        values.append(0.0)
    if not values:
        return _frame(width, height, title, f'<text x="8" y="20" font-size="12" {FONT}>no published values</text>')
    ticks = nice_ticks(min(values), max(values))
    lo_t, hi_t = ticks[0], ticks[-1]
    left, right = label_w, width - value_w - 12

    def x(v: float) -> float:
        return left + (right - left) * (v - lo_t) / (hi_t - lo_t)

    body = []
    bottom = 20 + row_h * len(rows)
    for t in ticks:
        body.append(f'<line x1="{_f(x(t))}" x2="{_f(x(t))}" y1="12" y2="{bottom}" stroke="#e3e3e3"/>'
                    f'<text x="{_f(x(t))}" y="{bottom + 16}" text-anchor="middle" font-size="11" {FONT} '
                    f'fill="#555">{_tick_text(t, ticks)}</text>')  # fmt: skip
    if zero and lo_t <= 0 <= hi_t:
        body.append(f'<line x1="{_f(x(0))}" x2="{_f(x(0))}" y1="12" y2="{bottom}" stroke="#333"/>')
    for i, (name, value, lo, hi, text) in enumerate(rows):
        cy = 24 + row_h * i
        body.append(f'<text x="{label_w - 8}" y="{cy + 4}" text-anchor="end" font-size="12" {FONT}>'
                    f"{_esc(name)}</text>")
        if value is None:
            body.append(f'<text x="{left + 4}" y="{cy + 4}" font-size="12" {FONT} fill="#8a5a00">{_esc(text)} '
                        f"(not published)</text>")
            continue
        if lo is not None and hi is not None:
            body.append(f'<line x1="{_f(x(lo))}" x2="{_f(x(hi))}" y1="{cy}" y2="{cy}" stroke="#0b3d59" '
                        f'stroke-width="6" stroke-opacity="0.25"/>')
        interval = f" ({_num(lo)} to {_num(hi)})" if lo is not None and hi is not None else ""
        body.append(f'<text x="{width - value_w}" y="{cy + 4}" font-size="12" {FONT}>{_esc(text)}'
                    f'<tspan fill="#555">{_esc(interval)}</tspan></text>')
        body.append(f'<circle cx="{_f(x(value))}" cy="{cy}" r="5" fill="#0b3d59"><title>{_esc(name)}: {_esc(text)}'
                    f"{_esc(interval)}</title></circle>")  # fmt: skip
    return _frame(width, height, title, "".join(body))


def scatter_chart(points: list[tuple[float, float, str]], *, x_label: str, y_label: str, title: str,
                  width: int = 560, height: int = 380) -> str:
    """A dot per (x, y, name); hovering a dot names it."""
    if not points:
        return _frame(width, height, title, f'<text x="8" y="20" font-size="12" {FONT}>no published values</text>')
    xt = nice_ticks(min(p[0] for p in points), max(p[0] for p in points))
    yt = nice_ticks(min(p[1] for p in points), max(p[1] for p in points))
    left, right, top, bottom = 52, width - 16, 12, height - 48

    def x(v: float) -> float:
        return left + (right - left) * (v - xt[0]) / (xt[-1] - xt[0])

    def y(v: float) -> float:
        return bottom - (bottom - top) * (v - yt[0]) / (yt[-1] - yt[0])

    body = [_y_axis(yt, y, left, right)]
    body += [f'<text x="{_f(x(t))}" y="{bottom + 16}" text-anchor="middle" font-size="11" {FONT} fill="#555">'
             f"{_tick_text(t, xt)}</text>" for t in xt]  # fmt: skip
    body.append(f'<text x="{_f((left + right) / 2)}" y="{height - 8}" text-anchor="middle" font-size="12" {FONT}>'
                f"{_esc(x_label)}</text>")
    body.append(f'<text transform="translate(14 {_f((top + bottom) / 2)}) rotate(-90)" text-anchor="middle" '
                f'font-size="12" {FONT}>{_esc(y_label)}</text>')
    radius = 3 if len(points) < 2000 else 1.5
    body += [f'<circle cx="{_f(x(px))}" cy="{_f(y(py))}" r="{radius}" fill="#0b3d59" fill-opacity="0.55">'
             f"<title>{_esc(name)}: {_num(px)}, {_num(py)}</title></circle>" for px, py, name in points]  # fmt: skip
    return _frame(width, height, title, "".join(body))
