"""A watch response read event by event: the same events however the bytes are cut, an
event of any size the API server may send (no line limit), and one event held at a time."""

from __future__ import annotations

import json
import tracemalloc
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from gatepass.watchstream import Malformed, Truncated, WatchStream

EVENTS: list[dict[str, Any]] = [
    {
        "type": "ADDED",
        "object": {"metadata": {"name": "a", "annotations": {"k": "caf\u00e9 \U0001f600 \n \u0001"}}},
    },
    {"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": "7"}}},
    {"type": "DELETED", "object": {"metadata": {"name": "b"}}},
]


def ndjson(events: list[dict[str, Any]]) -> bytes:
    """As the API server writes a watch: compact JSON, one event a line."""
    return b"".join(json.dumps(e, ensure_ascii=False, separators=(",", ":")).encode() + b"\n" for e in events)


def read(data: bytes, cut: int) -> list[dict[str, Any]]:
    stream = WatchStream()
    events: list[dict[str, Any]] = []
    for start in range(0, len(data), cut):
        events += stream.feed(data[start : start + cut])
    events += stream.feed(b"", end=True)
    return events


def test_every_cut_of_the_bytes_gives_the_same_events() -> None:
    data = ndjson(EVENTS)  # multi-byte UTF-8 split too
    for cut in [*range(1, 12), 64, len(data)]:
        assert read(data, cut) == EVENTS, cut


def test_an_event_is_handed_over_as_soon_as_its_line_ends() -> None:
    stream = WatchStream()
    first, second = ndjson(EVENTS[:1]), ndjson(EVENTS[1:2])
    assert list(stream.feed(first[:-1])) == []
    assert list(stream.feed(first[-1:] + second[:3])) == EVENTS[:1]  # not waiting for more


def test_an_event_far_past_the_clients_line_limit_is_read() -> None:
    """~9 MiB of JSON (1.5 MiB of control characters, escaped six to one): kubernetes_asyncio's
    readline() stops at 4 MiB."""
    event = {"type": "MODIFIED", "object": {"metadata": {"annotations": {"x": "\u0001" * 1_500_000}}}}
    data = ndjson([event])
    assert len(data) > 8_900_000
    assert read(data, 64 * 1024) == [event]


def test_blank_lines_are_skipped_and_a_cut_event_is_refused() -> None:
    assert read(b"\n\r\n" + ndjson(EVENTS[:1]) + b"  \n", 3) == EVENTS[:1]
    stream = WatchStream()
    assert list(stream.feed(ndjson(EVENTS[:1]) + b'{"type":"ADD')) == EVENTS[:1]  # taken stays taken
    with pytest.raises(Truncated):
        list(stream.feed(b"", end=True))


@pytest.mark.parametrize("line", [b"nope\n", b"[1]\n"], ids=["not JSON", "not an object"])
def test_a_line_that_is_no_event_is_an_error(line: bytes) -> None:
    with pytest.raises(Malformed):
        read(line, 4)


@pytest.mark.asyncio
async def test_read_takes_the_chunks_of_a_response() -> None:
    async def chunks() -> AsyncIterator[bytes]:
        data = ndjson(EVENTS)
        for start in range(0, len(data), 5):
            yield data[start : start + 5]

    assert [e async for e in WatchStream().read(chunks())] == EVENTS


def test_one_event_is_held_at_a_time_not_the_stream() -> None:
    """100 events of 200 KiB each (20 MB) in 64 KiB chunks, each dropped once read: the peak
    (this test's chunks included) is a few events' worth, not the stream's."""
    line = ndjson([{"type": "ADDED", "object": {"metadata": {"annotations": {"big": "a" * 200 * 1024}}}}])
    count, chunk = 100, 64 * 1024

    def chunks() -> Iterator[bytes]:
        pending = b""
        for _ in range(count):
            pending += line
            while len(pending) >= chunk:
                yield pending[:chunk]
                pending = pending[chunk:]
        yield pending

    stream = WatchStream()
    seen = 0
    tracemalloc.start()
    try:
        for data in chunks():
            for event in stream.feed(data):
                seen += event["type"] == "ADDED"
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert seen == count
    assert peak < 10 * len(line), f"peak {peak / 2**20:.1f} MiB for events of {len(line) / 2**20:.2f} MiB"
