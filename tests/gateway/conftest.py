"""The gateway over real HTTP on loopback, with a real upstream, state fed directly.

State is built from API-shaped objects through the same conversion the
watches use, so these tests cover everything but the watching itself (which
tests/e2e covers against the API server).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from aiohttp import web

from gatepass.gateway.lastseen import LastSeen
from gatepass.gateway.server import Gateway
from gatepass.gateway.settings import GatewaySettings
from gatepass.gateway.state import State, app_record, token_record
from gatepass.gateway.workload import WorkloadTokens
from gatepass.models.servicetoken import ServiceTokenStatus
from gatepass.routing.upstreams import UpstreamPolicy
from gatepass.trust.credentials import new_client_id, new_client_secret, secret_hash
from gatepass.trust.seal import Sealer, generate_key
from gatepass.trust.signing import SigningKey, generate, load, to_secret_data
from tests.support.waiting import free_port

ISSUER = "https://access.test"
NS = "team-a"


@dataclass
class Clock:
    now: float = field(default_factory=lambda: datetime.now(UTC).timestamp())

    def __call__(self) -> float:
        return self.now


@dataclass
class Token:
    namespace: str
    name: str
    client_id: str
    client_secret: str

    @property
    def headers(self) -> dict[str, str]:
        return {"CF-Access-Client-Id": self.client_id, "CF-Access-Client-Secret": self.client_secret}


@pytest.fixture(scope="session")
def signing_keys() -> list[SigningKey]:
    """Two keys, generated once (RSA key generation is slow): [newest, older]."""
    now = datetime.now(UTC)
    older = generate(now - timedelta(days=1), ISSUER)
    newest = generate(now, ISSUER)
    return load(to_secret_data([older, newest]))


class World:
    """State + gateway + upstream, on loopback ports."""

    def __init__(
        self,
        keys: list[SigningKey],
        workloads: WorkloadTokens | None = None,
        refresh_keys: Callable[[], Awaitable[bool]] | None = None,
        **settings: Any,
    ) -> None:
        self.clock = Clock()
        self.settings = GatewaySettings(
            issuer=ISSUER, cookie_secure=True, port=free_port(), admin_port=0, **settings
        )
        # The upstream runs on loopback here: allowed explicitly, as a cluster admin would.
        upstreams = UpstreamPolicy(allow=("127.0.0.1",), own_ports=frozenset({9091}))
        self.state = State(upstreams=upstreams, strict=self.settings.strict_service_token_auth)
        self.state.set_keys([keys[0]])
        self.sealer = Sealer(generate_key())  # the operator's status-seal key
        self.state.set_sealer(self.sealer)
        self.all_keys = keys
        self.last_seen = LastSeen()  # what the gateway would report (flushed by its own loop)
        self.gateway = Gateway(
            self.settings,
            self.state,
            ready=lambda: True,
            clock=self.clock,
            last_seen=self.last_seen,
            workloads=workloads,
            refresh_keys=refresh_keys,
        )
        self.seen: list[dict[str, Any]] = []  # what the upstream received
        self.url = f"http://127.0.0.1:{self.settings.port}"
        self.upstream_port = free_port()

    # objects ----------------------------------------------------------------
    def token(
        self, name: str, namespace: str = NS, spec: dict[str, Any] | None = None, **status: Any
    ) -> Token:
        tok = Token(namespace, name, new_client_id(), new_client_secret())
        self.put_token(tok, spec=spec, **status)
        return tok

    def sealed_status(self, tok: Token, **status: Any) -> dict[str, Any]:
        """The token's status as the operator writes it, seal included."""
        st = {"clientId": tok.client_id, "secretHash": secret_hash(tok.client_secret), **status}
        record = ServiceTokenStatus.model_validate(st)
        return {**st, **self.sealer.stamps(self.uid(tok), tok.namespace, tok.name, record)}

    @staticmethod
    def uid(tok: Token) -> str:
        return f"uid-{tok.namespace}-{tok.name}"

    def put_token(
        self,
        tok: Token,
        enabled: bool = True,
        sealed: bool = True,
        spec: dict[str, Any] | None = None,
        **status: Any,
    ) -> None:
        """As the operator writes it (sealed), or as a tenant could (``sealed=False``)."""
        st = (
            self.sealed_status(tok, **status)
            if sealed
            else {"clientId": tok.client_id, "secretHash": secret_hash(tok.client_secret), **status}
        )
        obj = {
            "metadata": {"namespace": tok.namespace, "name": tok.name, "uid": self.uid(tok)},
            "spec": {"enabled": enabled, **(spec or {})},
            "status": st,
        }
        self.state.put_token((tok.namespace, tok.name), token_record(obj))

    def delete_token(self, tok: Token) -> None:
        self.state.put_token((tok.namespace, tok.name), None)

    def app(self, name: str, hosts: list[str], policies: list[dict[str, Any]], **extra: Any) -> str:
        """Serve an application; returns its aud (which the gateway derives from the uid)."""
        status = extra.pop("status", {})
        namespace = extra.pop("namespace", NS)
        uid = f"uid-{namespace}-{name}"
        obj = {
            "metadata": {"namespace": namespace, "name": name, "uid": uid},
            "spec": {
                "hosts": hosts,
                "upstream": extra.pop("upstream", f"http://127.0.0.1:{self.upstream_port}/base"),
                "policies": policies,
                **extra,
            },
            "status": status,
        }
        record = app_record(obj)
        assert record is not None
        self.state.put_app((record.namespace, record.name), record)
        return self.sealer.aud(uid)

    # servers ------------------------------------------------------------------
    async def _upstream(self, request: web.Request) -> web.Response:
        if "slow" in request.path:  # an origin that takes its time
            await asyncio.sleep(float(request.query.get("s", "2")))
        body = await request.read()
        self.seen.append({"path": request.path_qs, "headers": dict(request.headers), "body": body.decode()})
        return web.json_response({"ok": True, "path": request.path_qs}, headers={"X-Upstream": "yes"})

    async def start(self) -> None:
        up = web.Application()
        up.router.add_route("*", "/{tail:.*}", self._upstream)
        self.up_runner = web.AppRunner(up)
        await self.up_runner.setup()
        await web.TCPSite(self.up_runner, "127.0.0.1", self.upstream_port).start()
        self.runner = self.gateway.runner()
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.settings.port).start()
        self.http = aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar())

    async def stop(self) -> None:
        await self.http.close()
        await self.runner.cleanup()
        await self.up_runner.cleanup()

    async def get(
        self, host: str, path: str = "/hello", headers: dict[str, str] | None = None, **kw: Any
    ) -> tuple[int, dict[str, Any] | str, aiohttp.ClientResponse]:
        async with self.http.get(
            self.url + path, headers={"Host": host, **(headers or {})}, allow_redirects=False, **kw
        ) as resp:
            text = await resp.text()
            try:
                body: dict[str, Any] | str = json.loads(text)
            except ValueError:
                body = text
            return resp.status, body, resp


@pytest_asyncio.fixture
async def world(signing_keys: list[SigningKey]) -> AsyncIterator[World]:
    w = World(signing_keys)
    await w.start()
    yield w
    await w.stop()
