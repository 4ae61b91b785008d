"""A small published release for the `belonging sql` tests: one table, one view, a formula-looking cell."""

from __future__ import annotations

from pathlib import Path

import duckdb

from publication.releases import publish_release


def small_release(tmp_path: Path) -> Path:
    """A home with one published release; a file outside it (`secret.txt`) that no query may read."""
    home = tmp_path / "home"
    build = tmp_path / "build"
    (build / "extracts").mkdir(parents=True)
    (build / "extracts" / "admin_indicators_national.csv").write_text("time_period,x\n202526,1\n")
    con = duckdb.connect(str(build / "warehouse.duckdb"))
    con.execute("create table mart_indicators as select 'School' as geographic_level, 7.5 as value, "
                "'=HYPERLINK(\"http://x\",\"y\")' as school_name")
    con.execute("create view school_indicators_wide as select geographic_level, value from mart_indicators")
    con.close()
    publish_release(home, release_id="20261122T190000Z-aaaaaa", warehouse=build / "warehouse.duckdb",
                    extracts_dir=build / "extracts")
    (tmp_path / "secret.txt").write_text("the shadow file\n")
    return home
