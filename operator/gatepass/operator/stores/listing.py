"""What the API server's stores share: streamed, paged listings and error readings."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from kubernetes_asyncio.client.exceptions import ApiException

from gatepass.liststream import ListStream
from gatepass.operator.stores.protocols import NamespaceMissing

# Objects per list request, and bytes read from a streamed one at a time.
PAGE = 500
CHUNK = 64 * 1024


def refused_for_namespace(e: ApiException, namespace: str) -> NamespaceMissing | None:
    """The NamespaceMissing a refused create stands for, if it does (the API server's
    Status names the kind ``namespaces``; nothing else of the body is read: it may echo
    the request)."""
    if e.status != 404:
        return None
    try:
        details = json.loads(e.body or "{}").get("details") or {}
    except (ValueError, AttributeError):
        return None
    return NamespaceMissing(namespace) if details.get("kind") == "namespaces" else None


def ignore_404(e: ApiException) -> None:
    if e.status != 404:
        raise e


async def _read_list(
    list_fn: Callable[..., Awaitable[Any]], listing: ListStream, *args: Any, **params: Any
) -> AsyncIterator[Any]:
    """The items of one list request, each as soon as it has arrived: the response is
    read unparsed and streamed through ``listing`` (which then holds its metadata)."""
    response = await list_fn(*args, _preload_content=False, **params)
    async with response:
        if response.status != 200:  # unread, the client raises nothing itself
            raise ApiException(status=response.status, reason=response.reason)
        async for item in listing.read(response.content.iter_chunked(CHUNK)):
            yield item


async def pages(list_fn: Callable[..., Awaitable[Any]], *args: Any) -> AsyncIterator[Any]:
    """Every object of a listing, one at a time as its bytes arrive, ``PAGE`` per request.
    Tenants write these objects (up to 1.5 MiB each): a page read whole was every one of
    them in memory at once (gatepass/liststream.py)."""
    more = None
    while True:
        page = ListStream()
        params: dict[str, Any] = {"limit": PAGE, **({"_continue": more} if more else {})}
        async for obj in _read_list(list_fn, page, *args, **params):
            yield obj
        more = page.fields["metadata"].get("continue")
        if not more:
            break
