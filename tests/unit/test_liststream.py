"""A List response read item by item: the same items and fields however the bytes are cut,
an early end is an error, and one item's text is held at a time, never the page's."""

from __future__ import annotations

import itertools
import json
import tracemalloc
from collections.abc import AsyncIterator
from typing import Any

import pytest

from gatepass.liststream import ListStream, Malformed

LISTING: dict[str, Any] = {
    "kind": "PartialObjectMetadataList",
    "apiVersion": "meta.k8s.io/v1",
    "metadata": {"resourceVersion": "42", "continue": "abc=="},
    "items": [
        {"metadata": {"name": "a", "annotations": {"k": 'caf\u00e9 \u2603 \U0001f600 "quoted" \\ \u0001'}}},
        {"metadata": {"name": "b", "labels": {}, "n": [1, 2.5, -3e2, True, False, None]}},
        {},
    ],
}


def read(data: bytes, cut: int) -> tuple[list[Any], dict[str, Any]]:
    stream = ListStream()
    items: list[Any] = []
    for start in range(0, len(data), cut):
        items += stream.feed(data[start : start + cut])
    items += stream.feed(b"", end=True)
    return items, stream.fields


@pytest.mark.parametrize("indent", [None, 2], ids=["compact", "indented"])
def test_every_cut_of_the_bytes_gives_the_same_items_and_fields(indent: int | None) -> None:
    data = json.dumps(LISTING, indent=indent, ensure_ascii=False).encode()  # multi-byte UTF-8 split too
    for cut in [*range(1, 12), 64, len(data)]:
        items, fields = read(data, cut)
        assert items == LISTING["items"], cut
        assert fields == {k: v for k, v in LISTING.items() if k != "items"}, cut


def test_fields_after_the_items_and_empty_or_null_items() -> None:
    assert read(b'{"items":[{"x":1}],"metadata":{"resourceVersion":"7"}}', 3) == (
        [{"x": 1}],
        {"metadata": {"resourceVersion": "7"}},
    )
    assert read(b'{"metadata":{},"items":[]}', 1) == ([], {"metadata": {}})
    assert read(b'{"metadata":{},"items":null}', 1) == ([], {"metadata": {}, "items": None})
    assert read(b"{}", 1) == ([], {})


def test_a_number_cut_at_the_end_of_a_chunk_is_read_whole() -> None:
    stream = ListStream()
    assert list(stream.feed(b'{"items":[12')) == []
    assert list(stream.feed(b"34,5")) == [1234]
    assert list(stream.feed(b"6]}", end=True)) == [56]


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b'{"items":[{"a":1}',
        b'{"items":[{"a":1}]',
        b'{"items":[{"a":',
        b"[]",
        b'{"items":[1 2]}',
        b"{1:2}",
    ],
    ids=["empty", "in items", "before the end", "in an item", "not an object", "no comma", "key"],
)
def test_what_is_not_a_whole_list_is_refused(data: bytes) -> None:
    with pytest.raises(Malformed):
        read(data, 4)


def test_items_already_taken_before_a_truncation_stay_taken() -> None:
    stream = ListStream()
    assert list(stream.feed(b'{"items":[{"a":1},{"b":')) == [{"a": 1}]
    with pytest.raises(Malformed):
        list(stream.feed(b"", end=True))


@pytest.mark.asyncio
async def test_read_takes_the_chunks_of_a_response() -> None:
    async def chunks() -> AsyncIterator[bytes]:
        data = json.dumps(LISTING).encode()
        for start in range(0, len(data), 5):
            yield data[start : start + 5]

    stream = ListStream()
    assert [item async for item in stream.read(chunks())] == LISTING["items"]
    assert stream.fields["metadata"]["continue"] == "abc=="


def test_one_items_text_is_held_at_a_time_not_the_pages() -> None:
    """200 items of 200 KiB each (40 MB) in 64 KiB chunks, each item dropped once read: the
    peak (this test's chunks included) is a few items' worth, not the page's."""
    blob = "a" * 200 * 1024
    head = b'{"kind":"List","metadata":{"resourceVersion":"1"},"items":['
    item = json.dumps({"metadata": {"name": "x", "annotations": {"big": blob}}}).encode()
    count, chunk = 200, 64 * 1024

    def chunks() -> Any:
        pending = head
        for i in range(count):
            pending += item + (b"," if i < count - 1 else b"]}")
            while len(pending) >= chunk:
                yield pending[:chunk]
                pending = pending[chunk:]
        yield pending

    stream = ListStream()
    names = 0
    tracemalloc.start()
    try:
        for data in itertools.chain(chunks(), [None]):  # one chunk at a time, then the end
            for obj in stream.feed(data or b"", end=data is None):
                names += obj["metadata"]["name"] == "x"
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert names == count
    assert peak < 10 * len(item), f"peak {peak / 2**20:.1f} MiB for items of {len(item) / 2**20:.2f} MiB"
