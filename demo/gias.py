"""GIAS establishment register snapshots (`edubasealldataYYYYMMDD.csv`) and links files, as GIAS writes them.

Byte-level conventions of the real download: Windows-1252, every header and text field quoted, URN and a few
numeric fields (ages, capacity, UKPRN, easting/northing) unquoted, empty text as `""`, dates dd-mm-yyyy, LF.
The 2018 snapshot uses the 133-column layout, later ones the 140-column layout.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import polars as pl

from demo.headers import GIAS_2018, GIAS_2024
from demo.schools import GIAS_REGION, LEGACY_YEARS, SNAPSHOTS, World

TYPE_CODES = {
    "Community school": ("01", "4"),
    "Voluntary aided school": ("02", "4"),
    "Voluntary controlled school": ("03", "4"),
    "Foundation school": ("05", "4"),
    "Community special school": ("07", "5"),
    "Academy sponsor led": ("28", "10"),
    "Academy special sponsor led": ("33", "10"),
    "Academy converter": ("34", "10"),
    "Academy special converter": ("44", "10"),
}
GROUP_NAMES = {"4": "Local authority maintained schools", "5": "Special schools", "10": "Academies"}
PHASE_CODES = {
    "Primary": ("2", "Primary"),
    "Secondary": ("4", "Secondary"),
    "Special": ("0", "Not applicable"),
}
RELIGION_CODES = {
    "Does not have a religious character": "00",
    "Church of England": "02",
    "Roman Catholic": "03",
}
RSC = {
    "A": "North of England",
    "B": "North West England",
    "D": "Yorkshire and the Humber",
    "E": "East Midlands",
    "F": "West Midlands",
    "G": "East of England",
    "H": "London",
    "J": "South East England",
    "K": "South West England",
}
UNQUOTED = ("URN", "StatutoryLowAge", "StatutoryHighAge", "SchoolCapacity", "UKPRN", "Easting", "Northing")


def ddmmyyyy(d: date | None) -> str:
    return "" if d is None else d.strftime("%d-%m-%Y")


def snapshot_frame(world: World, year: int) -> pl.DataFrame:
    """The establishments in the snapshot taken at the start of `year`: open schools and closed predecessors."""
    snap = SNAPSHOTS[year]
    legacy = year in LEGACY_YEARS
    open_ = world.state(year).with_columns(
        pl.lit("1").alias("status_code"),
        pl.lit("Open").alias("status"),
        pl.lit(None, pl.Date).alias("close_date"),
    )
    closed = (
        world.closed.filter(pl.col("close_date") < snap)
        .join(world.entities, on="entity", how="left")
        .join(world.las, on="la_code", how="left")
        .with_columns(
            pl.lit(year).alias("year"),
            pl.lit("2").alias("status_code"),
            pl.lit("Closed").alias("status"),
            pl.lit(-1).alias("trust_idx"),
            pl.lit(None, pl.String).alias("trust_code"),
            pl.lit(None, pl.String).alias("trust_name"),
            pl.lit(None, pl.Boolean).alias("single"),
            pl.lit("Not applicable").alias("reason_opened"),
        )
    )
    frame = pl.concat([open_, closed.select(open_.columns)], how="vertical_relaxed").sort("urn")
    n = frame.height
    rng = np.random.default_rng(year * 7919 + frame.height)
    g = frame.to_dict(as_series=False)
    phase = g["phase"]
    types = g["type"]
    tcode = [TYPE_CODES[t][0] for t in types]
    gcode = [TYPE_CODES[t][1] for t in types]
    gname = [("LA maintained schools" if (legacy and c == "4") else GROUP_NAMES[c]) for c in gcode]
    is_closed = [s == "Closed" for s in g["status"]]
    low = [
        3 if p == "Primary" and nur else 4 if p == "Primary" else 11 if p == "Secondary" else 2
        for p, nur in zip(phase, g["nursery"], strict=True)
    ]
    high = [
        11 if p == "Primary" else 18 if (p == "Secondary" and sf) else 16 if p == "Secondary" else 19
        for p, sf in zip(phase, g["sixth_form"], strict=True)
    ]
    size = np.array(g["base_size"])
    pupils = np.round(size * (1 + 0.02 * (year - 2022))).astype(int)
    boys = np.round(pupils * rng.uniform(0.47, 0.53, n)).astype(int)
    region = [GIAS_REGION[r] for r in g["region_code"]]
    trust_flag = [
        ("0", "Not applicable")
        if not tc
        else ("6", "Supported by a single-academy trust")
        if s
        else ("5", "Supported by a multi-academy trust")
        for tc, s in zip(g["trust_code"], g["single"], strict=True)
    ]
    slug = [
        nm.lower().replace("’", "").replace("'", "").replace(" – ", "-").replace(" ", "") for nm in g["name"]
    ]
    la_idx = {c: i for i, c in enumerate(sorted(set(g["la_code"])))}
    pcon_base = "E14000" if legacy else "E14001"
    pcon_num = [500 + 3 * la_idx[c] + (u % 3) for c, u in zip(g["la_code"], g["urn"], strict=True)]
    ofsted = rng.choice(np.array(["Outstanding", "Good", "Good", "Good", "Requires improvement", ""]), n)
    census_date = date(year, 1, 19 if year != 2018 else 18)
    blank = [""] * n
    na = ["Not applicable"] * n
    values: dict[str, list] = {
        "URN": g["urn"],
        "LA (code)": g["la_code"],
        "LA (name)": g["la_name"],
        "EstablishmentNumber": [str(e) for e in g["estab"]],
        "EstablishmentName": g["name"],
        "TypeOfEstablishment (code)": tcode,
        "TypeOfEstablishment (name)": types,
        "EstablishmentTypeGroup (code)": gcode,
        "EstablishmentTypeGroup (name)": gname,
        "EstablishmentStatus (code)": ["2" if c else "1" for c in is_closed],
        "EstablishmentStatus (name)": g["status"],
        "ReasonEstablishmentOpened (code)": [
            "10" if r == "Academy Converter" else "08" if r == "Academy Sponsor Led" else "00"
            for r in g["reason_opened"]
        ],
        "ReasonEstablishmentOpened (name)": g["reason_opened"],
        "OpenDate": [ddmmyyyy(d) if d and d.year >= 1990 else "" for d in g["open_date"]],
        "ReasonEstablishmentClosed (code)": ["10" if c else "00" for c in is_closed],
        "ReasonEstablishmentClosed (name)": [
            "Academy Converter" if c else "Not applicable" for c in is_closed
        ],
        "CloseDate": [ddmmyyyy(d) for d in g["close_date"]],
        "PhaseOfEducation (code)": [PHASE_CODES[p][0] for p in phase],
        "PhaseOfEducation (name)": [PHASE_CODES[p][1] for p in phase],
        "StatutoryLowAge": low,
        "StatutoryHighAge": high,
        "Boarders (code)": ["1"] * n,
        "Boarders (name)": ["No boarders"] * n,
        "NurseryProvision (name)": [
            "Has Nursery Classes" if x else "No Nursery Classes" for x in g["nursery"]
        ],
        "OfficialSixthForm (code)": ["1" if x else "2" for x in g["sixth_form"]],
        "OfficialSixthForm (name)": [
            "Has a sixth form" if x else "Does not have a sixth form" for x in g["sixth_form"]
        ],
        "Gender (code)": ["3"] * n,
        "Gender (name)": ["Mixed"] * n,
        "ReligiousCharacter (code)": [RELIGION_CODES[r] for r in g["religious"]],
        "ReligiousCharacter (name)": g["religious"],
        "ReligiousEthos (name)": ["Does not apply"] * n,
        "Diocese (code)": ["0000"] * n,
        "Diocese (name)": na,
        "AdmissionsPolicy (code)": ["4" if p == "Secondary" else "0" for p in phase],
        "AdmissionsPolicy (name)": ["Non-selective" if p == "Secondary" else "Not applicable" for p in phase],
        "SchoolCapacity": np.round(size * 1.1).astype(int).tolist(),
        "SpecialClasses (code)": ["2"] * n,
        "SpecialClasses (name)": ["No Special Classes"] * n,
        "CensusDate": [ddmmyyyy(census_date)] * n,
        "NumberOfPupils": [str(p) for p in pupils],
        "NumberOfBoys": [str(b) for b in boys],
        "NumberOfGirls": [str(p - b) for p, b in zip(pupils, boys, strict=True)],
        "PercentageFSM": [f"{round(f * 100, 1):g}" for f in g["fsm_share"]],
        "TrustSchoolFlag (code)": [t[0] for t in trust_flag],
        "TrustSchoolFlag (name)": [t[1] for t in trust_flag],
        "Trusts (code)": [t or "" for t in g["trust_code"]],
        "Trusts (name)": [t or "" for t in g["trust_name"]],
        "SchoolSponsorFlag (name)": na,
        "FederationFlag (name)": ["Not under a federation"] * n,
        "UKPRN": [10_000_000 + u for u in g["urn"]],
        "FurtherEducationType (name)": na,
        "OfstedLastInsp": [ddmmyyyy(date(year - 1 - (u % 4), 1 + u % 12, 1 + u % 27)) for u in g["urn"]],
        "OfstedSpecialMeasures (code)": ["0"] * n,
        "OfstedSpecialMeasures (name)": na,
        "LastChangedDate": [
            ddmmyyyy(date(snap.year, snap.month, 1 + u % max(1, snap.day - 1))) for u in g["urn"]
        ],
        "Street": g["street"],
        "Town": g["la_name"],
        "Postcode": [
            f"{'LS' if i % 2 else 'NE'}{1 + u % 20} {u % 9}{chr(65 + u % 26)}{chr(65 + (u // 26) % 26)}"
            for i, u in enumerate(g["urn"])
        ],
        "SchoolWebsite": [f"http://www.{s}.sch.uk" for s in slug],
        "TelephoneNum": [f"01{u % 1000:03d}{(u * 37) % 1000000:06d}" for u in g["urn"]],
        "HeadTitle (name)": ["Mrs" if u % 3 == 0 else "Mr" if u % 3 == 1 else "Ms" for u in g["urn"]],
        "HeadFirstName": g["head_first"],
        "HeadLastName": g["head_last"],
        "HeadPreferredJobTitle": ["Headteacher"] * n,
        "BSOInspectorateName (name)": na,
        "InspectorateName (name)": na,
        "TeenMoth (name)": na,
        "CCF (name)": na,
        "SENPRU (name)": na,
        "EBD (name)": na,
        "FTProv (name)": blank,
        "EdByOther (name)": na,
        "Section41Approved (name)": na,
        "GOR (code)": [r[0] for r in region],
        "GOR (name)": [r[1] for r in region],
        "DistrictAdministrative (code)": g["gss_code"],
        "DistrictAdministrative (name)": g["la_name"],
        "AdministrativeWard (code)": [f"E05{(u * 13) % 1000000:06d}" for u in g["urn"]],
        "AdministrativeWard (name)": [f"{s} Ward" for s in g["street"]],
        "ParliamentaryConstituency (code)": [f"{pcon_base}{k:03d}" for k in pcon_num],
        "ParliamentaryConstituency (name)": [
            f"{la} {('North', 'South', 'Central')[u % 3]}"
            for la, u in zip(g["la_name"], g["urn"], strict=True)
        ],
        "UrbanRural (code)": ["A1" if i % 3 else "C1" for i in range(n)],
        "UrbanRural (name)": [
            "Urban major conurbation" if i % 3 else "Urban city and town" for i in range(n)
        ],
        "GSSLACode (name)": g["gss_code"],
        "Easting": g["easting"],
        "Northing": g["northing"],
        "MSOA (name)": [f"{la} {u % 40:03d}" for la, u in zip(g["la_name"], g["urn"], strict=True)],
        "LSOA (name)": [
            f"{la} {u % 40:03d}{chr(65 + u % 5)}" for la, u in zip(g["la_name"], g["urn"], strict=True)
        ],
        "Inspectorate (name)": na,
        "BoardingEstablishment (name)": blank,
        "OfstedRating (name)": ofsted.tolist(),
        "RSCRegion (name)": [RSC[r[0]] for r in region],
        "UPRN": [str(100_000_000 + u * 7) for u in g["urn"]],
        "MSOA (code)": [f"E02{(u * 3) % 1000000:06d}" for u in g["urn"]],
        "LSOA (code)": [f"E01{(u * 5) % 1000000:06d}" for u in g["urn"]],
        "QABName (code)": ["0"] * n,
        "QABName (name)": na,
        "EstablishmentAccredited (code)": ["0"] * n,
        "EstablishmentAccredited (name)": na,
        "FSM": [str(int(round(p * f))) for p, f in zip(pupils, g["fsm_share"], strict=True)],
    }
    header = GIAS_2018 if legacy else GIAS_2024
    data = {}
    for col in header:
        v = values.get(col, blank)
        data[col] = pl.Series(col, v, dtype=pl.Int64 if col in UNQUOTED else pl.String)
    return pl.DataFrame(data)


def links_frame(world: World, year: int) -> pl.DataFrame:
    snap = SNAPSHOTS[year]
    names = world.entities.select("entity", "name")
    links = world.links.filter(pl.col("link_date") <= snap).join(names, on="entity").sort("urn", "link_urn")
    return pl.DataFrame(
        {
            "URN": links["urn"].cast(pl.Int64),
            "LinkURN": links["link_urn"].cast(pl.Int64),
            "LinkName": links["name"],
            "LinkType": links["link_type"],
            "LinkEstablishedDate": [ddmmyyyy(d) for d in links["link_date"]],
        },
        schema={
            "URN": pl.Int64,
            "LinkURN": pl.Int64,
            "LinkName": pl.String,
            "LinkType": pl.String,
            "LinkEstablishedDate": pl.String,
        },
    )


def write_cp1252(frame: pl.DataFrame, path: Path) -> None:
    text = frame.write_csv(quote_style="non_numeric", line_terminator="\n")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode("cp1252"))


def write_gias(world: World, root: Path) -> list[Path]:
    """Write one establishments snapshot and one links file per demo academic year under `root`."""
    written = []
    for year, snap in SNAPSHOTS.items():
        stamp = snap.strftime("%Y%m%d")
        est = root / f"edubasealldata{stamp}.csv"
        write_cp1252(snapshot_frame(world, year), est)
        links = root / f"links_edubasealldata{stamp}.csv"
        write_cp1252(links_frame(world, year), links)
        written += [est, links]
    return written
