"""Forward a request to the application's upstream, streaming both ways."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Collection

import aiohttp
from aiohttp import web
from multidict import CIMultiDict
from yarl import URL

from gatepass.gateway.headers import (
    ASSERTION_HEADER,
    CLIENT_ID_HEADER,
    CLIENT_SECRET_HEADER,
    COOKIE_HEADER,
    TOKEN_HEADER,
)
from gatepass.gateway.refusals import Reason, Refused
from gatepass.gateway.strip import cookies, is_credential

log = logging.getLogger(__name__)

# RFC 9110 7.6.1 hop-by-hop fields, plus ones we set or must never pass on.
HOP_BY_HOP = frozenset(
    h.lower()
    for h in (
        "Connection",
        "Keep-Alive",
        "Proxy-Authenticate",
        "Proxy-Authorization",
        "TE",
        "Trailer",
        "Transfer-Encoding",
        "Upgrade",
        "Host",
        "Content-Length",
    )
)
# Never to the origin, whatever their value: Cloudflare's credential headers, and any
# assertion the client made up (only the gateway's own JWT is passed on). Credentials
# under other names go by their value (gateway/strip.py).
STRIPPED_UPSTREAM = frozenset(
    h.lower() for h in (CLIENT_ID_HEADER, CLIENT_SECRET_HEADER, ASSERTION_HEADER, TOKEN_HEADER)
)
_COOKIE = COOKIE_HEADER.lower()


def upstream_url(base: URL, path: str, query: str) -> URL:
    """``path``: the request's, normalized (routing/paths.normalized_path)."""
    return base.with_path(base.raw_path.rstrip("/") + path, encoded=True).with_query(query or None)


class UpstreamSlots:
    """At most ``limit`` requests in flight per application: a slow upstream fills its
    own slots and makes its own callers wait (then 503), never anyone else's."""

    def __init__(self, limit: int, wait: float) -> None:
        self.limit = limit
        self.wait = wait
        self._slots: dict[str, asyncio.Semaphore] = {}

    @contextlib.asynccontextmanager
    async def slot(self, app: str) -> AsyncIterator[bool]:
        """Yields True with a slot held, or False when none came free in time."""
        sem = self._slots.get(app)
        if sem is None:
            sem = self._slots[app] = asyncio.Semaphore(self.limit)
        if not sem.locked():
            await sem.acquire()  # a free slot: no timer, no task (the common case)
        else:
            try:
                await asyncio.wait_for(sem.acquire(), self.wait)
            except TimeoutError:
                yield False
                return
        try:
            yield True
        finally:
            sem.release()

    def forget(self, app: str) -> None:
        self._slots.pop(app, None)


def request_headers(
    request: web.Request,
    assertion: str | None,
    credentials: frozenset[str] = frozenset(),
    issuers: Collection[str | None] = (),
) -> CIMultiDict[str]:
    """What the origin gets. ``credentials``: the lowercase names of the headers that may
    carry this application's credentials (AppRecord.credential_headers), also stripped;
    every other header goes only if its value is no credential (gateway/strip.py, which
    ``issuers`` is for)."""
    connection = {v.strip().lower() for v in request.headers.get("Connection", "").split(",")}
    out: CIMultiDict[str] = CIMultiDict()
    for name, value in request.headers.items():
        low = name.lower()
        # CGI/WSGI origins read "_" and "-" alike (CF_ACCESS_CLIENT_SECRET ->
        # HTTP_CF_ACCESS_CLIENT_SECRET): strip every spelling of what we strip.
        dashed = low.replace("_", "-")
        if low in HOP_BY_HOP or dashed in STRIPPED_UPSTREAM or dashed in credentials or low in connection:
            continue
        if low == _COOKIE:
            value = cookies(value, assertion, issuers)
            if not value:
                continue
        elif is_credential(value, issuers):
            continue
        out.add(name, value)
    if assertion is not None:
        out[ASSERTION_HEADER] = assertion
    peer = request.remote or ""
    prior = request.headers.get("X-Forwarded-For")
    out["X-Forwarded-For"] = f"{prior}, {peer}" if prior else peer
    out["X-Forwarded-Host"] = request.host
    out["X-Forwarded-Proto"] = request.scheme
    return out


def response_headers(resp: aiohttp.ClientResponse) -> CIMultiDict[str]:
    connection = {v.strip().lower() for v in resp.headers.get("Connection", "").split(",")}
    out: CIMultiDict[str] = CIMultiDict()
    for name, value in resp.headers.items():
        low = name.lower()
        if (low in HOP_BY_HOP and low != "content-length") or low in connection:
            continue
        out.add(name, value)
    return out


async def forward(
    request: web.Request,
    session: aiohttp.ClientSession,
    url: URL,
    assertion: str | None,
    extra_headers: CIMultiDict[str],
    label: str = "-",
    credentials: frozenset[str] = frozenset(),
    issuers: Collection[str | None] = (),
) -> web.StreamResponse:
    """Send the request to ``url`` (from :func:`upstream_url`) and stream the answer back;
    :class:`Refused` when the upstream gives none."""
    body = request.content if request.body_exists else None
    out: web.StreamResponse | None = None
    try:
        async with session.request(
            request.method,
            url,
            headers=request_headers(request, assertion, credentials, issuers),
            data=body,
            allow_redirects=False,
            auto_decompress=False,
        ) as resp:
            headers = response_headers(resp)
            headers.extend(extra_headers)
            out = web.StreamResponse(status=resp.status, reason=resp.reason, headers=headers)
            await out.prepare(request)
            async for chunk in resp.content.iter_chunked(65536):
                await out.write(chunk)
            await out.write_eof()
            return out
    except (TimeoutError, aiohttp.ClientError, OSError) as e:
        log.warning("upstream %s of %s failed: %s", url.origin(), label, type(e).__name__)
        if out is not None:  # status already sent: all we can do is cut the response short
            raise ConnectionResetError("upstream failed mid-response") from None
        timeout = isinstance(e, TimeoutError)
        code, status = (Reason.UPSTREAM_TIMEOUT, 504) if timeout else (Reason.UPSTREAM_UNAVAILABLE, 502)
        # The client did authenticate: it keeps its session cookie for the retry.
        raise Refused(code, status, app=label, headers=extra_headers) from None
