"""The gateway-memory bench, tiny: a control plane of its own (the bench restarts its API
server), a few dozen objects of each kind (some with 200 KiB of annotations), the gateway's
start and relist measured, the report written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import gateway_memory


@pytest.mark.soak  # a control plane of its own, restarted: ~40 s, with the other outage tests
def test_the_gateway_starts_and_lists_again_against_a_few_objects_of_each_kind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(gateway_memory, "LARGE_EVERY", 10)
    figures = gateway_memory.run(40, 20, 20, tmp_path)
    assert figures["objects"] == {"tokens": 40, "service_accounts": 20, "pods": 20, "namespaces": 10}
    start, relist = figures["start"], figures["relist"]
    assert start["ready_seconds"] > 0
    assert 0 < start["rss_mib"] <= start["peak_rss_mib"]
    assert relist["seconds"] > 0
    assert relist["peak_rss_mib"] > 0
    result = {"date": "d", "machine": "m", **figures}
    text = gateway_memory.table(result)
    assert "| 40 tokens, 20 ServiceAccounts, 20 pods (10 namespaces) |" in text
    json.dumps(result)
    result["before"] = {"build": "0.1", **figures}
    assert "The gateway of 0.1 against the same objects: ready in" in gateway_memory.table(result)


def test_the_log_says_how_many_of_each_kind_were_listed(tmp_path: Path) -> None:
    log = tmp_path / "gateway.log"
    log.write_text(
        "INFO gatepass.gateway.watch: pods: 12 listed\n"
        "INFO gatepass.gateway.watch: servicetokens: 40 listed\n"
        "INFO gatepass.gateway.watch: pods: watch history expired; listing again\n"
        "INFO gatepass.gateway.watch: pods: 13 listed\n"
    )
    assert gateway_memory.listings(log, "pods") == (2, 13)
    assert gateway_memory.listings(log, "servicetokens") == (1, 40)
    assert gateway_memory.listings(log, "serviceaccounts") == (0, -1)
