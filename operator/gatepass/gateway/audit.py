"""The access log: one JSON line per request the public port answers.

Who reached what, decided how, for whom: the gateway notes its decision on the
request (:func:`note`), and aiohttp's access logger, called once the response is
out, writes the line with the final status and latency. The schema is in the
README ("Access log"); it never holds a secret, a JWT, a header or a query string. For
forward-auth it also names the request the ingress asked about (:func:`note_original`).
"""

from __future__ import annotations

import json
import logging
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiohttp.abc import AbstractAccessLogger
from aiohttp.web import BaseRequest, RequestKey, StreamResponse

from gatepass.decisions.policy import Identity

LOGGER = "gatepass.access"


@dataclass(frozen=True)
class Decision:
    """What the gateway decided about a request, as far as it got."""

    reason: str
    allowed: bool | None = None  # None: refused before any credential was looked at
    app: str | None = None  # namespace/name
    identity: Identity | None = None
    policy: str = ""
    client: str | None = None  # the client address (routing/clientip.py)


KEY = RequestKey("gatepass.access", Decision)  # where the decision waits on the request


@dataclass(frozen=True)
class Original:
    """Forward-auth: the request the ingress asks about (its host, and its path without
    the query, which may carry anything; None when the ingress sent none)."""

    host: str
    path: str | None


ORIGINAL = RequestKey("gatepass.original", Original)


def note(request: BaseRequest, decision: Decision) -> None:
    request[KEY] = decision


def note_original(request: BaseRequest, host: str, uri: str | None) -> None:
    request[ORIGINAL] = Original(host, None if uri is None else uri.split("?", 1)[0].split("#", 1)[0])


def entry(
    when: datetime,
    method: str,
    host: str,
    path: str,
    status: int,
    seconds: float,
    decision: Decision | None,
    original: Original | None = None,
) -> dict[str, Any]:
    """One line of the access log, as a dict (the README documents each field)."""
    d = decision or Decision(reason="")
    who = d.identity
    token = None if who is None or who.service_account else who
    account = who if who is not None and who.service_account else None
    return {
        "time": when.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "method": method,
        "host": host,
        "path": path,
        "status": status,
        "latencyMs": round(seconds * 1000, 3),
        "app": d.app,
        "decision": None if d.allowed is None else ("allow" if d.allowed else "deny"),
        "reason": d.reason or None,
        "policy": d.policy or None,
        "token": None
        if token is None
        else {"namespace": token.namespace, "name": token.name, "clientId": token.client_id},
        "serviceAccount": None
        if account is None
        else {"namespace": account.namespace, "name": account.name, "pod": account.pod},
        "client": d.client,
        "originalHost": None if original is None else original.host,
        "originalPath": None if original is None else original.path,
    }


class AccessLogger(AbstractAccessLogger):
    """aiohttp's access-log hook, writing :func:`entry` as JSON."""

    def log(self, request: BaseRequest, response: StreamResponse, time: float) -> None:
        line = entry(
            datetime.now(UTC),
            request.method,
            request.host,
            request.rel_url.raw_path,  # as sent, without the query: it may carry anything
            response.status,
            time,
            request.get(KEY),
            request.get(ORIGINAL),
        )
        text = json.dumps(line, separators=(",", ":"))
        handlers = self.logger.handlers
        if len(handlers) == 1 and type(handlers[0]) is StdoutLines:
            # Only our own stdout handler: the line as it would format it, without a
            # LogRecord per request (a sixth of the cookie path's time under load).
            handlers[0].write(text)
        else:
            self.logger.info(text)


class StdoutLines(logging.StreamHandler):  # type: ignore[type-arg]
    """The access log's own handler: bare lines on stdout."""

    def __init__(self) -> None:
        super().__init__(sys.stdout)
        self.setFormatter(logging.Formatter("%(message)s"))

    def write(self, text: str) -> None:
        with self.lock:  # type: ignore[union-attr]
            self.stream.write(text + self.terminator)
            self.stream.flush()


def access_logger() -> logging.Logger:
    """The access log's logger: bare JSON lines on stdout, apart from the process's log."""
    logger = logging.getLogger(LOGGER)
    if not logger.handlers:
        logger.addHandler(StdoutLines())
    logger.propagate = False
    logger.setLevel(logging.INFO)
    return logger
