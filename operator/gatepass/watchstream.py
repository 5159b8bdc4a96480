"""A Kubernetes watch response, read event by event as its bytes arrive.

A watch streams one JSON object per line, ``{"type": ..., "object": {...}}``, each line
as long as its object's JSON: up to ~9 MiB when a tenant fills 1.5 MiB (etcd's request
limit) with characters JSON escapes six to one (``\\u0001``; a ServiceAccount measured
8.8 MB). kubernetes_asyncio's Watch reads a line with aiohttp's ``readline()``, limited
to 4 MiB (twice its read buffer): a longer event raised ``LineTooLong``, and the gateway
listed every object of the kind again, per write of that one object. Here a line has no
limit but the API server's: its bytes are kept as they arrive, parsed once the newline
comes (the server writes compact JSON, whose strings escape any newline), and the event
handed over, so what is held is about one event, whatever the stream carries: 17 MiB
while reading an 8 MiB event (tracemalloc), 48 MiB with one emoji in it (Python's
4-byte strings). Pure: the caller does the I/O.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterable, AsyncIterator, Iterator
from typing import Any


class Malformed(ValueError):
    """A line of the watch is not a JSON object."""


class Truncated(Malformed):
    """The watch ended inside an event (it was cut: watch again from the last version seen)."""


class WatchStream:
    """Feed the bytes of one watch response; take each event as its line completes."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []  # the current line so far

    def feed(self, data: bytes, end: bool = False) -> Iterator[dict[str, Any]]:
        """The events completed by ``data`` (``end``: nothing follows it)."""
        start = 0
        while (newline := data.find(b"\n", start)) >= 0:
            self._parts.append(data[start:newline])
            start = newline + 1
            line, self._parts = b"".join(self._parts), []
            if line.strip():
                yield _event(line)
        if start < len(data):
            self._parts.append(data[start:])
        if end and any(part.strip() for part in self._parts):
            self._parts = []
            raise Truncated("the watch ended inside an event")

    async def read(self, chunks: AsyncIterable[bytes]) -> AsyncIterator[dict[str, Any]]:
        """Each event of the watch whose bytes ``chunks`` are, as soon as it is whole."""
        async for chunk in chunks:
            for event in self.feed(chunk):
                yield event
        for event in self.feed(b"", end=True):
            yield event


def _event(line: bytes) -> dict[str, Any]:
    try:
        event = json.loads(line)
    except ValueError:
        raise Malformed("a watch event that is not JSON") from None  # no quote of a tenant's text
    if not isinstance(event, dict):
        raise Malformed("a watch event that is not a JSON object")
    return event
