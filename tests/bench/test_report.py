"""What the benches share: percentiles and the README's tables."""

from __future__ import annotations

import os
from pathlib import Path

from bench import report


def test_percentiles_are_of_the_sorted_trials() -> None:
    trials = [0.5, 0.01, 0.02, 0.03, 0.04]
    assert report.percentile(trials, 0.5) == 0.03
    assert report.percentile(trials, 0.99) == 0.5
    assert report.percentile([0.2], 0.99) == 0.2


def test_a_section_is_replaced_in_place_or_appended(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text("# Benchmarks\nabove\n<!-- a:begin -->\nold\n<!-- a:end -->\nbelow\n")
    report.write_section(readme, "a", "\nnew\n")
    assert readme.read_text() == "# Benchmarks\nabove\n<!-- a:begin -->\nnew\n<!-- a:end -->\nbelow\n"
    report.write_section(readme, "b", "\nsecond\n")
    assert readme.read_text().endswith("below\n\n<!-- b:begin -->\nsecond\n<!-- b:end -->\n")
    report.write_section(readme, "b", "\nthird\n")
    assert readme.read_text().count("<!-- b:begin -->") == 1
    assert "third" in readme.read_text()
    assert "second" not in readme.read_text()


def test_a_process_cpu_and_memory_from_proc() -> None:
    rss, peak = report.proc_mib(os.getpid(), "VmRSS"), report.proc_mib(os.getpid(), "VmHWM")
    assert 0 < rss <= peak
    assert report.cpu_seconds(os.getpid()) > 0
    assert report.proc_mib(os.getpid(), "NoSuchField") == 0.0
