"""The public server's middleware: every :class:`Refused` becomes, in one place, the JSON
body, the metric and the access log's decision (gateway/refusals.py)."""

from __future__ import annotations

import logging
from dataclasses import replace

from aiohttp import web
from aiohttp.typedefs import Handler

from gatepass.gateway import metrics
from gatepass.gateway.audit import KEY, Decision, note
from gatepass.gateway.refusals import Reason, Refused

log = logging.getLogger(__name__)


@web.middleware
async def refusals(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except Refused as e:
        return answer(request, e)


def answer(request: web.Request, e: Refused) -> web.Response:
    """``{"error": reason}`` with the refusal's status and headers, counted and noted for
    the access log (keeping a decision already made: an admitted request may still find
    its upstream busy)."""
    label = e.app or "-"
    if e.reason.upstream:
        metrics.UPSTREAM_ERRORS.labels(label, e.reason).inc()
    else:
        metrics.REQUESTS.labels(label, e.reason).inc()
    who = e.identity
    if e.reason is Reason.RATE_LIMITED and who is not None:
        metrics.RATE_LIMITED.labels(who.namespace, who.name).inc()
    noted = request.get(KEY)
    if noted is not None:
        note(request, replace(noted, reason=e.reason))
    else:
        allowed = False if e.weighed else None
        client = None if e.client is None else str(e.client)
        note(request, Decision(e.reason, allowed, e.app, who, e.policy, client))
    if e.weighed:
        log.debug(  # the access log has every refusal
            "refused %s %s%s: %d %s (app %s, client id %s)",
            request.method,
            request.host,
            request.path,
            e.status,
            e.reason,
            label,
            who.client_id if who else "-",
        )
    return web.json_response({"error": e.reason}, status=e.status, headers=e.headers)
