"""Download asset: fetch the configured public DfE and GIAS files into landing/ when online."""


from datetime import date

import dagster as dg

from ingestion.download import fetch_all, load_download_config, resolve_download_config
from orchestration.jobs import DOWNLOAD_GROUP
from orchestration.layers import OWNERS
from orchestration.resources import HomeResource


@dg.asset(key=["landing", "downloads"], group_name=DOWNLOAD_GROUP, owners=OWNERS[DOWNLOAD_GROUP], kinds={"python", "csv"},
          description="Fetches the public files listed in config/downloads.yaml (or $BELONGING_HOME/downloads.yaml) "
          "into landing/; files whose checksum is unchanged are left as they are.")
def downloads(context: dg.AssetExecutionContext, home: HomeResource) -> dg.MaterializeResult:
    h = home.home()
    config_path = resolve_download_config(h.root)
    entries = load_download_config(config_path)
    results = fetch_all(entries, h.landing, today=date.today(),
                        timeout=float(h.settings.get("downloads", {}).get("timeout_seconds", 60)))
    for r in results:
        (context.log.info if r.ok else context.log.warning)(f"{r.status}: {r.message}")
    failed = [r for r in results if r.status == "failed"]
    if results and len(failed) == len(results):
        raise dg.Failure(description="every download failed: " + "; ".join(r.message for r in failed))
    return dg.MaterializeResult(metadata={
        "config": str(config_path),
        "downloaded": sum(r.status == "downloaded" for r in results),
        "unchanged": sum(r.status == "unchanged" for r in results),
        "failed": len(failed),
    })
