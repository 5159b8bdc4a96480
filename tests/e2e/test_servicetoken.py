"""ServiceToken lifecycle against a real API server with the operator running."""

from __future__ import annotations

import time
import urllib.error
from datetime import UTC, datetime, timedelta

import pytest
from kubernetes import client

from tests.support.cluster import ClusterInfo
from tests.support.operator import OperatorProcess
from tests.support.tokens import Tokens, stamp, ts
from tests.support.waiting import wait_for


@pytest.fixture
def tokens(api: client.ApiClient, namespace: str, running_operator: OperatorProcess) -> Tokens:
    return Tokens(api, namespace)


def test_apply_gives_a_secret_and_ready_status_within_2s(tokens: Tokens, cluster: ClusterInfo) -> None:
    start = time.monotonic()
    tokens.create(
        "ci-bot",
        {
            "duration": "720h",
            "secretTemplate": {"labels": {"team": "infra"}, "annotations": {"owner": "ops"}},
        },
    )
    st = tokens.wait_ready("ci-bot", timeout=2)
    print(f"Ready after {time.monotonic() - start:.2f}s")
    creds = tokens.creds("ci-bot")
    assert st["clientId"] == creds.client_id
    assert creds.client_id.endswith(".access")
    assert creds.client_secret.startswith("gpst_")
    assert st["secretHash"] == creds.hash
    assert st["secretName"] == "ci-bot"
    assert ts(st["expiresAt"]) - ts(st["createdAt"]) == timedelta(hours=720)
    assert st["observedGeneration"] == 1
    secret = tokens.secret("ci-bot")
    assert secret is not None
    assert secret.metadata.labels == {
        "team": "infra",
        "app.kubernetes.io/managed-by": "gatepass",
        "gatepass.dev/service-token": "ci-bot",
    }
    assert secret.metadata.annotations == {
        "owner": "ops",
        "gatepass.dev/secret-template": '{"labels":["team"],"annotations":["owner"]}',
    }
    (owner,) = secret.metadata.owner_references
    assert (owner.kind, owner.name, owner.controller) == ("ServiceToken", "ci-bot", True)
    assert wait_for(lambda: "Issued" in tokens.reasons("ci-bot"), timeout=5)
    row = cluster.kubectl("get", "st", "ci-bot", "-n", tokens.ns).stdout
    assert creds.client_id in row
    assert "True" in row.splitlines()[1]


def test_an_edited_secret_template_reaches_the_secret_and_nothing_else_changes(tokens: Tokens) -> None:
    tokens.create("tpl", {"secretTemplate": {"labels": {"team": "a", "tier": "1"}}})
    st = tokens.wait_ready("tpl")
    creds = tokens.creds("tpl")
    wait_for(lambda: "Issued" in tokens.reasons("tpl"), timeout=5)
    tokens.patch(  # merge patch: null removes a key
        "tpl",
        {"spec": {"secretTemplate": {"labels": {"team": "b", "tier": None}, "annotations": {"o": "x"}}}},
    )

    def followed() -> client.V1Secret | None:
        secret = tokens.secret("tpl")
        return secret if secret is not None and (secret.metadata.labels or {}).get("team") == "b" else None

    secret = wait_for(followed, timeout=5, what="the Secret to follow the template")
    assert secret.metadata.labels == {
        "team": "b",  # changed
        "app.kubernetes.io/managed-by": "gatepass",
        "gatepass.dev/service-token": "tpl",
    }  # "tier" went with the template
    assert (secret.metadata.annotations or {}).get("o") == "x"
    assert tokens.creds("tpl") == creds  # the secret itself is untouched
    wait_for(lambda: "SecretUpdated" in tokens.reasons("tpl"), timeout=5)
    after = tokens.status("tpl")
    assert (after["clientId"], after["secretHash"], after["expiresAt"]) == (
        st["clientId"],
        st["secretHash"],
        st["expiresAt"],
    )
    assert tokens.wait_reasons("tpl", "Issued").count("Issued") == 1
    credential_events = {"Rotated", "CredentialsReissued", "Refreshed", "UntrustedStatus"}
    assert not credential_events & set(tokens.reasons("tpl"))


def test_custom_secret_name_and_forever(tokens: Tokens) -> None:
    tokens.create("forever", {"duration": "forever", "secretName": "forever-creds"})
    st = tokens.wait_ready("forever")
    assert "expiresAt" not in st
    assert tokens.creds("forever-creds").hash == st["secretHash"]
    assert tokens.secret("forever") is None


