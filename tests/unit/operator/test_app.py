"""What each watch event means (operator/app.py), on the in-memory stores: which queue it
feeds, and that the echo of the operator's own status write feeds none."""

from __future__ import annotations

import asyncio

import pytest

from gatepass.contract import TOKEN_LABEL, TOKENS
from gatepass.models.meta import ObjectMeta
from gatepass.operator.app import OperatorApp
from gatepass.operator.ownwrites import SECRETS
from gatepass.operator.settings import OperatorSettings
from gatepass.operator.workqueue import WorkQueue
from tests.support.fakestores import FakeStores, fake_stores

KEY = ("team-a", "ci-bot")
APP_KEY = ("team-a", "api")


def queued(queue: WorkQueue) -> set[tuple[str, str]]:
    return set(queue._queued)


def operator(stores: FakeStores | None = None) -> OperatorApp:
    config = OperatorSettings(
        namespace="gatepass-system", standalone=True, manage_gateway=False, metrics_port=0
    )
    return OperatorApp(config=config, stores=stores or fake_stores(), leadership=None)


def token_body(version: str) -> dict[str, object]:
    meta = {"namespace": KEY[0], "name": KEY[1], "uid": "u", "resourceVersion": version}
    return {"apiVersion": "gatepass.dev/v1alpha1", "kind": "ServiceToken", "metadata": meta, "spec": {}}


def app_body(hosts: list[str], version: str = "1") -> dict[str, object]:
    meta = {"namespace": APP_KEY[0], "name": APP_KEY[1], "uid": "a", "resourceVersion": version}
    spec = {"hosts": hosts, "upstream": "http://api.team-a:80", "policies": []}
    return {
        "apiVersion": "gatepass.dev/v1alpha1",
        "kind": "AccessApplication",
        "metadata": meta,
        "spec": spec,
    }


def test_a_new_token_is_queued_with_its_body_parsed_once() -> None:
    op = operator()
    op.leading = True
    op.on_token("ADDED", *KEY, "7", token_body("7"))
    assert queued(op.tokens) == {KEY}
    assert KEY in op.known_tokens
    assert op.fresh[KEY].metadata.resource_version == "7"  # no GET for it


def test_a_standby_holds_no_token_bodies() -> None:
    """Its queues do not run: kept bodies would be every token's, tenants' sizes."""
    op = operator()
    op.on_token("ADDED", *KEY, "7", token_body("7"))
    assert KEY in op.known_tokens  # queued for when it leads, read then
    assert op.fresh == {}


def test_the_echo_of_our_own_status_write_starts_no_reconcile() -> None:
    op = operator()
    op.writes.record(TOKENS, ObjectMeta(namespace=KEY[0], name=KEY[1], resource_version="8"))
    op.on_token("MODIFIED", *KEY, "8", token_body("8"))
    assert queued(op.tokens) == set()
    op.on_token("MODIFIED", *KEY, "9", token_body("9"))  # someone else's
    assert queued(op.tokens) == {KEY}
    assert KEY not in op.fresh  # a token we wrote: its event's body may predate our write


def test_a_deleted_token_is_forgotten_everywhere() -> None:
    op = operator()
    op.on_token("ADDED", *KEY, "7", token_body("7"))
    op.writes.record(TOKENS, ObjectMeta(namespace=KEY[0], name=KEY[1], resource_version="8"))
    op.on_token("DELETED", *KEY, "9", token_body("9"))
    assert KEY not in op.known_tokens
    assert KEY not in op.fresh
    assert not op.writes.wrote(TOKENS, *KEY)  # a token made anew under the name is someone else's


def test_a_managed_secrets_event_queues_its_token() -> None:
    op = operator()
    op.on_secret("MODIFIED", KEY[0], "ci-bot-creds", "5", {TOKEN_LABEL: KEY[1]})
    op.on_secret("ADDED", KEY[0], "unrelated", "6", {})
    assert queued(op.tokens) == {KEY}


def test_the_echo_of_our_own_secret_write_starts_no_reconcile() -> None:
    """A new token's Secret comes back as a watch event: without this, a second run (a GET
    of the token and one of its Secret) for every new token."""
    op = operator()
    op.writes.record_version(SECRETS, KEY[0], "ci-bot-creds", "8")
    op.on_secret("ADDED", KEY[0], "ci-bot-creds", "8", {TOKEN_LABEL: KEY[1]})
    assert queued(op.tokens) == set()
    op.on_secret("MODIFIED", KEY[0], "ci-bot-creds", "9", {TOKEN_LABEL: KEY[1]})  # someone else's edit
    assert queued(op.tokens) == {KEY}


def test_a_deleted_secret_queues_its_token_and_its_writes_are_forgotten() -> None:
    op = operator()
    op.writes.record_version(SECRETS, KEY[0], "ci-bot-creds", "8")
    op.on_secret("DELETED", KEY[0], "ci-bot-creds", "8", {TOKEN_LABEL: KEY[1]})
    assert queued(op.tokens) == {KEY}
    assert not op.writes.wrote(SECRETS, KEY[0], "ci-bot-creds")


def test_an_application_is_queued_and_its_hosts_claimed() -> None:
    op = operator()
    op.on_app("ADDED", *APP_KEY, app_body(["api.example.com"]))
    assert queued(op.apps) == {APP_KEY}
    assert APP_KEY in op.known_apps
    assert op.hosts.claims[APP_KEY]
    op.on_app("DELETED", *APP_KEY, app_body(["api.example.com"]))
    assert APP_KEY not in op.known_apps
    assert APP_KEY not in op.hosts.claims


@pytest.mark.asyncio
async def test_at_start_it_learns_every_token_and_application_then_queues_them_all() -> None:
    stores = fake_stores()
    stores.tokens.create(*KEY)
    stores.apps.create(*APP_KEY, app_body(["api.example.com"])["spec"])  # type: ignore[arg-type]
    op = operator(stores)
    assert op.unready() == "starting"
    await op.start()
    try:
        assert op.leading
        assert op.unready() is None
        assert KEY in op.known_tokens
        assert APP_KEY in op.known_apps
        # ...and queued them: the leader's queues issue the token and write the app's aud.
        for _ in range(200):
            token, app = await stores.tokens.get(*KEY), await stores.apps.get(*APP_KEY)
            if token and token.status.client_id and app and app.status.aud:
                break
            await asyncio.sleep(0.02)
        assert token is not None
        assert token.status.client_id is not None
        assert app is not None
        assert app.status.aud is not None
    finally:
        await op.stop()
