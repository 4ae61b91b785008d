"""The benchmark's verdicts (bench/benchmark.py `targets`): a refresh that did not publish meets no target."""

import importlib.util
from pathlib import Path

spec = importlib.util.spec_from_file_location("benchmark", Path(__file__).parents[2] / "bench" / "benchmark.py")
benchmark = importlib.util.module_from_spec(spec)
spec.loader.exec_module(benchmark)


def report(status: str, seconds: float, inc_status: str | None = "published") -> dict:
    return {
        "scale": "national",
        "full": {"status": status, "seconds": seconds, "ratio_to_plain_sql": round(seconds / 100, 2),
                 "peak_tree_rss_mb": 3000.0},
        "incremental": {"status": inc_status, "seconds": 10.0, "peak_tree_rss_mb": 2000.0} if inc_status else None,
        "queries": [{"belonging_sql_seconds": 0.5}],
    }  # fmt: skip


def verdicts(r: dict) -> dict:
    return {t["target"]: t["met"] for t in benchmark.targets(r)}


def test_a_published_refresh_is_judged_on_its_figures():
    met = verdicts(report("published", 150.0))
    assert list(met.values()) == [True, True, True, True]  # 1.5x, 2.9 GB, 0.07, 0.5 s
    assert list(verdicts(report("published", 300.0)).values())[0] is False  # 3.0x the baseline


def test_a_crashed_refresh_meets_nothing_it_measured():
    rows = {t["target"]: t for t in benchmark.targets(report("crashed (exit code 2): see log", 0.6, None))}
    full, peak = list(rows.values())[:2]
    assert not full["met"] and not peak["met"] and full["failed"] == "the refresh did not publish"
    assert "incremental" not in " ".join(rows)  # none ran
    assert benchmark.targets(report("published", 150.0, "killed: tree RSS passed --max-rss-gb 16"))[2]["met"] is False
