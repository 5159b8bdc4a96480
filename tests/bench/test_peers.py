"""The benchmark's own code: wrk's output read right, the report written right, and a
seconds-long run of every row (the figures themselves are `make bench`'s, never asserted)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from bench import peers

WRK = """Running 5s test @ http://127.0.0.1:8000/
  1 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    17.60ms    9.02ms 110.18ms   90.00%
  Latency Distribution
     50%   17.65ms
     75%   20.00ms
     90%   25.00ms
     99%  110.18ms
  16850 requests in 5.00s, 2.00MB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 4
Requests/sec:   3370.12
Transfer/sec:    409.00KB
"""


def test_wrk_output_is_read_with_its_units() -> None:
    assert peers.parse_wrk(WRK) == (3370.12, 17.65, 110.18, 7)
    fast = WRK.replace("17.65ms", "58.00us").replace("110.18ms", "1.50s")
    assert peers.parse_wrk(fast)[1:3] == (0.058, 1500.0)
    with pytest.raises(ValueError, match="unexpected wrk output"):
        peers.parse_wrk("wrk: connection refused")


def test_rows_are_medians_with_their_spread_and_the_ratios_follow() -> None:
    rounds = enumerate((90.0, 100.0, 130.0))
    cookie = [peers.Sample("gatepass-cookie", r, rps, 10.0 + r, 20.0, 0) for r, rps in rounds]
    samples = cookie + [peers.Sample("oauth2-proxy", r, 50.0, 5.0, 9.0, 1) for r in range(3)]
    rows = peers.summary(samples)
    assert rows["gatepass-cookie"] == {"requests_per_second": 100.0, "rps_min": 90.0, "rps_max": 130.0,
                                       "p50_ms": 11.0, "p99_ms": 20.0, "errors": 0}  # fmt: skip
    assert rows["oauth2-proxy"]["errors"] == 3
    assert peers.ratios(rows) == {"gatepass-cookie / oauth2-proxy": 2.0}


def test_the_readme_table_is_replaced_between_its_markers(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(f"# Benchmarks\nabove\n{peers.BEGIN}\nold table\n{peers.END}\nbelow\n")
    rows = {"direct": {"requests_per_second": 1000.0, "rps_min": 900.0, "rps_max": 1100.0,
                       "p50_ms": 1.0, "p99_ms": 2.0, "errors": 0.0}}  # fmt: skip
    result: dict[str, object] = {"date": "2026-12-06 00:00 UTC", "machine": "2 cores", "settings": "s"}
    result |= {"rows": rows, "ratios": {}}
    peers.write_readme(readme, result)
    text = readme.read_text()
    assert "old table" not in text
    assert "| direct | 1,000 | 900-1,100 | 1.00 | 2.00 | 0 |" in text
    assert text.startswith("# Benchmarks\nabove\n")
    assert text.endswith(f"{peers.END}\nbelow\n")


def test_every_row_runs_for_a_second(tmp_path: Path) -> None:
    """The whole bench, tiny: every server starts, every row answers 200, wrk's figures come back."""
    args = argparse.Namespace(seconds=1, rounds=1, connections=4, tokens=20, rows=list(peers.ROWS))
    result = peers.run(args)
    rows, ratios = result["rows"], result["ratios"]
    assert isinstance(rows, dict)
    assert isinstance(ratios, dict)
    assert set(rows) == set(peers.ROWS)
    for row, figures in rows.items():
        assert figures["requests_per_second"] > 0, row
        assert figures["errors"] == 0, row
    assert set(ratios) == {name for name, *_ in (*peers.RATIOS, *peers.AGAINST_LIMIT)}
    assert "nginx-forward-auth-cached / nginx-proxy" in ratios
    json.dumps(result)  # what main() writes to bench/results/
