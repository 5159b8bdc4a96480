"""The gateway's HTTP side: routing, Cloudflare's endpoints, forward-auth, proxying.

Nothing here calls the Kubernetes API: everything comes from :class:`State`,
which the watches keep current.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import aiohttp
from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from multidict import CIMultiDict
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from gatepass.gateway import metrics
from gatepass.gateway.audit import AccessLogger, Decision, access_logger, note, note_original
from gatepass.gateway.auth import Admission, admit, authorize, identify, limit
from gatepass.gateway.forwarded import AUTHORIZE_PATH, original_uri, under_authorize
from gatepass.gateway.headers import ASSERTION_HEADER, FORWARDED_FOR, FORWARDED_HOST, FORWARDED_URIS
from gatepass.gateway.lastseen import LastSeen
from gatepass.gateway.limits import Limits
from gatepass.gateway.middlewares import refusals
from gatepass.gateway.proxy import UpstreamSlots, forward, upstream_url
from gatepass.gateway.refusals import Reason, Refused
from gatepass.gateway.reuse import NO_STORE, cache_headers
from gatepass.gateway.sessions import Sessions, set_cookie
from gatepass.gateway.settings import GatewaySettings
from gatepass.gateway.state import AppRecord, State, TokenRecord
from gatepass.gateway.workload import Workload, WorkloadTokens
from gatepass.routing.clientip import Address, MalformedForwardedFor, client_address
from gatepass.routing.paths import AmbiguousPath, Route, folded, normalized_path, segments

log = logging.getLogger(__name__)
CERTS_PATH = "/cdn-cgi/access/certs"
IDENTITY_PATH = "/cdn-cgi/access/get-identity"
IDENTITY_SEGMENTS = segments(IDENTITY_PATH)  # routed like any request to that path, computed once
OIDC_PATH = "/.well-known/openid-configuration"
Clock = Callable[[], float]
_D = TypeVar("_D")  # what a decision returns: an Admission, or a Caller
# A ServiceAccount token refused for a key we do not hold (yet): fetch the issuer's keys, retry once.
KEYS_MISSING = frozenset({Reason.UNKNOWN_SERVICE_ACCOUNT_KEY, Reason.SERVICE_ACCOUNTS_UNAVAILABLE})
# Clients such as git send Basic credentials only after this challenge.
BASIC_CHALLENGE = {"WWW-Authenticate": 'Basic realm="gatepass", charset="UTF-8"'}


class MalformedRequests(logging.Filter):
    """aiohttp logs a request it cannot parse at ERROR with the parser's exception, whose
    message quotes the offending line: a header value, perhaps a Client Secret. Keep the
    fact (at INFO), drop the text."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, HttpProcessingError):
            record.msg, record.args = "malformed request refused: %s (%s)", (type(error).__name__, error.code)
            record.exc_info = record.exc_text = None
            record.levelno, record.levelname = logging.INFO, "INFO"
        return True


def scrub_server_logs() -> None:
    server_log = logging.getLogger("aiohttp.server")
    if not any(isinstance(f, MalformedRequests) for f in server_log.filters):
        server_log.addFilter(MalformedRequests())


