"""The validation summary of a release (`public/validation.html`): every gate's result on one page that needs
no network (inline styles, no scripts, no links), rendered from the gate results the release records.

Great Expectations' own Data Docs load Bootstrap and jQuery from CDNs (offline they render unstyled and their
list of validations is empty), so they stay in the run's folder (`runs/<run_id>/data_docs/`) for the engineer
and are not part of a release.
"""

from __future__ import annotations

from functools import cache

import jinja2

TEMPLATES = jinja2.PackageLoader("publication", "templates")


@cache
def _environment() -> jinja2.Environment:
    # HTML templates escape what they show; the Markdown data guidance is text
    autoescape = jinja2.select_autoescape(enabled_extensions=("html.j2",), default_for_string=False)
    return jinja2.Environment(loader=TEMPLATES, autoescape=autoescape, undefined=jinja2.StrictUndefined,
                              keep_trailing_newline=True, trim_blocks=True, lstrip_blocks=True)


def render(template: str, **context) -> str:
    """A template of publication/templates/ rendered with `context` (`.html.j2` escaped; a missing name is an
    error)."""
    return _environment().get_template(template).render(**context)


def warnings_of(gates: list[dict]) -> list[tuple[str, str]]:
    """(gate, finding) for every non-blocking finding a gate recorded (its `[warning]` lines)."""
    return [
        (f"{g['asset']} / {g['name']}", line.strip())
        for g in gates
        for line in str(g.get("failures") or "").splitlines()
        if line.strip().startswith("[warning]")
    ]


def validation_html(release_id: str, gates: list[dict], extracts: list[dict], *, min_respondents: int,
                    min_schools: int) -> str:
    """The page: `gates` as the release's manifest records them (name, asset, passed, message, checks_run,
    failures), `extracts` as its manifest lists them (name, rows, files)."""
    rows = [{"name": e["name"], "rows": e["rows"], "sha256": e["files"].get("csv", {}).get("sha256", "")}
            for e in extracts]  # fmt: skip
    return render(
        "validation.html.j2",
        release_id=release_id,
        gates=sorted(gates, key=lambda g: (g["passed"], g["asset"], g["name"])),
        passed=sum(1 for g in gates if g["passed"]),
        warnings=warnings_of(gates),
        extracts=rows,
        min_respondents=min_respondents,
        min_schools=min_schools,
    )
