"""Writes whose answer the operator does not keep, sent with ``_preload_content=False``.

kubernetes_asyncio turns every answer into its typed models (a Secret's or an Event's
every field an object, each timestamp through dateutil): a sixth of the operator's CPU
while issuing thousands of tokens, for answers it threw away. Here the answer is read as
bytes; a refusal is the same ApiException the client raises (status, reason, body).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable
from typing import Any

from kubernetes_asyncio.client.exceptions import ApiException


async def sent(request: Awaitable[Any]) -> bytes:
    """The answer's bytes, of a request made with ``_preload_content=False``; ApiException
    for a status outside 2xx, as the client raises it."""
    response = await request
    async with response:
        data: bytes = await response.read()
        if not 200 <= response.status <= 299:  # what the client's own ApiException holds
            refused = ApiException(status=response.status, reason=response.reason)
            refused.body, refused.headers = data, response.headers
            raise refused
    return data


def resource_version(answer: bytes) -> str:
    """The resourceVersion of the object an answer carries (nothing else of it is kept)."""
    return str(json.loads(answer)["metadata"]["resourceVersion"])