def test_refresh_moves_expiry_and_keeps_the_secret(tokens: Tokens) -> None:
    tokens.create("r", {"duration": "1h"})
    st = tokens.wait_ready("r")
    creds = tokens.creds("r")
    time.sleep(1.1)  # status times have whole seconds
    tokens.annotate("r", "gatepass.dev/refresh", "2026-11-22T10:00:00Z")
    after = wait_for(
        lambda: (s := tokens.status("r")).get("expiresAt") != st["expiresAt"] and s, timeout=5, what="refresh"
    )
    assert ts(after["expiresAt"]) > ts(st["expiresAt"])
    assert ts(after["expiresAt"]) - ts(after["refreshedAt"]) == timedelta(hours=1)
    assert after["lastRefreshRequest"] == "2026-11-22T10:00:00Z"
    assert tokens.creds("r") == creds
    assert after["secretHash"] == st["secretHash"]
    wait_for(lambda: "Refreshed" in tokens.reasons("r"), timeout=5)

    # Cloudflare's "Edit duration": the new duration counts from now.
    tokens.patch("r", {"spec": {"duration": "48h"}})
    edited = wait_for(lambda: (s := tokens.status("r")).get("observedDuration") == "48h" and s, timeout=5)
    assert ts(edited["expiresAt"]) - ts(edited["refreshedAt"]) == timedelta(hours=48)
    assert tokens.creds("r") == creds


def test_rotate_keeps_the_previous_hash_until_the_grace_ends(tokens: Tokens) -> None:
    tokens.create("rot", {"rotationGracePeriod": "1h"})
    before = tokens.wait_ready("rot")
    old = tokens.creds("rot")
    tokens.annotate("rot", "gatepass.dev/rotate", "1")
    rotated = wait_for(
        lambda: (s := tokens.status("rot")).get("secretHash") != before["secretHash"] and s, timeout=5
    )
    new = tokens.creds("rot")
    assert new.client_id == old.client_id
    assert new.client_secret != old.client_secret
    assert rotated["secretHash"] == new.hash
    assert rotated["previousSecretHash"] == old.hash
    assert ts(rotated["previousSecretExpiresAt"]) - ts(rotated["rotatedAt"]) == timedelta(hours=1)
    # Cut short to a few seconds from now (kubectl gatepass end-grace --in 4s).
    ask = stamp(datetime.now(UTC) + timedelta(seconds=4))
    tokens.annotate("rot", "gatepass.dev/previous-secret-expires-at", ask)
    changed = wait_for(
        lambda: (s := tokens.status("rot")).get("lastPreviousSecretExpiresRequest") == ask and s, timeout=5
    )
    grace_end = ts(changed["previousSecretExpiresAt"])
    assert grace_end == ts(ask)
    wait_for(lambda: "GraceChanged" in tokens.reasons("rot"), timeout=5, what="the GraceChanged Event")
    # The operator wakes at the end of the grace by itself (no polling, no event).
    cleared = wait_for(lambda: "previousSecretHash" not in (s := tokens.status("rot")) and s, timeout=8)
    assert datetime.now(UTC) >= grace_end
    assert cleared["secretHash"] == new.hash
    assert "Rotated" in tokens.reasons("rot")
    # The same annotation value again asks nothing. (Written alone it is no change at all:
    # no event reaches the operator. With a spec edit it surely handles, observedGeneration
    # says when it has.)
    tokens.patch(
        "rot",
        {"metadata": {"annotations": {"gatepass.dev/rotate": "1"}}, "spec": {"rotationGracePeriod": "2h"}},
    )
    generation = tokens.get("rot")["metadata"]["generation"]
    wait_for(lambda: tokens.status("rot").get("observedGeneration") == generation, timeout=5, what="the edit")
    assert tokens.creds("rot") == new
    assert tokens.status("rot")["secretHash"] == new.hash


def test_short_token_warns_once_then_expires(tokens: Tokens, running_operator: OperatorProcess) -> None:
    tokens.create("short", {"duration": "6s", "alertBefore": "4s"})
    tokens.wait_ready("short")
    soon = wait_for(
        lambda: (c := tokens.condition("short", "ExpiringSoon")) and c["status"] == "True" and c, timeout=5
    )
    assert "expires at" in soon["message"]
    cond = tokens.wait_reason("short", "Expired", timeout=8)
    assert cond["status"] == "False"
    wait_for(lambda: "Expired" in tokens.reasons("short"), timeout=5)
    events = tokens.events("short")
    assert [r for _, r, _ in events].count("ExpiringSoon") == 1
    assert ("Warning", "Expired") in [(t, r) for t, r, _ in events]
    metrics = running_operator.metrics()
    assert f'gatepass_service_token_ready{{name="short",namespace="{tokens.ns}"}} 0.0' in metrics
    # A restart re-reads state and does not warn again.
    running_operator.stop()
    running_operator.start()
    # Once its gauge is back, the new process has reconciled the token (Events go out first).
    gauge = f'gatepass_service_token_ready{{name="short",namespace="{tokens.ns}"}}'

    def reconciled() -> bool:
        try:  # /metrics opens after /healthz, once the first listing is done
            return gauge in running_operator.metrics()
        except urllib.error.URLError:
            return False

    wait_for(reconciled, timeout=10, what="the token reconciled again")
    assert tokens.reasons("short").count("ExpiringSoon") == 1
    assert tokens.reasons("short").count("Expired") == 1


