"""The scale benches, tiny: their reports, the gateway at a few hundred tokens, and the
last-seen flush on the session's control plane. (The operator at scale needs the cluster to
itself: `make bench`.)"""

from __future__ import annotations

import argparse
import asyncio
import json

import pytest
from kubernetes import client

from bench import gateway_scale, operator_scale
from gatepass.contract import last_seen_shards
from tests.support.cluster import ClusterInfo

RUN = {
    "tokens": 1000,
    "limit": "off",
    "total_seconds": 9.0,
    "create_seconds": 1.5,
    "ratio": 1.8,
    "api_requests_per_token": 4.2,
    "rate_limited_seconds": 0.0,
    "peak_rss_mib": 150.0,
}


def test_the_operator_report_names_each_run_and_its_limit() -> None:
    result = {
        "date": "2026-12-06 00:00 UTC",
        "machine": "2 cores",
        "settings": "32 in flight",
        "floors": {"1000": {"create_seconds": 3.0, "issue_seconds": 2.0, "total_seconds": 5.0}},
        "runs": [{**RUN, "limit": "default", "total_seconds": 45.0, "ratio": 9.0}, RUN],
        "idle": {
            "tokens": 1000,
            "cpu_percent": 0.05,
            "seconds": 30,
            "rss_mib": 140.0,
            "settled_seconds": 5.0,
        },
        "gateway": {"tokens": 1000, "ready_seconds": 2.5, "peak_rss_mib": 90.0},
    }
    text = operator_scale.table(result)
    assert "| 1,000 | default (100/s, burst 200) | 5.0 (3.0 + 2.0) | 45.0 | 9.00 | 4.2 | 0 | 150 |" in text
    assert "| 1,000 | none (GATEPASS_API_QPS=0) | 5.0 (3.0 + 2.0) | 9.0 | 1.80 | 4.2 | 0 | 150 |" in text
    assert "was ready in 2.5 s" in text


def test_runs_are_tokens_and_a_known_limit() -> None:
    assert operator_scale.run_spec("10000:off") == (10_000, "off")
    with pytest.raises(argparse.ArgumentTypeError):
        operator_scale.run_spec("10000:fast")


def test_the_gateway_at_a_few_hundred_tokens_and_fifty_applications() -> None:
    figures = gateway_scale.gateway_at(300, 50, rounds=1, seconds=1)
    assert figures["ready_seconds"] > 0
    assert 0 < figures["rss_ready_mib"] <= figures["rss_peak_mib"]
    assert figures["gatepass-cookie_rps"] > 0
    assert figures["gatepass-headers_rps"] > 0
    result = {"date": "d", "machine": "m", "settings": "s", "sizes": {"300": figures, "600": figures}}
    text = gateway_scale.table(result)
    assert "| 300 |" in text
    assert "Cookie req/s at 600 tokens / at 300: 1.00." in text
    json.dumps(result)


def test_the_last_seen_flush_fills_the_shards_and_is_read_back(
    cluster: ClusterInfo, api: client.ApiClient, namespace: str
) -> None:
    figures = asyncio.run(gateway_scale.last_seen_at(cluster.kubeconfig, 3000, namespace))
    assert figures["entries_read"] == 3000
    assert 0 < figures["largest_shard_of_limit"] < 0.1
    names = {cm.metadata.name for cm in client.CoreV1Api(api).list_namespaced_config_map(namespace).items}
    assert set(last_seen_shards(gateway_scale.PREFIX)) <= names
