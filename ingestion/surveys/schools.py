"""Which school a survey response belongs to, by GIAS: a stale URN follows links to its open successor."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import polars as pl

NOT_IN_GIAS = "school_not_in_gias"
CLOSED_NO_SUCCESSOR = "school_closed_no_successor"


@dataclass(frozen=True)
class _School:
    urn: str
    status: str | None
    open_date: date | None
    close_date: date | None

    def closed_before(self, on_date: date) -> bool:
        if self.close_date is not None:
            return self.close_date < on_date
        return (self.status or "").strip().lower() == "closed"

    def open_on(self, on_date: date) -> bool:
        return not self.closed_before(on_date)


class SchoolRegister:
    """GIAS establishments and links, for resolving the URN a survey export gave."""

    def __init__(self, schools: dict[str, _School], successors: dict[str, list[tuple[date | None, str]]]):
        self._schools = schools
        self._successors = successors

    @classmethod
    def from_frames(cls, establishments: pl.DataFrame, links: pl.DataFrame) -> SchoolRegister:
        """From the lake frames `gias_establishments` and `gias_links` (lake_schema columns).

        Several snapshots of GIAS may be in the lake: each URN's latest snapshot is used.
        """
        schools: dict[str, _School] = {}
        if establishments.height:
            est = establishments
            if "snapshot_date" in est.columns:
                est = est.sort("snapshot_date", nulls_last=False)
            for row in est.select("urn", "establishment_status", "open_date", "close_date").iter_rows():
                urn, status, opened, closed = row
                if urn:
                    schools[str(urn).strip()] = _School(str(urn).strip(), status, opened, closed)
        successors: dict[str, set[tuple[date | None, str]]] = {}
        if links.height:
            for urn, link_urn, link_type, established in links.select(
                "urn", "link_urn", "link_type", "link_established_date"
            ).iter_rows():
                if not urn or not link_urn or not link_type:
                    continue
                kind = link_type.strip().lower()
                # "Successor", "Successor - merged", ...: link_urn succeeds urn;
                # "Predecessor", "Predecessor - amalgamated", ...: urn succeeds link_urn
                if kind.startswith("successor"):
                    old, new = str(urn), str(link_urn)
                elif kind.startswith("predecessor"):
                    old, new = str(link_urn), str(urn)
                else:
                    continue
                successors.setdefault(old.strip(), set()).add((established, new.strip()))
        ordered = {
            k: sorted(v, key=lambda t: (t[0] is None, t[0] or date.min, t[1])) for k, v in successors.items()
        }
        return cls(schools, ordered)

    def __len__(self) -> int:
        return len(self._schools)

    def resolve(self, urn: str, on_date: date) -> tuple[str | None, str | None]:
        """(school_urn, None) for a school open on the date (following successor links from a URN
        closed before it), else (None, reason): `school_not_in_gias` or `school_closed_no_successor`."""
        urn = str(urn).strip()
        school = self._schools.get(urn)
        if school is None:
            return None, NOT_IN_GIAS
        if school.open_on(on_date):
            return urn, None
        # breadth first along successor links; the first open successor wins (earliest link first)
        seen = {urn}
        frontier = [urn]
        while frontier:
            nxt = []
            for current in frontier:
                for _, succ in self._successors.get(current, []):
                    if succ in seen:
                        continue
                    seen.add(succ)
                    s = self._schools.get(succ)
                    if s is not None and s.open_on(on_date):
                        return succ, None
                    nxt.append(succ)
            frontier = nxt
        return None, CLOSED_NO_SUCCESSOR
