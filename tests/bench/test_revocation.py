"""The revocation bench's report (the run itself needs a control plane: `make bench`)."""

from __future__ import annotations

from bench import revocation


def test_the_table_names_each_kind() -> None:
    kinds = {k: {"p50_ms": 8.0, "p99_ms": 12.4, "max_ms": 30.0} for k in revocation.ROWS}
    text = revocation.table({"date": "2026-12-06 00:00 UTC", "trials": 50, "kinds": kinds})
    assert "50 trials each" in text
    for kind in revocation.KINDS:
        assert f"| {kind} | 8 | 12 | 30 |" in text
        assert f"| {kind}, through nginx's cache | 8 | 12 | 30 |" in text
