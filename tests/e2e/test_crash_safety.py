"""SIGKILL the operator anywhere: after restart there is exactly one valid credential."""

from __future__ import annotations

import base64
import json
import random
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote

import pytest
from kubernetes import client

from gatepass.contract import SEAL_ENTRY
from tests.support.operator import OPERATOR_NAMESPACE, OperatorProcess
from tests.support.tokens import Creds, Tokens
from tests.support.waiting import wait_for

KEY_SECRET = "gatepass-signing-keys"


@pytest.fixture
def tokens(api: client.ApiClient, namespace: str, running_operator: OperatorProcess) -> Iterator[Tokens]:
    yield Tokens(api, namespace)
    if not running_operator.running:  # leave the session operator as we found it
        running_operator.proc = None
        running_operator.start()


def assert_one_valid_credential(tokens: Tokens, name: str) -> Creds:
    st = tokens.wait_ready(name)
    secrets = tokens.managed_secrets(name)
    assert [s.metadata.name for s in secrets] == [name]
    creds = tokens.creds(name)
    assert st["secretHash"] == creds.hash
    assert st["clientId"] == creds.client_id
    assert not any(k.startswith("pending") for k in st), st
    return creds


def settled(tokens: Tokens, name: str, done: Callable[[dict[str, Any]], bool]) -> None:
    """Wait until the token's status says ``done`` and no write is pending (no sleeping)."""
    wait_for(
        lambda: done(st := tokens.status(name)) and not any(k.startswith("pending") for k in st),
        timeout=15,
        what=f"{name} settled",
    )


@pytest.mark.parametrize("point", ["after-pending-status", "after-secret-write"])
def test_crash_during_issuance(tokens: Tokens, running_operator: OperatorProcess, point: str) -> None:
    running_operator.stop()
    running_operator.start(failpoints=point)
    tokens.create("crash")
    assert running_operator.wait_exit(timeout=15) == -9
    pending = tokens.status("crash")["pendingSecretHash"]
    written = tokens.creds("crash") if point == "after-secret-write" else None
    if written is None:
        assert tokens.secret("crash") is None
    else:
        assert written.hash == pending

    running_operator.start()
    creds = assert_one_valid_credential(tokens, "crash")
    if written is not None:
        # The delivered secret is kept: no credential is generated twice for one issuance.
        assert creds == written
    assert tokens.wait_reasons("crash", "Issued").count("Issued") == 1


@pytest.mark.parametrize("point", ["after-pending-status", "after-secret-write"])
def test_crash_during_rotation(tokens: Tokens, running_operator: OperatorProcess, point: str) -> None:
    tokens.create("rot", {"rotationGracePeriod": "1h"})
    old = assert_one_valid_credential(tokens, "rot")
    running_operator.stop()
    running_operator.start(failpoints=point)
    tokens.annotate("rot", "gatepass.dev/rotate", "now")
    assert running_operator.wait_exit(timeout=15) == -9
    written = tokens.creds("rot")
    assert (written == old) is (point == "after-pending-status")

    running_operator.start()
    settled(tokens, "rot", lambda st: st.get("lastRotateRequest") == "now")
    new = assert_one_valid_credential(tokens, "rot")
    st = tokens.status("rot")
    assert new != old
    assert st["previousSecretHash"] == old.hash
    assert st["lastRotateRequest"] == "now"
    if point == "after-secret-write":
        assert new == written


def test_sigkill_at_random_moments_never_leaves_two_credentials(
    tokens: Tokens, running_operator: OperatorProcess
) -> None:
    rng = random.Random(20261122)
    for i in range(10):
        tokens.create(f"k{i}")
        time.sleep(rng.uniform(0.0, 0.25))
        running_operator.kill()
        running_operator.start()
    for i in range(10):
        assert_one_valid_credential(tokens, f"k{i}")
        assert tokens.reasons(f"k{i}").count("Issued") <= 1


def test_no_secret_reaches_logs_events_annotations_status_or_metrics(
    tokens: Tokens, running_operator: OperatorProcess
) -> None:
    seen: list[Creds] = []
    tokens.create("leak", {"rotationGracePeriod": "1h"})
    seen.append(assert_one_valid_credential(tokens, "leak"))
    tokens.annotate("leak", "gatepass.dev/rotate", "1")
    settled(tokens, "leak", lambda st: st.get("secretHash") != seen[-1].hash)
    seen.append(assert_one_valid_credential(tokens, "leak"))
    tokens.core.delete_namespaced_secret("leak", tokens.ns)
    settled(tokens, "leak", lambda st: st.get("secretHash") != seen[-1].hash)
    seen.append(assert_one_valid_credential(tokens, "leak"))
    assert len({c.client_secret for c in seen}) == 3

    obj = json.dumps(tokens.get("leak"))
    events = json.dumps(
        [e.to_dict() for e in tokens.core.list_namespaced_event(tokens.ns).items], default=str
    )
    places = {
        "operator log": running_operator.log_text(),
        "ServiceToken (status, annotations, managedFields)": obj,
        "Events": events,
        "metrics": running_operator.metrics(),
    }
    # Every encoding a secret travels in: plain, base64 (Secret data, API bodies),
    # URL-encoded; and the gateway's signing and status-seal keys (Secret data, PEM, raw).
    needles: dict[str, str] = {}
    for i, creds in enumerate(seen):
        s = creds.client_secret
        needles[f"Client Secret {i}"] = s
        needles[f"part of Client Secret {i}"] = s[5:30]  # a log that strips the prefix
        needles[f"Client Secret {i}, base64"] = base64.b64encode(s.encode()).decode()
        needles[f"Client Secret {i}, URL-encoded"] = quote(s, safe="")
    keys = tokens.core.read_namespaced_secret(KEY_SECRET, OPERATOR_NAMESPACE).data
    assert keys
    assert SEAL_ENTRY in keys
    for name, b64 in keys.items():
        needles[f"signing key {name}, base64"] = str(b64)[:40]
        if name == SEAL_ENTRY:  # raw bytes: base64 (above), hex, URL-safe base64
            raw = base64.b64decode(b64)
            needles["status-seal key, hex"] = raw.hex()[:32]
            needles["status-seal key, base64url"] = base64.urlsafe_b64encode(raw).decode()[:32]
            continue
        pem = base64.b64decode(b64).decode(errors="replace")
        body = [line for line in pem.splitlines() if line and not line.startswith("-----")]
        needles[f"signing key {name}, PEM body"] = body[1]
    for what, needle in needles.items():
        for where, text in places.items():
            assert needle not in text, f"{what} leaked into the {where}"
    assert "DEBUG" in places["operator log"]  # the log was verbose, so the check meant something
