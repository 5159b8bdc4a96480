"""Writes whose answer is read as bytes (operator/stores/raw.py): the refusal is the
ApiException the client would raise, body included (refusals read the API server's
message from it); only the resourceVersion of an answer is parsed."""

from __future__ import annotations

import json
from types import TracebackType
from typing import Any

import pytest
from kubernetes_asyncio.client.exceptions import ApiException

from gatepass.operator.stores.raw import resource_version, sent


class Answer:
    """What kubernetes_asyncio returns with _preload_content=False: aiohttp's response."""

    def __init__(self, status: int, data: bytes, reason: str = "OK") -> None:
        self.status, self.reason, self.data = status, reason, data
        self.headers: dict[str, str] = {"Content-Type": "application/json"}
        self.released = False

    async def read(self) -> bytes:
        return self.data

    async def __aenter__(self) -> Answer:
        return self

    async def __aexit__(self, *_: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.released = True


async def answered(answer: Answer) -> Any:
    return answer


@pytest.mark.asyncio
async def test_a_written_objects_answer_is_its_bytes_and_the_connection_is_released() -> None:
    body = json.dumps({"metadata": {"name": "t", "resourceVersion": "42"}, "data": {"k": "dg=="}}).encode()
    answer = Answer(201, body, "Created")
    assert await sent(answered(answer)) == body
    assert answer.released
    assert resource_version(body) == "42"


@pytest.mark.asyncio
async def test_a_refusal_is_the_clients_own_api_exception_with_the_body() -> None:
    status = json.dumps({"kind": "Status", "reason": "Forbidden", "message": "exceeded quota"}).encode()
    answer = Answer(403, status, "Forbidden")
    with pytest.raises(ApiException) as raised:
        await sent(answered(answer))
    assert (raised.value.status, raised.value.reason) == (403, "Forbidden")
    assert json.loads(raised.value.body)["message"] == "exceeded quota"
    assert answer.released


@pytest.mark.asyncio
async def test_a_conflict_keeps_its_status_for_the_stores_to_read() -> None:
    with pytest.raises(ApiException) as raised:
        await sent(answered(Answer(409, b"{}", "Conflict")))
    assert raised.value.status == 409
