"""The layers of the asset graph, as Dagster groups them, and who owns each (asset owners in the UI).

landing (downloads) -> lake (raw Parquet) -> warehouse (dbt) -> gates (extracts under audit) -> release.
Owners are Dagster owner strings (`team:<name>` or an e-mail address): change them here for your body.
"""

LANDING, LAKE, WAREHOUSE, GATES, RELEASE = "landing", "lake", "warehouse", "gates", "release"
ENGINEERS = ["team:data-engineering"]
PUBLISHERS = ["team:publishing"]
OWNERS = {LANDING: ENGINEERS, LAKE: ENGINEERS, WAREHOUSE: ENGINEERS, GATES: PUBLISHERS, RELEASE: PUBLISHERS}
