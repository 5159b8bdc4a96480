"""One ServiceToken reconcile carried out against the in-memory stores
(tests/support/fakestores.py): issue, rotate with a grace, a crash half way and the
resume, a conflict, a refused Secret. The API server's side is tested in tests/e2e."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from kubernetes_asyncio.client.exceptions import ApiException

from gatepass.contract import CLIENT_ID_KEY, CLIENT_SECRET_KEY, ROTATE_ANNOTATION
from gatepass.models.conditions import READY, find
from gatepass.models.servicetoken import ServiceToken
from gatepass.operator.ownwrites import SECRETS
from gatepass.operator.reconcile import Reconciler, SecretRefused
from gatepass.operator.sealkey import SealKey
from gatepass.operator.tokensecret import decoded
from gatepass.operator.workqueue import Retry
from gatepass.trust.credentials import secret_hash
from gatepass.trust.seal import generate_key
from tests.support.fakestores import Body, FakeStores, fake_stores

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
KEY = ("team-a", "ci-bot")


class Crash(Exception):
    """The process dies here (failpoints.py kills it for real in tests/e2e)."""


def seal_key() -> SealKey:
    seal = SealKey()
    seal.set(generate_key())
    return seal


async def token(stores: FakeStores) -> ServiceToken:
    found = await stores.tokens.get(*KEY)
    assert found is not None
    return found


async def credentials(stores: FakeStores, t: ServiceToken) -> dict[str, str]:
    secret = await stores.secrets.get(KEY[0], t.secret_name)
    assert secret is not None
    return decoded(secret)


def rotate(stores: FakeStores, ask: str) -> None:
    def annotate(body: Body) -> None:
        body["metadata"].setdefault("annotations", {})[ROTATE_ANNOTATION] = ask

    stores.tokens.edit(*KEY, annotate)


@pytest.mark.asyncio
async def test_a_new_token_gets_a_secret_whose_credentials_status_vouches_for() -> None:
    stores, seal = fake_stores(), seal_key()
    stores.tokens.create(*KEY)
    await Reconciler(stores, seal, clock=lambda: NOW)(KEY)
    t = await token(stores)
    data = await credentials(stores, t)
    assert data[CLIENT_ID_KEY] == t.status.client_id
    assert secret_hash(data[CLIENT_SECRET_KEY]) == t.status.secret_hash
    assert t.status.pending_secret_hash is None
    assert t.status.observed_generation == 1
    condition = find(t.status.conditions, READY)
    assert condition is not None
    assert condition.status == "True"
    secret = await stores.secrets.get(KEY[0], t.secret_name)
    assert [(o.uid, o.controller) for o in secret.metadata.owner_references] == [(t.metadata.uid, True)]
    assert t.status.secret_hash not in repr(stores.events.posted)  # the secret's hash neither


@pytest.mark.asyncio
async def test_the_secret_written_is_recorded_as_our_own_write() -> None:
    """Its watch event is then recognised (operator/app.py): no second run per new token."""
    stores, seal = fake_stores(), seal_key()
    stores.tokens.create(*KEY)
    reconcile = Reconciler(stores, seal, clock=lambda: NOW)
    await reconcile(KEY)
    t = await token(stores)
    secret = await stores.secrets.get(KEY[0], t.secret_name)
    assert secret is not None
    assert reconcile.writes.own(SECRETS, KEY[0], t.secret_name, secret.metadata.resource_version)


@pytest.mark.asyncio
async def test_a_rotation_keeps_the_previous_secret_for_its_grace() -> None:
    stores, seal = fake_stores(), seal_key()
    stores.tokens.create(*KEY, spec={"rotationGracePeriod": "1h"})
    at = [NOW]
    reconcile = Reconciler(stores, seal, clock=lambda: at[0])
    await reconcile(KEY)
    before = await token(stores)
    rotate(stores, "first")
    later = at[0] = NOW + timedelta(minutes=5)
    await reconcile(KEY)
    after = await token(stores)
    data = await credentials(stores, after)
    assert after.status.client_id == before.status.client_id  # same Client ID, new secret
    assert after.status.secret_hash == secret_hash(data[CLIENT_SECRET_KEY]) != before.status.secret_hash
    assert after.status.previous_secret_hash == before.status.secret_hash
    assert after.status.previous_secret_expires_at == later + timedelta(hours=1)
    assert after.status.last_rotate_request == "first"
    await reconcile(KEY)  # asked once: no second rotation
    assert (await token(stores)).status.secret_hash == after.status.secret_hash


@pytest.mark.asyncio
async def test_a_crash_after_the_secret_write_resumes_with_the_secret_written(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Pending status, Secret, crash before the final status: the restarted operator
    finalizes the credential the Secret holds (consumers may already use it)."""
    stores, seal = fake_stores(), seal_key()
    stores.tokens.create(*KEY)
    writes = 0

    def crash_on_second(_: ServiceToken) -> None:
        nonlocal writes
        writes += 1
        if writes == 2:
            raise Crash

    stores.tokens.before_status_write = crash_on_second
    with pytest.raises(Crash):
        await Reconciler(stores, seal, clock=lambda: NOW)(KEY)
    pending = await token(stores)
    assert pending.status.pending_secret_hash is not None
    written = await credentials(stores, pending)
    stores.tokens.before_status_write = lambda _: None
    with caplog.at_level(logging.INFO, logger="gatepass.operator.reconcile"):
        await Reconciler(stores, seal, clock=lambda: NOW + timedelta(seconds=5))(KEY)  # a new process
    t = await token(stores)
    assert await credentials(stores, t) == written  # not issued again
    assert t.status.secret_hash == secret_hash(written[CLIENT_SECRET_KEY])
    assert t.status.client_id == written[CLIENT_ID_KEY]
    assert t.status.pending_secret_hash is None
    assert stores.secrets.writes == 1
    assert "Finalize" in caplog.text


