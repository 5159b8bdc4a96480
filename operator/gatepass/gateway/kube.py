"""The gateway's connection to the Kubernetes API (it only lists and watches, reads the
service-account issuer's keys, and patches its last-seen ConfigMap)."""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable
from typing import Any, Protocol

from kubernetes_asyncio import client, config
from kubernetes_asyncio.client.exceptions import ApiException


async def connect() -> client.ApiClient:
    """In-cluster config when running in a pod, else KUBECONFIG / ~/.kube/config."""
    try:
        config.load_incluster_config()  # type: ignore[no-untyped-call]
    except config.ConfigException:
        await config.load_kube_config()
    return client.ApiClient()


# Bytes read from a list or watch response at a time (gatepass/liststream.py,
# gatepass/watchstream.py).
CHUNK = 64 * 1024


class Reader(Protocol):
    """A ListStream or a WatchStream: what one response's bytes hold, piece by piece."""

    def read(self, chunks: AsyncIterable[bytes]) -> AsyncIterator[Any]: ...


async def read_list(
    list_fn: Callable[..., Awaitable[Any]], reader: Reader, **params: Any
) -> AsyncIterator[Any]:
    """The items of one list request (or the events of a watch), each as soon as it has
    arrived: the response is read unparsed and streamed through ``reader`` (a listing's
    then holds its metadata)."""
    response = await list_fn(_preload_content=False, **params)
    async with response:
        if response.status != 200:  # unread, the client raises nothing itself
            raise ApiException(status=response.status, reason=response.reason)
        async for item in reader.read(response.content.iter_chunked(CHUNK)):
            yield item


# Metadata is all the gateway needs of pods and ServiceAccounts (gateway/workload.py):
# asking for PartialObjectMetadata keeps pod specs (and any value in their env) off the
# wire and out of memory. A watch must ask for the item type alone: offered both, the
# API server answers 200 and streams nothing.
METADATA_LIST = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"
METADATA_ITEM = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1"


async def _get(
    api: client.ApiClient, path: str, accept: str, query: list[tuple[str, Any]], preload: bool = True
) -> Any:
    """A GET the generated client has no method for: JSON (or, unpreloaded, the response)."""
    return await api.call_api(
        path,
        "GET",
        query_params=query,
        header_params={"Accept": accept},
        response_types_map={200: "object"},
        auth_settings=["BearerToken"],
        _return_http_data_only=True,
        _preload_content=preload,
    )


async def get_json(
    api: client.ApiClient, path: str, accept: str = "application/json, application/jwk-set+json"
) -> Any:
    """One document, such as the service-account issuer's discovery document and keys."""
    return await _get(api, path, accept, [])


def _camel(name: str) -> str:
    """label_selector -> labelSelector; _continue -> continue."""
    first, *rest = name.lstrip("_").split("_")
    return first + "".join(w.title() for w in rest)


def metadata_lister(api: client.ApiClient, path: str) -> Callable[..., Awaitable[Any]]:
    """A list function for Informer (and kubernetes_asyncio's Watch) over ``path``,
    returning objects' metadata only."""

    async def list_metadata(_preload_content: bool = True, **params: Any) -> Any:
        query = [(_camel(k), str(v).lower() if isinstance(v, bool) else v) for k, v in params.items()]
        accept = METADATA_ITEM if params.get("watch") else METADATA_LIST
        return await _get(api, path, accept, query, _preload_content)

    return list_metadata
