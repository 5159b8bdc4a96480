"""A Kubernetes List response, read item by item as its bytes arrive.

Tenants write the objects the gateway and the operator list (pods, ServiceAccounts,
workloads, our own kinds), each with up to 256 KiB of annotations and more of labels,
owner references and managedFields: a page of 500 read whole (bytes, text, then every
object) is hundreds of MiB before anything is converted. Here the bytes are decoded as
they come and each item is handed over as soon as it is whole; the caller converts it
to the few fields it keeps and drops it. What is held at once is one item's JSON text
and what arrived after it, whatever the page holds: about 3x the largest item, 4x that
again when the item holds a character past U+FFFF (Python then stores the whole text
at 4 bytes a character). The API server bounds an item: 1.5 MiB stored (etcd's request
limit), which is at most ~9 MiB of JSON when every byte is escaped (``<`` becomes
``\\u003c``; a tenant's ServiceAccount measured 8.8 MB). Held while reading an item of 8.4
MiB (tracemalloc): 25 MiB, 94 MiB with one emoji in it; 6 MiB for an ordinary 1.3 MiB one.
(Escaping non-ASCII to keep the text narrow costs a Python call per run of characters: a
tenant could make a listing far slower instead. Not done.)

Each value is parsed by :mod:`json`'s C scanner (``raw_decode``). A value whose end
has not arrived fails to parse; it is tried again only once 1.5 times as much text is
there, so a large item costs a bounded number of parses (and joins), not one per
chunk. Only the List's own structure is walked here: ``{"items": [...], ...}`` with
its other fields (``metadata``: ``continue``, ``resourceVersion``) in any order.
Pure: the caller does the I/O.
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import AsyncIterable, AsyncIterator, Generator, Iterator
from typing import Any

_SPACE = re.compile(r"[ \t\n\r]*")
_JSON = json.JSONDecoder()
_MORE = object()  # what the parser yields when it needs more text
Parser = Generator[Any, None, Any]


class Malformed(ValueError):
    """The response is not a whole JSON List (it ended early, or is something else)."""


class ListStream:
    """Feed the bytes of one List response; take each item as it completes.

    After the last chunk (``feed(..., end=True)``), :attr:`fields` holds the List's
    fields other than ``items`` (its ``metadata``)."""

    def __init__(self) -> None:
        self.fields: dict[str, Any] = {}
        self._utf8 = codecs.getincrementaldecoder("utf-8")("replace")
        self._text = ""  # what the parser reads, from _pos on
        self._pos = 0
        self._queued: list[str] = []  # arrived, not yet joined into _text
        self._queued_len = 0
        self._want = 1  # characters from _pos the parser needs before it is resumed
        self._end = False
        self._done = False
        self._parser = self._list()

    def feed(self, data: bytes, end: bool = False) -> Iterator[Any]:
        """The items completed by ``data`` (``end``: nothing follows it)."""
        text = self._utf8.decode(data, final=end)
        if text:
            self._queued.append(text)
            self._queued_len += len(text)
        self._end = end
        if not end and len(self._text) - self._pos + self._queued_len < self._want:
            return  # not enough to be worth another try
        self._text = "".join([self._text[self._pos :], *self._queued])  # one copy
        self._pos, self._queued, self._queued_len = 0, [], 0
        for out in self._parser:
            if out is not _MORE:
                yield out
            elif end:
                raise Malformed("the List ended early")
            else:
                return
        if end and not self._done:
            raise Malformed("the List ended early")

    async def read(self, chunks: AsyncIterable[bytes]) -> AsyncIterator[Any]:
        """Each item of the List whose bytes ``chunks`` are, as soon as it is whole."""
        async for chunk in chunks:
            for item in self.feed(chunk):
                yield item
        for item in self.feed(b"", end=True):
            yield item

    # the parser: a generator resumed with more text; it yields items, or _MORE ----------
    def _list(self) -> Parser:
        yield from self._expect("{")
        if (yield from self._skip("}")):
            self._done = True
            return
        while True:
            key = yield from self._value()
            yield from self._expect(":")
            if key == "items" and (yield from self._skip("[")):
                if not (yield from self._skip("]")):
                    while True:
                        yield (yield from self._value())
                        if (yield from self._expect(",]")) == "]":
                            break
            elif isinstance(key, str):
                self.fields[key] = yield from self._value()
            else:
                raise Malformed("a field name that is not a string")
            if (yield from self._expect(",}")) == "}":
                self._done = True
                return

    def _char(self) -> Parser:
        """The next character that is not white space (not consumed)."""
        while True:
            match = _SPACE.match(self._text, self._pos)
            self._pos = match.end() if match else self._pos
            if self._pos < len(self._text):
                return self._text[self._pos]
            self._want = 1
            yield _MORE

    def _skip(self, char: str) -> Parser:
        """Consume ``char`` if it comes next."""
        found = (yield from self._char()) == char
        self._pos += found
        return found

    def _expect(self, chars: str) -> Parser:
        """Consume the next character, one of ``chars``."""
        found = yield from self._char()
        if found not in chars:
            raise Malformed(f"expected one of {chars!r}")
        self._pos += 1
        return found

    def _value(self) -> Parser:
        """The next JSON value, once all of it has arrived."""
        yield from self._char()
        while True:
            have = len(self._text) - self._pos
            try:
                value, end = _JSON.raw_decode(self._text, self._pos)
            except json.JSONDecodeError:
                if self._end:
                    raise Malformed("the List ended early or is not JSON") from None
                self._want = have + have // 2 + 1  # its end is still to come: try again at 1.5 times
            else:
                # A number (or literal) at the very end may go on in the next chunk.
                if end < len(self._text) or self._end or self._text[end - 1] in '"]}':
                    self._pos = end
                    return value
                self._want = have + 1
            yield _MORE