def test_disable_and_enable(tokens: Tokens) -> None:
    tokens.create("d")
    tokens.wait_ready("d")
    tokens.patch("d", {"spec": {"enabled": False}})
    tokens.wait_reason("d", "Disabled")
    tokens.patch("d", {"spec": {"enabled": True}})
    tokens.wait_ready("d")
    tokens.wait_reasons("d", "Disabled", "Enabled")


def test_deleting_the_token_removes_its_secret(tokens: Tokens) -> None:
    tokens.create("gone")
    tokens.wait_ready("gone")
    tokens.delete("gone")
    wait_for(lambda: tokens.secret("gone") is None, timeout=10, what="Secret garbage-collected")


def test_deleted_or_tampered_secret_is_reissued(tokens: Tokens) -> None:
    tokens.create("lost")
    first = tokens.wait_ready("lost")
    old = tokens.creds("lost")
    tokens.core.delete_namespaced_secret("lost", tokens.ns)
    second = wait_for(
        lambda: (s := tokens.status("lost")).get("secretHash") != first["secretHash"] and s, timeout=5
    )
    new = tokens.creds("lost")
    assert new.client_id == old.client_id
    assert new.client_secret != old.client_secret
    assert second["secretHash"] == new.hash
    assert second["expiresAt"] == first["expiresAt"]

    tokens.core.patch_namespaced_secret(
        "lost", tokens.ns, {"stringData": {"CF_ACCESS_CLIENT_SECRET": "guessed"}}
    )
    third = wait_for(
        lambda: (s := tokens.status("lost")).get("secretHash") != second["secretHash"] and s, timeout=5
    )
    assert tokens.creds("lost").hash == third["secretHash"]
    wait_for(
        lambda: [r for _, r, _ in tokens.events("lost")].count("CredentialsReissued") == 2,
        timeout=10,
        what="two CredentialsReissued Events",
    )
    assert all(t == "Warning" for t, r, _ in tokens.events("lost") if r == "CredentialsReissued")


def test_a_new_secret_layout_keeps_the_credentials(tokens: Tokens) -> None:
    tokens.create("lay")
    first = tokens.wait_ready("lay")
    creds = tokens.creds("lay")
    keys = {"clientId": "id", "clientSecret": "secret"}
    files = [{"key": "headers.json", "format": "headersJson"}]
    tokens.patch("lay", {"spec": {"secretTemplate": {"keys": keys, "files": files}}})
    data = wait_for(lambda: "id" in (d := tokens.data("lay")) and d, timeout=5, what="the new layout")
    assert set(data) == {"id", "secret", "headers.json"}  # the old keys are gone
    assert (data["id"], data["secret"]) == (creds.client_id, creds.client_secret)  # not a reissue
    assert tokens.status("lay")["secretHash"] == first["secretHash"]
    assert "SecretUpdated" in tokens.wait_reasons("lay", "SecretUpdated")
    # A file dropped from the template leaves the Secret with it.
    tokens.patch("lay", {"spec": {"secretTemplate": {"files": None}}})
    wait_for(lambda: "headers.json" not in tokens.data("lay"), timeout=5, what="the file removed")
    assert tokens.data("lay")["secret"] == creds.client_secret
    assert "Issued" in tokens.reasons("lay")
    assert "CredentialsReissued" not in tokens.reasons("lay")


def test_foreign_secret_is_left_alone(tokens: Tokens) -> None:
    tokens.core.create_namespaced_secret(
        tokens.ns, client.V1Secret(metadata=client.V1ObjectMeta(name="taken"), string_data={"mine": "yes"})
    )
    tokens.create("taken")
    cond = tokens.wait_reason("taken", "SecretConflict")
    assert cond["status"] == "False"
    secret = tokens.secret("taken")
    assert secret is not None
    assert set(secret.data) == {"mine"}


def test_metrics_show_expiry_and_readiness(tokens: Tokens, running_operator: OperatorProcess) -> None:
    tokens.create("m", {"duration": "24h"})
    st = tokens.wait_ready("m")
    expected = ts(st["expiresAt"]).timestamp()
    series = f'name="m",namespace="{tokens.ns}"'
    text = wait_for(lambda: series in (t := running_operator.metrics()) and t, timeout=5)
    line = next(
        ln
        for ln in text.splitlines()
        if ln.startswith("gatepass_service_token_expiration_timestamp_seconds{")
        and f'namespace="{tokens.ns}"' in ln
    )
    assert f'client_id="{st["clientId"]}"' in line
    assert float(line.rsplit(" ", 1)[1]) == expected
    tokens.delete("m")
    wait_for(lambda: f'namespace="{tokens.ns}"' not in running_operator.metrics(), timeout=5)
