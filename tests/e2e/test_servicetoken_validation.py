"""The API server itself rejects bad ServiceTokens, naming the field (CRD schema + CEL)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from tests.support.tokens import Tokens

BAD_SPECS: list[tuple[str, dict[str, Any], str]] = [
    ("negative duration", {"duration": "-5m"}, "spec.duration"),
    ("zero duration", {"duration": "0s"}, "spec.duration must be at least 1s"),
    ("sub-second duration", {"duration": "500ms"}, "spec.duration must be at least 1s"),
    ("days are not a Go unit", {"duration": "10d"}, "spec.duration must be a positive Go duration"),
    ("duration not a duration", {"duration": "a year"}, "spec.duration"),
    ("duration of the wrong type", {"duration": 3600}, "spec.duration"),
    ("enabled of the wrong type", {"enabled": "yes"}, "spec.enabled"),
    ("unknown field", {"colour": "blue"}, 'unknown field "spec.colour"'),
    ("alertBefore longer than duration", {"duration": "100h", "alertBefore": "200h"}, "spec.alertBefore"),
    ("alertBefore equal to duration", {"duration": "1h", "alertBefore": "60m"}, "spec.alertBefore"),
    ("renewBefore longer than duration", {"duration": "24h", "renewBefore": "48h"}, "spec.renewBefore"),
    ("renewBefore not a duration", {"renewBefore": "soon"}, "spec.renewBefore"),
    ("alertBefore negative", {"alertBefore": "-1h"}, "spec.alertBefore"),
    ("grace not a duration", {"rotationGracePeriod": "1 day"}, "spec.rotationGracePeriod"),
    ("grace under Cloudflare's 1h", {"rotationGracePeriod": "30m"}, "between 1h and 720h"),
    ("grace over Cloudflare's 30 days", {"rotationGracePeriod": "721h"}, "spec.rotationGracePeriod"),
    ("rotation without every", {"rotation": {}}, "spec.rotation.every"),
    ("rotation every not a duration", {"rotation": {"every": "monthly"}}, "spec.rotation.every"),
    ("rotation every under an hour", {"rotation": {"every": "30m"}}, "spec.rotation.every must be between"),
    (
        "rotation every not longer than the grace",
        {"rotation": {"every": "24h"}, "rotationGracePeriod": "24h"},
        "spec.rotation.every must be longer than spec.rotationGracePeriod",
    ),
    ("secretName not a DNS name", {"secretName": "Bad_Name"}, "spec.secretName"),
    (
        "data key not a Secret key",
        {"secretTemplate": {"keys": {"clientId": "client id"}}},
        "spec.secretTemplate.keys.clientId",
    ),
    (
        "one key for both credentials",
        {"secretTemplate": {"keys": {"clientId": "k", "clientSecret": "k"}}},
        "keys.clientId and clientSecret must differ",
    ),
    (
        "file under a credential's key",
        {"secretTemplate": {"files": [{"key": "CF_ACCESS_CLIENT_SECRET", "format": "headersJson"}]}},
        "files keys must differ",
    ),
    (
        "unknown file format",
        {"secretTemplate": {"files": [{"key": "x", "format": "yaml"}]}},
        "spec.secretTemplate.files[0].format",
    ),
    (
        "netrc without hosts",
        {"secretTemplate": {"files": [{"key": ".netrc", "format": "netrc"}]}},
        "a netrc file needs hosts",
    ),
    (
        "hosts on a JSON file",
        {"secretTemplate": {"files": [{"key": "h", "format": "headersJson", "hosts": ["a.test"]}]}},
        "hosts are for netrc files only",
    ),
    (
        "two files under one key",
        {
            "secretTemplate": {
                "files": [{"key": "h", "format": "headersJson"}, {"key": "h", "format": "credentialsJson"}]
            }
        },
        "spec.secretTemplate.files[1]: Duplicate value",
    ),
    ("secretName too long", {"secretName": "a" * 254}, "spec.secretName"),
    (
        "template overrides the managed-by label",
        {"secretTemplate": {"labels": {"app.kubernetes.io/managed-by": "me"}}},
        "spec.secretTemplate.labels",
    ),
    (
        "template label of the wrong type",
        {"secretTemplate": {"labels": {"team": 7}}},
        "spec.secretTemplate.labels",
    ),
    ("template unknown field", {"secretTemplate": {"data": {}}}, 'unknown field "spec.secretTemplate.data"'),
    ("inactivity without after", {"inactivity": {"action": "delete"}}, "spec.inactivity.after: Required"),
    ("inactivity in days", {"inactivity": {"after": "90d"}}, "spec.inactivity.after must be a Go duration"),
    ("inactivity under 30 days", {"inactivity": {"after": "719h"}}, "spec.inactivity.after must be between"),
    ("inactivity over 365 days", {"inactivity": {"after": "8761h"}}, "spec.inactivity.after must be between"),
    ("rate limit of zero", {"rateLimit": {"requestsPerSecond": 0}}, "spec.rateLimit.requestsPerSecond"),
    ("rate limit without a rate", {"rateLimit": {"burst": 5}}, "spec.rateLimit.requestsPerSecond: Required"),
    ("burst of zero", {"rateLimit": {"requestsPerSecond": 1, "burst": 0}}, "spec.rateLimit.burst"),
    ("rollout not Auto or None", {"rollout": "Always"}, "spec.rollout: Unsupported value"),
    (
        "rate limit of an unknown scope",
        {"rateLimit": {"requestsPerSecond": 1, "scope": "Namespace"}},
        "spec.rateLimit.scope: Unsupported value",
    ),
    (
        "consumers without rollout Auto",
        {"consumers": [{"kind": "Deployment", "name": "api"}]},
        "spec.consumers is used only with spec.rollout Auto",
    ),
    (
        "consumer of an unknown kind",
        {"rollout": "Auto", "consumers": [{"kind": "CronJob", "name": "api"}]},
        "spec.consumers[0].kind: Unsupported value",
    ),
    (
        "consumer with a bad name",
        {"rollout": "Auto", "consumers": [{"kind": "Deployment", "name": "API_v2"}]},
        "spec.consumers[0].name: Invalid value",
    ),
    (
        "the same consumer twice",
        {
            "rollout": "Auto",
            "consumers": [{"kind": "Deployment", "name": "a"}, {"kind": "Deployment", "name": "a"}],
        },
        "spec.consumers[1]: Duplicate value",
    ),
    (
        "unknown inactivity action",
        {"inactivity": {"after": "720h", "action": "warn"}},
        "spec.inactivity.action",
    ),
]


@pytest.mark.parametrize(("case", "spec", "message"), BAD_SPECS, ids=[c for c, _, _ in BAD_SPECS])
def test_bad_spec_is_rejected_naming_the_field(
    api: client.ApiClient, crds: None, namespace: str, case: str, spec: dict[str, Any], message: str
) -> None:
    tokens = Tokens(api, namespace)
    with pytest.raises(ApiException) as err:
        tokens.create("bad", spec)
    assert err.value.status in (400, 422), err.value.body
    assert message in json.loads(err.value.body)["message"]
    assert tokens.get("bad") is None


GOOD_SPECS: list[dict[str, Any]] = [
    {},
    {"duration": "forever"},
    {"duration": "1h30m", "alertBefore": "30m", "renewBefore": "15m"},
    {"duration": "forever", "alertBefore": "24h", "renewBefore": "1h"},
    {"rotationGracePeriod": "0s", "enabled": False},
    {"rotationGracePeriod": "720h", "rotation": {"every": "721h"}},
    {"rotationGracePeriod": "0", "rotation": {"every": "1h"}},
    {"secretName": "ci.bot-creds", "secretTemplate": {"labels": {"team": "a"}, "annotations": {"x": "y"}}},
    {"inactivity": {"after": "720h"}},
    {"inactivity": {"after": "8760h", "action": "delete"}},
    {"inactivity": {"after": "never"}},
    {"rateLimit": {"requestsPerSecond": 0.5}},
    {"rateLimit": {"requestsPerSecond": 100, "burst": 200}},
    {"rateLimit": {"requestsPerSecond": 1, "scope": "Token"}},
    {"rollout": "Auto"},
    {
        "rollout": "Auto",
        "consumers": [{"kind": "Deployment", "name": "a"}, {"kind": "DaemonSet", "name": "a"}],
    },
]


@pytest.mark.parametrize("spec", GOOD_SPECS, ids=str)
def test_good_spec_is_accepted_with_defaults(
    api: client.ApiClient, crds: None, namespace: str, spec: dict[str, Any]
) -> None:
    tokens = Tokens(api, namespace)
    created = tokens.create("good", spec)
    assert created["spec"]["duration"] == spec.get("duration", "8760h")
    assert created["spec"]["enabled"] is spec.get("enabled", True)
    assert created["spec"]["rotationGracePeriod"] == spec.get("rotationGracePeriod", "24h")
    if "inactivity" in spec:
        assert created["spec"]["inactivity"]["action"] == spec["inactivity"].get("action", "disable")
    if "rateLimit" in spec:
        assert created["spec"]["rateLimit"]["scope"] == spec["rateLimit"].get("scope", "Application")


def test_secret_name_is_immutable(api: client.ApiClient, crds: None, namespace: str) -> None:
    tokens = Tokens(api, namespace)
    tokens.create("t", {"secretName": "one"})
    with pytest.raises(ApiException) as err:
        tokens.patch("t", {"spec": {"secretName": "two"}})
    assert "spec.secretName is immutable" in json.loads(err.value.body)["message"]
    tokens.create("u")
    with pytest.raises(ApiException) as err:
        tokens.patch("u", {"spec": {"secretName": "later"}})
    assert "spec.secretName is immutable" in json.loads(err.value.body)["message"]


def test_a_name_too_long_to_label_its_secret_is_rejected(
    api: client.ApiClient, crds: None, namespace: str
) -> None:
    """A name over 63 characters could never be issued (the Secret's label holds it)."""
    tokens = Tokens(api, namespace)
    with pytest.raises(ApiException) as e:
        tokens.create("t" * 64)
    assert e.value.status == 422
    assert "metadata.name of a ServiceToken has at most 63 characters" in e.value.body
    tokens.create("t" * 63)
    assert tokens.get("t" * 63) is not None