class Gateway:
    def __init__(
        self,
        settings: GatewaySettings,
        state: State,
        ready: Callable[[], bool],
        clock: Clock = time.time,
        last_seen: LastSeen | None = None,
        workloads: WorkloadTokens | None = None,
        refresh_keys: Callable[[], Awaitable[bool]] | None = None,
        ended: Callable[[], list[str]] = list,
    ) -> None:
        self.settings = settings
        self.ended = ended  # background tasks (watches, flushes) that ended: /healthz fails
        self.draining = False  # SIGTERM received: not ready, every answer closes its connection
        self.workloads = workloads  # pods' ServiceAccount tokens (None: turned off)
        self.refresh_keys = refresh_keys
        self.last_seen = last_seen
        self.state = state
        self.ready = ready
        self.clock = clock
        self.sessions = Sessions(settings.issuer, state.keyring, settings.jwt_cache_size)
        self.limits = Limits()
        self.client: aiohttp.ClientSession | None = None
        self.slots = UpstreamSlots(settings.upstream_connections_per_app, settings.upstream_queue_timeout)
        self._jwks: tuple[tuple[str, ...], bytes] | None = None
        self.proxies = settings.proxies  # parsed once

    # lifecycle -----------------------------------------------------------
    async def _start_client(self, _: web.Application) -> None:
        # One pooled client for every upstream, for the life of the process.
        self.client = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=self.settings.upstream_connections, limit_per_host=0),
            timeout=aiohttp.ClientTimeout(total=None, connect=10, sock_read=self.settings.upstream_timeout),
            auto_decompress=False,
            cookie_jar=aiohttp.DummyCookieJar(),  # never keep one client's cookies for another
            # Only what the client sent: aiohttp would otherwise ask every origin
            # for gzip on behalf of clients that never said they could take it.
            skip_auto_headers=("User-Agent", "Accept-Encoding"),
        )

    async def _close_client(self, _: web.Application) -> None:
        if self.client is not None:
            await self.client.close()

    def app(self) -> web.Application:
        app = web.Application(client_max_size=0, middlewares=[refusals])
        app.on_response_prepare.append(self._close_when_draining)
        app.on_startup.append(self._start_client)
        app.on_cleanup.append(self._close_client)
        app.router.add_get(CERTS_PATH, self.certs)
        app.router.add_route("*", AUTHORIZE_PATH, self.authorize)
        app.router.add_route("*", AUTHORIZE_PATH + "/{tail:.*}", self.authorize)  # Envoy's ext_authz
        app.router.add_get(IDENTITY_PATH, self.identity)
        app.router.add_route("*", "/{tail:.*}", self.handle)
        return app

    def runner(self) -> web.AppRunner:
        """The public server, with the client-facing limits (see GatewaySettings)."""
        scrub_server_logs()
        s = self.settings
        return web.AppRunner(
            self.app(),
            access_log=access_logger() if s.access_log else None,
            access_log_class=AccessLogger,
            handle_signals=False,
            keepalive_timeout=s.header_timeout,  # aiohttp: no complete request by then -> closed
            shutdown_timeout=s.shutdown_timeout,  # requests in flight after the drain
            max_line_size=s.max_header_line,
            max_field_size=s.max_header_line,
            max_headers=s.max_headers,
        )

    def admin_app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/healthz", self.healthz)
        app.router.add_get("/readyz", self.readyz)
        app.router.add_get("/metrics", self.metrics)
        return app

    # Cloudflare-compatible endpoints -------------------------------------
    async def certs(self, _: web.Request) -> web.Response:
        kids = tuple(k.kid for k in self.state.keys)
        if self._jwks is None or self._jwks[0] != kids:  # rebuilt only when the keys change
            certs = [{"kid": k.kid, "cert": k.cert_pem} for k in self.state.keys]
            doc = {
                "keys": [k.jwk() for k in self.state.keys],
                "public_cert": certs[0] if certs else None,
                "public_certs": certs,
            }
            self._jwks = (kids, json.dumps(doc).encode())
        return web.Response(
            body=self._jwks[1], content_type="application/json", headers={"Cache-Control": "max-age=300"}
        )

    def _issuer_doc(self) -> dict[str, Any]:
        issuer = self.settings.issuer.rstrip("/")
        return {
            "issuer": self.settings.issuer,
            "jwks_uri": issuer + CERTS_PATH,
            "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["id_token"],
            "subject_types_supported": ["public"],
            "claims_supported": ["aud", "common_name", "exp", "iat", "iss", "sub", "type"],
        }

    # requests --------------------------------------------------------------
    def _client(self, request: web.Request) -> Address | None:
        """The client's address (routing/clientip.py); 400 when a trusted proxy's
        X-Forwarded-For holds something else than an address."""
        try:
            return client_address(request.remote, request.headers.getall(FORWARDED_FOR, []), self.proxies)
        except MalformedForwardedFor:
            raise Refused(Reason.MALFORMED_FORWARDED_FOR, 400) from None

    async def _admit(self, request: web.Request, app: AppRecord) -> Admission:
        """The pipeline both routes share: identify -> authorize -> session, counted and
        remembered as a use; or :class:`Refused`, placed for the access log."""
        ip = self._client(request)
        state, sessions, limits, workloads = self.state, self.sessions, self.limits, self.workloads
        label = _app_label(app)
        try:
            outcome, now = await self._keyed(
                lambda now: admit(
                    request.headers, app, state.tokens_by_id, sessions, now, ip, limits, workloads
                )
            )
        except Refused as e:
            raise _placed(e, app, ip) from None
        self._admitted(request, outcome, label, ip, now)
        if outcome.minted_exp is not None:
            metrics.MINTED.labels(label).inc()
        return outcome

    def _admitted(
        self, request: web.Request, outcome: Admission, label: str, ip: Address | None, now: float
    ) -> None:
        """Counted, noted for the access log, and remembered as the token's use."""
        metrics.REQUESTS.labels(label, outcome.reason).inc()
        client = None if ip is None else str(ip)
        who = outcome.identity
        note(request, Decision(outcome.reason, True, label, who, outcome.policy, client))
        if who is not None and not who.service_account and self.last_seen is not None:
            iat = outcome.session_iat
            self.last_seen.saw(who.namespace, who.name, now, label, client, outcome.previous_secret, iat)

    async def _keyed(self, decide: Callable[[float], _D]) -> tuple[_D, float]:
        """``decide(now)``; again once, if a ServiceAccount token was refused for a key we did
        not hold and the issuer's keys were fetched anew (gateway/discovery.py)."""
        now = self.clock()
        try:
            return decide(now), now
        except Refused as e:
            if e.reason not in KEYS_MISSING or self.refresh_keys is None or not await self.refresh_keys():
                raise
        now = self.clock()
        return decide(now), now

    def _issuers(self) -> tuple[str | None, ...]:
        """Whose JWTs are credentials, never for an origin (gateway/strip.py): the gateway's
        own sessions, and the cluster's ServiceAccount tokens (the issuer discovery found)."""
        return self.settings.issuer, None if self.workloads is None else self.workloads.issuer

    def _cookie(self, outcome: Admission, route: Route[AppRecord]) -> CIMultiDict[str]:
        """The session cookie, with the application's attributes; by default scoped to its
        path, so applications on paths of one host each keep their own
        (auth.session_cookies reads them all). None where it keeps no session."""
        headers: CIMultiDict[str] = CIMultiDict()
        app = route.value
        if outcome.minted_exp is not None and outcome.assertion is not None and app.keeps_sessions:
            max_age = max(0, int(outcome.minted_exp - self.clock()))
            headers["Set-Cookie"] = set_cookie(
                outcome.assertion, max_age, route.path, app, self.settings.cookie_secure
            )
        return headers

    def _route(self, host: str, raw_path: str) -> tuple[str, Route[AppRecord] | None]:
        """The normalized path and the application it falls under; 400 for a path an
        origin could read otherwise (routing/paths.py)."""
        try:
            path = normalized_path(raw_path)
            return path, self.state.route(host, segments(path), folded(path))
        except AmbiguousPath:
            raise Refused(Reason.AMBIGUOUS_PATH, 400) from None

    async def handle(self, request: web.Request) -> web.StreamResponse:
        start = time.perf_counter()
        path, route = self._route(request.host, request.rel_url.raw_path)
        if under_authorize(path):  # a check to the endpoint, spelled otherwise: never the origin's
            raise Refused(Reason.AMBIGUOUS_PATH, 400)
        if route is None:
            if request.path == OIDC_PATH:  # the gateway's own host, not an application's
                return web.json_response(self._issuer_doc())
            raise Refused(Reason.UNKNOWN_HOST, 404)
        app = route.value
        label = _app_label(app)
        # What needs no credentials is refused before any: no JWT minted, no use recorded.
        if app.upstream_refusal is not None:  # the operator reports why in the app's status
            raise Refused(Reason.UPSTREAM_NOT_ALLOWED, 502, app=label)
        url = upstream_url(app.upstream, path, request.rel_url.raw_query_string)
        outcome = await self._admit(request, app)
        assert self.client is not None
        try:
            async with self.slots.slot(label) as free:
                if not free:  # this application's upstream is saturated: it waits, nobody else
                    headers = self._cookie(outcome, route)
                    headers["Retry-After"] = "1"
                    raise Refused(Reason.UPSTREAM_BUSY, 503, app=label, headers=headers)
                cookie = self._cookie(outcome, route)
                strip, issuers = app.credential_headers, self._issuers()
                return await forward(
                    request, self.client, url, outcome.assertion, cookie, label, strip, issuers
                )
        finally:
            metrics.LATENCY.labels(label).observe(time.perf_counter() - start)

    async def authorize(self, request: web.Request) -> web.Response:
        """Forward-auth for ingress controllers: 200 with the assertion, or 401/403. The
        original host and path come from the proxy's headers, or the path from Envoy's
        ext_authz shape (``AUTHORIZE_PATH/<original path>``); where the host has
        applications on paths, a request without the original path is refused (400)
        rather than checked against the wrong application. Each answer says whether, and
        how long, a proxy may reuse it (gateway/reuse.py); a refusal never."""
        try:
            return await self._authorize(request)
        except Refused as e:
            e.headers = {**(e.headers or {}), **NO_STORE}
            raise

    async def _authorize(self, request: web.Request) -> web.Response:
        host = request.headers.get(FORWARDED_HOST) or request.host
        header = next((v for h in FORWARDED_URIS if (v := request.headers.get(h))), None)
        url = request.rel_url
        try:  # the header, or the path Envoy appends to the endpoint's (gateway/forwarded.py)
            uri = original_uri(url.raw_path, url.raw_query_string, header)
        except AmbiguousPath:
            note_original(request, host, header)
            raise Refused(Reason.AMBIGUOUS_PATH, 400) from None
        note_original(request, host, uri)  # the access log's line is about that request
        if uri is None and self.state.routes.has_paths(host):
            raise Refused(Reason.MISSING_FORWARDED_URI, 400)
        route = self._route(host, (uri or "/").split("?", 1)[0])[1]
        if route is None:
            raise Refused(Reason.UNKNOWN_HOST, 404)
        outcome = await self._admit(request, route.value)
        bound = self.settings.authorize_cache_seconds
        headers = CIMultiDict(cache_headers(outcome.reusable_until, self.clock(), bound))
        headers.extend(self._cookie(outcome, route))
        if outcome.assertion is not None:
            headers[ASSERTION_HEADER] = outcome.assertion
        return web.Response(status=200, headers=headers)

    async def identity(self, request: web.Request) -> web.Response:
        """Who the request authenticates as, on an application's host (Cloudflare's
        get-identity, service-token fields): the token's id, name and status, never its
        secret. Needs what the application's policies admit; mints nothing."""
        route = self.state.route(request.host, IDENTITY_SEGMENTS)
        if route is None:
            raise Refused(Reason.UNKNOWN_HOST, 404)
        ip = self._client(request)
        app, tokens, label = route.value, self.state.tokens_by_id, _app_label(route.value)
        try:
            caller, now = await self._keyed(
                lambda now: identify(request.headers, app, tokens, self.sessions, now, self.workloads)
            )
            outcome = authorize(app, caller, ip)
            if outcome.identity is None:  # a bypass: nobody to describe
                raise Refused(Reason.NO_CREDENTIALS)
            limit(outcome, caller, app, self.limits, now)  # counted like any request
        except Refused as e:
            raise _placed(e, app, ip) from None
        self._admitted(request, outcome, label, ip, now)
        if caller.workload is not None:
            document = workload_document(caller.workload, now, str(ip or ""))
        else:
            assert caller.token is not None  # an identity without a workload is a token
            document = identity_document(caller.token, caller.issued_at or now, str(ip or ""))
        return web.json_response(document, headers={"Cache-Control": "no-store"})

    def forget_app(self, namespace: str, name: str) -> None:
        """An application is gone: its metric series and upstream slots go too."""
        label = metrics.app_label(namespace, name)
        metrics.forget_app(label)
        self.slots.forget(label)

    # admin -----------------------------------------------------------------
    async def healthz(self, _: web.Request) -> web.Response:
        ended = self.ended()
        if ended:  # state no longer follows the cluster: let the kubelet restart the pod
            return web.Response(status=500, text=f"background task ended: {', '.join(ended)}")
        return web.Response(text="ok")

    async def _close_when_draining(self, _: web.Request, response: web.StreamResponse) -> None:
        # A keep-alive client learns to reconnect, and its next connection goes to a pod
        # that stays (this one is leaving the endpoints). aiohttp has chosen the Connection
        # header before this hook runs: say it ourselves, or the client would send its next
        # request into a connection we close.
        if self.draining:
            response.force_close()
            response.headers["Connection"] = "close"

    async def readyz(self, _: web.Request) -> web.Response:
        if self.draining:
            return web.Response(status=503, text="draining: shutting down")
        if self.ready():
            return web.Response(text="ok")
        return web.Response(
            status=503, text="waiting for the first full list of tokens, applications and keys"
        )

    async def metrics(self, _: web.Request) -> web.Response:
        metrics.OBJECTS.labels("servicetokens").set(len(self.state.tokens))
        metrics.OBJECTS.labels("accessapplications").set(len(self.state.apps))
        metrics.OBJECTS.labels("signingkeys").set(len(self.state.keys))
        return web.Response(body=generate_latest(), headers={"Content-Type": CONTENT_TYPE_LATEST})


