"""An unread API answer (``_preload_content=False``), as kubernetes_asyncio hands out
aiohttp's response: status, reason and the body (a listing, or raw bytes such as a watch's)
in chunks, counting the chunks read."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any


class Content:
    def __init__(self, response: Response) -> None:
        self.response = response

    async def iter_chunked(self, size: int) -> AsyncIterator[bytes]:
        for start in range(0, len(self.response.body), size):
            self.response.read += 1
            yield self.response.body[start : start + size]


class Response:
    def __init__(self, listing: dict[str, Any] | bytes, status: int = 200) -> None:
        self.body = listing if isinstance(listing, bytes) else json.dumps(listing).encode()
        self.status, self.reason = status, "OK" if status == 200 else "Error"
        self.read = 0  # chunks handed out so far
        self.content = Content(self)

    def chunks(self, size: int) -> int:
        return -(-len(self.body) // size)

    async def __aenter__(self) -> Response:
        return self

    async def __aexit__(self, *_: object) -> None:
        pass
