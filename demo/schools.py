"""The demo's world: local authorities, trusts and schools, and how they change between academic years.

Everything here is drawn from one numpy Generator, so a seed gives the same world every time. The world is
a set of school *entities* (a school as pupils know it); an entity has one URN per period, a new one when it
converts to an academy. `World.state(year)` gives the establishments open in an academic year with their
trust that year, which the GIAS, DfE and survey writers all share.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import polars as pl

GEOGRAPHY_LOOKUP = Path(__file__).resolve().parents[1] / "dbt_project" / "seeds" / "geography_lookups.csv"

# Academic years (start year) the demo covers and the GIAS snapshot that describes each: taken at the start of
# the year, but for the newest, whose GIAS is "today's" (September 2025, in 2025/26): no snapshot was taken during
# 2024/25, so that year's trusts come from the trust column of its (long) census.
YEARS = (2018, 2022, 2023, 2024)
SNAPSHOTS = {2018: date(2018, 9, 10), 2022: date(2022, 9, 5), 2023: date(2023, 9, 4), 2024: date(2025, 9, 1)}
LEGACY_YEARS = (2018,)  # 2019-era EES files and the 133-column GIAS layout

# ~10 current LAs across every region for the small demo (old code -> GIAS region letter)
SMALL_LAS = ("202", "352", "383", "391", "801", "908", "892", "331", "886", "935")

GIAS_REGION = {  # region code -> (GIAS GOR code, GIAS GOR name)
    "E12000001": ("A", "North East"),
    "E12000002": ("B", "North West"),
    "E12000003": ("D", "Yorkshire and the Humber"),
    "E12000004": ("E", "East Midlands"),
    "E12000005": ("F", "West Midlands"),
    "E12000006": ("G", "East of England"),
    "E12000007": ("H", "London"),
    "E12000008": ("J", "South East"),
    "E12000009": ("K", "South West"),
}
INNER_LONDON = {
    "201",
    "202",
    "203",
    "204",
    "205",
    "206",
    "207",
    "208",
    "209",
    "210",
    "211",
    "212",
    "213",
    "316",
}


def region_for_la(old_code: str) -> str:
    """The region (E12…) of an LA from its 3-digit DfE code (the DfE numbers LAs by region)."""
    c = int(old_code)
    ranges = [
        ((201, 320), "E12000007"),
        ((330, 336), "E12000005"),
        ((340, 359), "E12000002"),
        ((370, 384), "E12000003"),
        ((390, 394), "E12000001"),
        ((420, 420), "E12000009"),
        ((800, 803), "E12000009"),
        ((805, 808), "E12000001"),
        ((810, 816), "E12000003"),
        ((821, 824), "E12000006"),
        ((825, 826), "E12000008"),
        ((830, 831), "E12000004"),
        ((835, 839), "E12000009"),
        ((840, 841), "E12000001"),
        ((845, 852), "E12000008"),
        ((855, 857), "E12000004"),
        ((860, 861), "E12000005"),
        ((865, 866), "E12000009"),
        ((867, 872), "E12000008"),
        ((873, 874), "E12000006"),
        ((876, 877), "E12000002"),
        ((878, 880), "E12000009"),
        ((881, 883), "E12000006"),
        ((884, 885), "E12000005"),
        ((886, 887), "E12000008"),
        ((888, 890), "E12000002"),
        ((891, 892), "E12000004"),
        ((893, 894), "E12000005"),
        ((895, 896), "E12000002"),
        ((908, 908), "E12000009"),
        ((909, 909), "E12000002"),
        ((916, 916), "E12000009"),
        ((919, 919), "E12000006"),
        ((921, 921), "E12000008"),
        ((925, 925), "E12000004"),
        ((926, 926), "E12000006"),
        ((928, 928), "E12000004"),
        ((929, 929), "E12000001"),
        ((931, 931), "E12000008"),
        ((933, 933), "E12000009"),
        ((935, 935), "E12000006"),
        ((936, 936), "E12000008"),
        ((937, 937), "E12000005"),
        ((938, 938), "E12000008"),
        ((940, 941), "E12000004"),
        ((942, 943), "E12000002"),
    ]
    for (lo, hi), region in ranges:
        if lo <= c <= hi:
            return region
    raise ValueError(f"no region known for LA code {old_code}")


def load_lookup(path: Path = GEOGRAPHY_LOOKUP) -> tuple[dict[str, str], list[tuple[str, str, str]]]:
    """(region code -> screener name, [(old LA code, GSS code, LA name)] of current LAs, one per code)."""
    regions: dict[str, str] = {}
    las: dict[str, tuple[str, str, str]] = {}
    with open(path, newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            if row["geographic_level"] == "Regional":
                regions[row["code"]] = row["name"]
            elif (
                row["geographic_level"] == "Local authority"
                and row["old_la_code"].isdigit()
                and re.match(r"^E(0[6-9]|10)", row["code"])
            ):
                las[row["old_la_code"]] = (row["old_la_code"], row["code"], row["name"])
    return regions, [las[k] for k in sorted(las)]


PLACES = [
    "Oakfield",
    "Ashgrove",
    "Brookside",
    "Hillside",
    "Meadowbank",
    "Riverside",
    "Westfield",
    "Northgate",
    "Southfields",
    "Elmwood",
    "Beechwood",
    "Fairfield",
    "Greenacres",
    "Highfield",
    "Kingsway",
    "Lakeside",
    "Millbrook",
    "Newlands",
    "Parkside",
    "Queensbury",
    "Redhill",
    "Stonebridge",
    "Thornhill",
    "Woodlands",
    "Abbeydale",
    "Broadlands",
    "Castlefields",
    "Denby",
    "Eastwood",
    "Foxhill",
    "Glenfield",
    "Hawthorn",
    "Ivybridge",
    "Juniper",
    "Green",
    "Larkrise",
    "Marsh",
    "Lane",
    "Norbury",
    "Orchard",
    "Park",
    "Pinewood",
    "Ravensmead",
    "Sandford",
    "Tolworth",
    "Upton",
    "Valley",
    "Road",
    "Whitegate",
    "Yewtree",
    "Ashby",
    "Bramley",
    "Carlton",
    "Dunmore",
    "Everton",
    "Felling",
    "Grangetown",
    "Heaton",
    "Kirkstall",
    "Longsight",
    "Moss",
    "Side",
    "Netherton",
    "Ollerton",
    "Pelton",
    "Rothwell",
    "Sherburn",
    "Trowell",
    "Walkden",
    "Heworth",
    "Chapel",
    "End",
    "Church",
    "Hill",
    "Mill",
    "Hill",
    "Bishopsgate",
    "Wharfedale",
    "Seacroft",
]
PLACES = [p.replace("_", " ") for p in PLACES]
SAINTS = ("St Mary", "St John", "St Peter", "St Paul", "St Anne", "St Joseph", "St Michael", "St Thomas")
TRUST_WORDS = [
    "Northern Lights",
    "Horizon",
    "Pathfinder",
    "Compass",
    "Evolve",
    "Ascend",
    "Greenwood",
    "Riverbank",
    "Beacon",
    "Unity",
    "Kingfisher",
    "Oak Tree",
    "Endeavour",
    "Lighthouse",
    "Summit",
    "Harmony",
    "Bright Futures",
    "Cornerstone",
    "Keystone",
    "Aspire",
    "Willow",
    "Meridian",
    "Anchor",
    "Spires",
    "Heartwood",
    "Rainbow",
    "Trinity",
    "Elm",
    "Crescent",
    "Vanguard",
]
TRUST_SUFFIX = ("Learning Trust", "Academy Trust", "Multi Academy Trust", "Education Trust", "Schools Trust")
HEAD_FIRST = ("Sarah", "James", "Helen", "David", "Claire", "Mark", "Joanne", "Paul", "Rachel", "Andrew")
HEAD_LAST = (
    "Bennett",
    "Khan",
    "O’Connor",
    "Patel",
    "Hughes",
    "Wright",
    "Okafor",
    "Murphy",
    "Clarke",
    "Singh",
)

PHASES = ("Primary", "Secondary", "Special")


@dataclass
class World:
    scale: str
    regions: dict[str, str]  # region code -> screener name
    las: pl.DataFrame  # la_code, gss_code, la_name, region_code, inner_london
    trusts: pl.DataFrame  # trust_code, trust_name, single (SAT)
    entities: pl.DataFrame  # one row per school entity (constant attributes)
    states: pl.DataFrame  # one row per entity x year: urn, estab, type, trust, open/close
    links: pl.DataFrame  # urn, link_urn, link_type, date (conversions)
    closed: pl.DataFrame  # closed predecessor establishments: urn, entity, close_date, ...

    def state(self, year: int) -> pl.DataFrame:
        """Establishments open at the start of academic year `year` (joined with entity attributes)."""
        return (
            self.states.filter(pl.col("year") == year)
            .join(self.entities, on="entity", how="left")
            .join(self.las, on="la_code", how="left")
            .sort("urn")
        )


def _school_names(rng: np.random.Generator, phase: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Names and religious character for each school (a few carry ’ or – so cp1252 matters)."""
    n = len(phase)
    place = rng.choice(PLACES, n)
    saint = rng.choice(SAINTS, n)
    kind = rng.random(n)
    names = np.empty(n, dtype=object)
    relig = np.full(n, "Does not have a religious character", dtype=object)
    for i in range(n):
        p, k = phase[i], kind[i]
        apos = "’" if i % 7 == 3 else "'"
        if p == "Primary":
            if k < 0.14:
                names[i] = f"{saint[i]}{apos}s CofE Primary School"
                relig[i] = "Church of England"
            elif k < 0.24:
                names[i] = f"{saint[i]}{apos}s Catholic Primary School"
                relig[i] = "Roman Catholic"
            elif k < 0.32:
                names[i] = f"{place[i]} Infant and Nursery School"
            elif k < 0.38:
                names[i] = f"{place[i]} Junior School"
            elif k < 0.45:
                names[i] = f"{place[i]} Community Primary School"
            else:
                names[i] = f"{place[i]} Primary School"
        elif p == "Secondary":
            if k < 0.1:
                names[i] = f"{saint[i]}{apos}s Catholic High School"
                relig[i] = "Roman Catholic"
            elif k < 0.35:
                names[i] = f"{place[i]} Academy"
            elif k < 0.6:
                names[i] = f"{place[i]} High School"
            elif k < 0.66:
                names[i] = f"{place[i]} School – Sixth Form Centre"
            else:
                names[i] = f"{place[i]} School"
        else:
            names[i] = f"{place[i]} Special School" if k < 0.5 else f"{place[i]} School"
    return names, relig