def identity_document(token: TokenRecord, iat: float, ip: str) -> dict[str, Any]:
    """Cloudflare's get-identity fields that apply to a service token (its
    ``service_token_id`` is the Client ID), plus the ServiceToken's name and namespace."""
    return {
        "service_token_id": token.client_id,
        "service_token_status": True,  # authenticated by a service token (not an IdP)
        "name": token.name,
        "namespace": token.namespace,
        "iat": int(iat),
        "ip": ip,
        "version": 1,
    }


def workload_document(who: Workload, iat: float, ip: str) -> dict[str, Any]:
    """get-identity for a pod admitted by its ServiceAccount token."""
    return {
        "common_name": who.subject,
        "service_account": who.name,
        "namespace": who.namespace,
        "pod": who.pod,
        "iat": int(iat),
        "ip": ip,
        "version": 1,
    }


def _placed(e: Refused, app: AppRecord, ip: Address | None) -> Refused:
    """A refusal of the credentials, for this application and address; a 401 challenges
    for Basic credentials where the application takes them."""
    challenge = BASIC_CHALLENGE if e.status == 401 and app.basic_auth else None
    return e.placed(_app_label(app), ip, challenge)


def _app_label(app: AppRecord | None) -> str:
    return "-" if app is None else metrics.app_label(app.namespace, app.name)
