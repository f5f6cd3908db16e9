"""benchmarks/calibrate.py: the comparison with the issue's figures (what it measures and writes, not
how fast anything is: no test times kb)."""

from __future__ import annotations

import pytest

from conftest import benchmark_script


def _calibrate():
    return benchmark_script("calibrate")


def test_every_figure_of_the_issue_is_measured_and_compared(tmp_path):
    calibrate = _calibrate()
    root = tmp_path / "kb"
    calibrate.generate.generate(root, 60, 12, 1)
    seconds, sampled = calibrate.measure(root, repeat=1, sample=10, nodes=100, edges=200, rows=50)
    assert sampled == {"claims": 60, "references": 12, "safe": 10, "pybtex format": 2}
    assert set(seconds) == set(calibrate.ISSUE_SECONDS) == set(calibrate.LABELS)
    assert all(value > 0 for value in seconds.values())
    rows, median = calibrate.table(seconds)
    lines = rows.splitlines()[2:]
    assert len(lines) == len(calibrate.LABELS)
    ratios = sorted(float(line.rsplit("|", 2)[1]) for line in lines)
    assert median == pytest.approx(ratios[len(ratios) // 2], abs=0.01)


def test_the_docs_get_the_table_between_the_markers_only(tmp_path):
    calibrate = _calibrate()
    doc = tmp_path / "performance.md"
    doc.write_text("before\n<!-- calibration: old -->\nold table\n<!-- calibration end -->\nafter\n", encoding="utf-8")
    calibrate.update_docs(doc, "<!-- calibration: new -->\nnew table\n<!-- calibration end -->")
    assert doc.read_text(encoding="utf-8") == "before\n<!-- calibration: new -->\nnew table\n<!-- calibration end -->\nafter\n"
    doc.write_text("no markers\n", encoding="utf-8")
    with pytest.raises(SystemExit):
        calibrate.update_docs(doc, "x")
    assert doc.read_text(encoding="utf-8") == "no markers\n"
