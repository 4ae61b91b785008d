"""`belonging demo`: a realistic landing set (DfE EES files, GIAS snapshots and links, survey exports).

`generate(landing, scale=..., seed=...)` writes every source in its real layout under `landing/dfe/`,
`landing/gias/` and `landing/surveys/` and returns a summary. The same seed gives the same bytes.
"""

from __future__ import annotations

from pathlib import Path

from demo.attendance import write_attendance
from demo.characteristics import write_characteristics
from demo.dfe import school_numbers, write_dfe
from demo.gias import write_gias
from demo.schools import YEARS, build_world
from demo.surveys import write_surveys

__all__ = ["generate"]


def generate(landing: Path, *, scale: str = "small", seed: int = 2026) -> dict:
    """Write the demo landing files; return {scale, seed, files, paths, schools, establishments, responses, ...}.

    `small`: ~300 schools in 10 local authorities (one per region, two in the South West), seconds.
    `national`: ~24,000 schools in every current local authority and about a million survey responses.
    """
    landing = Path(landing)
    world = build_world(scale, seed)
    numbers = {year: school_numbers(world, year, seed) for year in YEARS}
    gias = write_gias(world, landing / "gias")
    dfe = write_dfe(world, numbers, landing / "dfe")
    # in-year attendance (provisional) of the autumn after the latest census
    dfe += write_attendance(world, numbers[max(YEARS)], landing / "dfe", seed)
    dfe += write_characteristics(world, numbers, landing / "dfe", seed)  # exclusions by pupil characteristic
    surveys, responses = write_surveys(world, numbers, landing / "surveys", seed)
    paths = sorted(p.relative_to(landing).as_posix() for p in gias + dfe + surveys)
    latest = numbers[max(YEARS)]
    return {
        "scale": scale,
        "seed": seed,
        "files": len(paths),
        "paths": paths,
        "files_by_source": {"dfe": len(dfe), "gias": len(gias), "surveys": len(surveys)},
        "schools": latest.height,
        "establishments": world.states["urn"].n_unique() + world.closed.height,
        "local_authorities": world.las.height,
        "trusts": world.trusts.height,
        "conversions": world.closed.height,
        "responses": responses,
    }