@pytest.mark.asyncio
async def test_a_crash_before_the_secret_write_resumes_to_one_valid_credential() -> None:
    stores, seal = fake_stores(), seal_key()
    stores.tokens.create(*KEY)
    real_put = stores.secrets.put

    async def crash(secret: Any, existing: Any) -> None:
        raise Crash

    stores.secrets.put = crash  # type: ignore[method-assign]
    with pytest.raises(Crash):
        await Reconciler(stores, seal, clock=lambda: NOW)(KEY)
    assert (await token(stores)).status.pending_secret_hash is not None
    stores.secrets.put = real_put  # type: ignore[method-assign]
    await Reconciler(stores, seal, clock=lambda: NOW)(KEY)
    t = await token(stores)
    data = await credentials(stores, t)
    assert secret_hash(data[CLIENT_SECRET_KEY]) == t.status.secret_hash
    assert t.status.pending_secret_hash is None


@pytest.mark.asyncio
async def test_someone_elses_write_between_read_and_write_is_a_retry_not_an_overwrite() -> None:
    stores, seal = fake_stores(), seal_key()
    stores.tokens.create(*KEY)

    def meanwhile(_: ServiceToken) -> None:
        stores.tokens.edit(*KEY, lambda b: b["metadata"].setdefault("labels", {}).update(team="a"))

    stores.tokens.before_status_write = meanwhile
    with pytest.raises(Retry):
        await Reconciler(stores, seal, clock=lambda: NOW)(KEY)
    t = await token(stores)
    assert t.metadata.labels == {"team": "a"}  # theirs kept
    assert t.status.pending_secret_hash is None  # ours not written
    assert await stores.secrets.get(KEY[0], t.secret_name) is None  # nor the Secret: status goes first


@pytest.mark.asyncio
async def test_a_refused_secret_is_said_in_status_and_once_in_an_event() -> None:
    stores, seal = fake_stores(), seal_key()
    stores.tokens.create(*KEY)
    stores.secrets.refusal = ApiException(status=403, reason="Forbidden")
    reconcile = Reconciler(stores, seal, clock=lambda: NOW)
    for _ in range(2):
        with pytest.raises(SecretRefused):
            await reconcile(KEY)
    condition = find((await token(stores)).status.conditions, READY)
    assert condition is not None
    assert (condition.status, condition.reason) == ("False", "SecretRefused")
    assert "403 Forbidden" in condition.message
    assert stores.events.reasons() == ["SecretRefused"]  # said once, not per retry
    stores.secrets.refusal = None
    await reconcile(KEY)
    t = await token(stores)
    assert secret_hash((await credentials(stores, t))[CLIENT_SECRET_KEY]) == t.status.secret_hash


@pytest.mark.asyncio
async def test_a_hostile_seal_time_on_a_status_without_credentials_jams_nothing() -> None:
    """A status without credentials is trusted without its seal being checked: the time a
    tenant writes there must never become the newest-seal mark (every later seal would be
    out of the format's range, and the token never issued)."""
    stores, seal = fake_stores(), seal_key()
    stores.tokens.create(*KEY)

    def hostile(body: Body) -> None:
        body["status"] = {"sealV2": "v2.9999999999999998.x"}

    stores.tokens.edit(*KEY, hostile)
    reconcile = Reconciler(stores, seal, clock=lambda: NOW)
    await reconcile(KEY)
    t = await token(stores)
    assert t.status.client_id is not None
    assert reconcile.freshness.newest(KEY) < 10**16 - 1
    await reconcile(KEY)  # and again: nothing raises
