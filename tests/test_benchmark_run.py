"""benchmarks/run.py: the runner itself (not kb's speed, which the benchmark measures and no test times)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from conftest import benchmark_script

REPO = Path(__file__).resolve().parent.parent


def _runner():
    return benchmark_script("run")


def test_repeated_runs_count_the_fastest_and_the_largest_memory():
    fastest = _runner().fastest
    runs = [{"seconds": 2.5, "peak_mb": 100.0, "status": "ok"}, {"seconds": 2.0, "peak_mb": 90.0, "status": "ok"}]
    assert fastest(runs) == {"seconds": 2.0, "peak_mb": 100.0, "status": "ok", "runs_seconds": [2.5, 2.0]}
    assert fastest(runs[:1]) == runs[0]
    failed = {"seconds": None, "peak_mb": 50.0, "status": "timed out"}
    assert fastest([runs[0], failed]) is failed  # a run that did not end well is never hidden by a good one


def test_a_small_run_measures_every_operation_and_writes_its_results(tmp_path):
    results = tmp_path / "results.json"
    subprocess.run([sys.executable, str(REPO / "benchmarks" / "run.py"), "--sizes", "60", "--repeat", "2", "--workdir", str(tmp_path / "work"),
                    "--json", str(results), "--plot", str(tmp_path / "plot.png")], check=True, capture_output=True, timeout=300)
    data = json.loads(results.read_text(encoding="utf-8"))
    (run,) = data["runs"]
    assert data["repeat"] == 2 and run["claims"] == 60
    assert {op: r["status"] for op, r in run["results"].items()} == {op: "ok" for op in _runner().OPS}
    for op in ("floor", "check cold", "build cold"):
        times = run["results"][op]["runs_seconds"]
        assert len(times) == 2 and run["results"][op]["seconds"] == min(times)
    assert "runs_seconds" not in run["results"]["check warm"]