def build_world(scale: str = "small", seed: int = 2026) -> World:
    if scale not in ("small", "national"):
        raise ValueError(f"scale must be 'small' or 'national', not {scale!r}")
    rng = np.random.default_rng(seed)
    regions, all_las = load_lookup()
    if scale == "small":
        las_rows = [r for r in all_las if r[0] in SMALL_LAS]
        n_schools = 300
    else:
        las_rows = all_las
        n_schools = 24_000
    las = pl.DataFrame(
        {
            "la_code": [r[0] for r in las_rows],
            "gss_code": [r[1] for r in las_rows],
            "la_name": [r[2] for r in las_rows],
            "region_code": [region_for_la(r[0]) for r in las_rows],
            "inner_london": [r[0] in INNER_LONDON for r in las_rows],
        }
    )
    n_la = las.height
    # LA size weights and deprivation (FSM) level
    la_weight = rng.gamma(2.0, 1.0, n_la)
    la_weight /= la_weight.sum()
    la_fsm = np.clip(rng.normal(0.22, 0.07, n_la), 0.08, 0.45)
    la_eal = np.clip(rng.beta(1.2, 6, n_la), 0.01, 0.7)
    la_idx = np.sort(rng.choice(n_la, n_schools, p=la_weight))
    if scale == "small":  # every LA has at least a few schools
        la_idx = np.sort(np.concatenate([np.repeat(np.arange(n_la), 8), la_idx[: n_schools - 8 * n_la]]))
    phase = rng.choice(np.array(PHASES), n_schools, p=[0.76, 0.18, 0.06])
    names, relig = _school_names(rng, phase)

    size_mu = {
        "Primary": (290, 120, 60, 700),
        "Secondary": (1050, 350, 300, 2000),
        "Special": (130, 50, 30, 300),
    }
    base_size = np.empty(n_schools)
    for p, (m, s, lo, hi) in size_mu.items():
        sel = phase == p
        base_size[sel] = np.clip(rng.normal(m, s, sel.sum()), lo, hi)
    fsm_share = np.clip(la_fsm[la_idx] + rng.normal(0, 0.08, n_schools), 0.02, 0.75)
    fsm_share[phase == "Special"] = np.clip(fsm_share[phase == "Special"] + 0.15, 0, 0.8)
    eal_share = np.clip(la_eal[la_idx] + rng.normal(0, 0.05, n_schools), 0.0, 0.9)
    sixth = (phase == "Secondary") & (rng.random(n_schools) < 0.55)
    nursery = (phase == "Primary") & (rng.random(n_schools) < 0.4)
    # school climate: a latent belonging effect, lower where more pupils are disadvantaged
    climate = rng.normal(0, 0.3, n_schools) - 0.8 * (fsm_share - 0.22)
    staff_climate = 0.6 * climate + rng.normal(0, 0.25, n_schools)

    la_codes = las["la_code"].to_numpy()
    entities = pl.DataFrame(
        {
            "entity": np.arange(n_schools, dtype=np.int64),
            "la_code": la_codes[la_idx],
            "name": names.astype(str),
            "phase": phase,
            "religious": relig.astype(str),
            "base_size": base_size,
            "fsm_share": fsm_share,
            "eal_share": eal_share,
            "sixth_form": sixth,
            "nursery": nursery,
            "climate": climate,
            "staff_climate": staff_climate,
            "head_first": rng.choice(HEAD_FIRST, n_schools),
            "head_last": rng.choice(HEAD_LAST, n_schools),
            "street": rng.choice(
                ["Church Lane", "School Road", "Mill Street", "Park Avenue", "Station Road"], n_schools
            ),
            "easting": rng.integers(200_000, 650_000, n_schools),
            "northing": rng.integers(50_000, 600_000, n_schools),
        }
    )

    # --- trusts: multi-academy trusts per region, sized 3-25 schools; a few single-academy trusts
    n_mat = max(12, n_schools // 12)
    trust_codes = rng.choice(np.arange(1000, 9999), n_mat + n_schools // 20 + 10, replace=False)
    trust_names = []
    used = set()
    for i in range(n_mat):
        while True:
            w = TRUST_WORDS[int(rng.integers(len(TRUST_WORDS)))]
            s = TRUST_SUFFIX[int(rng.integers(len(TRUST_SUFFIX)))]
            nm = f"{w} {s}" if i < len(TRUST_WORDS) * 2 else f"{w} {s} {i}"
            diocese = f"The Diocese of {PLACES[(i // 11) % len(PLACES)]} Catholic Multi Academy Trust"
            if i % 11 == 5 and diocese not in used:
                nm = diocese
            if nm not in used:
                used.add(nm)
                break
        trust_names.append(nm)
    mat_region = rng.choice(las["region_code"].unique().sort().to_numpy(), n_mat)
    if scale == "small":
        mat_region = np.resize(las["region_code"].unique().sort().to_numpy(), n_mat)
    # Every school: academy in 2018? (type), which trust
    region_of = las["region_code"].to_numpy()[la_idx]
    p_acad = np.select([phase == "Primary", phase == "Secondary"], [0.32, 0.7], 0.35)
    academy_2018 = rng.random(n_schools) < p_acad
    sat = academy_2018 & (rng.random(n_schools) < 0.08)
    trust_of = np.full(n_schools, -1)
    mats_by_region = {r: np.flatnonzero(mat_region == r) for r in np.unique(mat_region)}

    def pick_mat(i: int) -> int:
        cands = mats_by_region.get(region_of[i])
        if cands is None or len(cands) == 0:
            return int(rng.integers(n_mat))
        return int(cands[rng.integers(len(cands))])

    next_sat = n_mat
    sat_names = {}
    la_names = las["la_name"].to_numpy()
    for i in np.flatnonzero(academy_2018):
        if sat[i]:
            trust_of[i] = next_sat
            # trust names are unique, as Companies House keeps them (the census names a trust only by its name)
            nm = f"{names[i].replace(' – Sixth Form Centre', '')} Academy Trust"
            if nm in used:
                nm = f"{nm} ({la_names[la_idx[i]]})"
            while nm in used:
                nm += " 2"
            used.add(nm)
            sat_names[next_sat] = nm
            next_sat += 1
        else:
            trust_of[i] = pick_mat(i)
    all_trust_names = trust_names + [sat_names.get(k, "") for k in range(n_mat, next_sat)]
    trusts = pl.DataFrame(
        {
            "trust_idx": np.arange(next_sat),
            "trust_code": [str(c) for c in trust_codes[:next_sat]],
            "trust_name": all_trust_names,
            "single": [k >= n_mat for k in range(next_sat)],
        }
    )

    # --- conversions (maintained -> academy, new URN) and trust moves, by academic year
    convert_year = np.full(n_schools, 0)
    maintained = np.flatnonzero(~academy_2018)
    r = rng.random(len(maintained))
    convert_year[maintained[r < 0.12]] = 2022  # converted between the 2018 and 2022 snapshots
    convert_year[maintained[(r >= 0.12) & (r < 0.15)]] = 2023
    convert_year[maintained[(r >= 0.15) & (r < 0.18)]] = 2024
    conv_trust = np.array([pick_mat(i) if convert_year[i] else -1 for i in range(n_schools)])
    mover = np.full(n_schools, 0)
    in_mat = np.flatnonzero(academy_2018 & ~sat)
    rm = rng.random(len(in_mat))
    mover[in_mat[rm < 0.025]] = 2023
    mover[in_mat[(rm >= 0.025) & (rm < 0.05)]] = 2024
    move_to = np.array([pick_mat(i) if mover[i] else -1 for i in range(n_schools)])
    for i in np.flatnonzero(mover):  # a move goes to a different trust
        if move_to[i] == trust_of[i]:
            move_to[i] = (trust_of[i] + 1) % n_mat

    # URNs: maintained 1xxxxx, academies open in 2018 13xxxx-14xxxx, later conversions 15xxxx
    urn_2018 = np.empty(n_schools, dtype=np.int64)
    urn_2018[~academy_2018] = 100_000 + np.sort(rng.choice(35_000, (~academy_2018).sum(), replace=False))
    urn_2018[academy_2018] = 136_000 + np.sort(rng.choice(14_000, academy_2018.sum(), replace=False))
    urn_new = 150_000 + rng.choice(60_000, n_schools, replace=False)
    estab_base = np.select([phase == "Primary", phase == "Secondary"], [2000, 4000], 7000)
    estab_2018 = estab_base + rng.choice(1000, n_schools)
    estab_new = estab_base + 1000 + rng.choice(999, n_schools)
    # LAESTAB must be unique within an LA: de-duplicate by bumping
    both = _unique_within(np.concatenate([la_idx, la_idx]), np.concatenate([estab_2018, estab_new]))
    estab_2018, estab_new = both[:n_schools], both[n_schools:]
    open_2018 = rng.choice(
        np.array([date(1975, 4, 1), date(1990, 9, 1), date(2005, 9, 1), date(1974, 4, 1)]), n_schools
    )
    acad_open = rng.choice(
        np.array([date(2012, 9, 1), date(2014, 4, 1), date(2016, 9, 1), date(2017, 9, 1)]), n_schools
    )
    conv_dates = {2022: [date(2019, 9, 1), date(2020, 4, 1), date(2021, 9, 1), date(2022, 4, 1)]}
    conv_date = np.array(
        [
            (conv_dates[2022][int(rng.integers(4))] if cy == 2022 else date(cy, 9, 1) if cy else None)
            for cy in convert_year
        ],
        dtype=object,
    )

    maint_type = rng.choice(
        np.array(
            ["Community school", "Voluntary aided school", "Voluntary controlled school", "Foundation school"]
        ),
        n_schools,
        p=[0.6, 0.18, 0.14, 0.08],
    )
    maint_type[relig == "Roman Catholic"] = "Voluntary aided school"
    maint_type[phase == "Special"] = "Community special school"
    acad_type = np.where(phase == "Special", "Academy special converter", "Academy converter")
    sponsor = academy_2018 & (rng.random(n_schools) < 0.3)
    acad_type_2018 = np.where(
        sponsor, np.where(phase == "Special", "Academy special sponsor led", "Academy sponsor led"), acad_type
    )

    rows = []
    closed_rows = []
    link_rows = []
    for y in YEARS:
        for i in range(n_schools):
            converted = convert_year[i] and convert_year[i] <= y
            if academy_2018[i]:
                urn, estab, typ, opened = urn_2018[i], estab_2018[i], acad_type_2018[i], acad_open[i]
                t = move_to[i] if (mover[i] and mover[i] <= y) else trust_of[i]
                reason_open = "Academy Converter" if "converter" in typ else "Academy Sponsor Led"
            elif converted:
                urn, estab, typ, opened = urn_new[i], estab_new[i], acad_type[i], conv_date[i]
                t = conv_trust[i]
                reason_open = "Academy Converter"
            else:
                urn, estab, typ, opened = urn_2018[i], estab_2018[i], maint_type[i], open_2018[i]
                t = -1
                reason_open = "Not applicable"
            rows.append((i, y, int(urn), int(estab), str(typ), opened, int(t), reason_open))
    for i in np.flatnonzero(convert_year):
        closed_on = date.fromordinal(conv_date[i].toordinal() - 1)
        closed_rows.append(
            (int(i), int(urn_2018[i]), int(estab_2018[i]), str(maint_type[i]), open_2018[i], closed_on)
        )
        link_rows.append((int(urn_2018[i]), int(urn_new[i]), "Successor", conv_date[i], int(i)))
        link_rows.append((int(urn_new[i]), int(urn_2018[i]), "Predecessor", conv_date[i], int(i)))

    states = pl.DataFrame(
        rows,
        schema=["entity", "year", "urn", "estab", "type", "open_date", "trust_idx", "reason_opened"],
        orient="row",
    ).join(trusts, on="trust_idx", how="left")
    closed = pl.DataFrame(
        closed_rows, schema=["entity", "urn", "estab", "type", "open_date", "close_date"], orient="row"
    )
    links = pl.DataFrame(
        link_rows, schema=["urn", "link_urn", "link_type", "link_date", "entity"], orient="row"
    )
    return World(
        scale=scale,
        regions=regions,
        las=las,
        trusts=trusts,
        entities=entities,
        states=states,
        links=links,
        closed=closed,
    )


def _unique_within(group: np.ndarray, values: np.ndarray) -> np.ndarray:
    out = values.copy()
    seen: dict[tuple[int, int], bool] = {}
    for i in range(len(out)):
        v = int(out[i])
        while (int(group[i]), v) in seen:
            v = v + 1 if v < 9999 else 1000
        seen[(int(group[i]), v)] = True
        out[i] = v
    return out
