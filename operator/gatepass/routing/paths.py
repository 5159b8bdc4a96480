"""Paths: how a request path is made safe to forward, and which application's
destination it falls under.

An AccessApplication's ``spec.hosts`` entry is a destination: a host, optionally
followed by a path (``reports.example.com/admin``), as Cloudflare's destinations.
A request goes to the most specific destination covering its host and path
(routing/patterns.py, for wildcards and how specific is ranked); a path without a
wildcard covers the request's path when it is a prefix of it on whole segments
(``/admin`` covers ``/admin`` and ``/admin/x``, never ``/administrator``).

Origins disagree on how they read a path, and a path-scoped application is only as
safe as the gateway's reading is strict. So the path matched is the one forwarded,
with dot-segments resolved, and for matching every segment is read the way the most
lenient origin would: percent-decoded, an encoded slash or a backslash taken as a
separator, ``;parameters`` dropped (Tomcat's ``/admin;x``), empty segments skipped
(``//admin``) and case ignored. Each of these can only send a request to a *more*
specific destination than a strict origin would, never to a less specific one. A path
hiding a dot-segment where an origin could find one (``..%2F``, ``..;``) is refused.

Case is ignored the ASCII way (destinations are ASCII), but origins ignore it in more
ways than one: .NET's ToUpperInvariant and Java's equalsIgnoreCase read the dotless i
(U+0131) as ``i`` and the long s (U+017F) as ``s``, Go's EqualFold the long s and the
Kelvin sign as ``s`` and ``k``, Python's casefold the sharp s (U+00DF) as ``ss``, so
``/%C5%BFettings`` is ``/settings`` to them. A path with such a letter is also read with
all of them folded to ASCII (:func:`folded`); when that reading falls under another
application than the plain one, which one the origin sees depends on the origin, and
the path is refused. (Folding only some of them, as a given origin may, reaches no
further destination: a segment left with a non-ASCII letter matches none.)
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Generic, TypeVar
from urllib.parse import unquote

from gatepass.routing.hosts import normalize
from gatepass.routing.patterns import PathPattern, host_matches, host_rank, is_pattern, suffix

V = TypeVar("V")
Segments = tuple[str, ...]


class AmbiguousPath(ValueError):
    """A path an origin could read as one gatepass did not check."""


def normalized_path(raw: str) -> str:
    """The request path with dot-segments resolved (RFC 3986 5.2.4), encoded or not, so
    that nothing climbs above the upstream's prefix. Segments stay as the client encoded
    them; one that hides a dot-segment behind an encoded slash or backslash (``..%2F``),
    which some origins decode before resolving, is refused."""
    out: list[str] = []
    segments = raw.split("/")[1:] if raw.startswith("/") else raw.split("/")
    for i, segment in enumerate(segments):
        plain = unquote(segment)
        last = i == len(segments) - 1
        if plain == ".":
            if last:
                out.append("")
            continue
        if plain == "..":
            if out:
                out.pop()
            if last:
                out.append("")
            continue
        parts = plain.replace("\\", "/").split("/")
        if len(parts) > 1 and any(p in (".", "..") for p in parts):
            raise AmbiguousPath(raw)
        out.append(segment)
    return "/" + "/".join(out)


# Every character outside ASCII that a case-insensitive comparison of some origin reads as
# ASCII letters (simple or full case mapping, folding, upper or lower), and those letters.
# tests/unit/routing/test_paths.py derives it again from every code point.
ASCII_FOLDS = str.maketrans(
    {
        "\u00df": "ss",  # sharp s: upper SS, casefold ss
        "\u0130": "i",  # capital I with dot: simple lowercase i (Java's equalsIgnoreCase)
        "\u0131": "i",  # dotless i: upper I
        "\u017f": "s",  # long s: upper S, casefold s
        "\u1e9e": "ss",  # capital sharp s: casefold ss
        "\u212a": "k",  # Kelvin sign: lower k
        "\ufb00": "ff",  # the Latin ligatures: upper FF..., casefold ff...
        "\ufb01": "fi",
        "\ufb02": "fl",
        "\ufb03": "ffi",
        "\ufb04": "ffl",
        "\ufb05": "st",
        "\ufb06": "st",
    }
)


def _parts(path: str) -> list[str]:
    out: list[str] = []
    for segment in path.split("/"):
        for part in unquote(segment).replace("\\", "/").split("/"):
            plain = part.split(";", 1)[0]
            if plain in (".", ".."):
                raise AmbiguousPath(path)  # "..;": a dot-segment to Tomcat and its kin
            if plain:
                out.append(plain)
    return out


def segments(path: str) -> Segments:
    """The segments a normalized path is matched on (see the module's docstring)."""
    return tuple(p.lower() for p in _parts(path))


def folded(path: str) -> Segments | None:
    """The segments with every letter some origin folds into ASCII folded (ASCII_FOLDS),
    or None when there is none: the reading :meth:`Routes.match` checks against."""
    if path.isascii() and "%" not in path:
        return None  # the common case, at the cost of a scan
    parts = _parts(path)
    if all(p.isascii() for p in parts):
        return None
    out = tuple(p.translate(ASCII_FOLDS).lower() for p in parts)
    return None if out == tuple(p.lower() for p in parts) else out


def split(dest: str) -> tuple[str, Segments]:
    host, _, path = dest.partition("/")
    return host, tuple(p for p in path.split("/") if p)


@dataclass(frozen=True)
class Route(Generic[V]):
    value: V
    path: str  # the destination's path ("/" for a whole host): where its cookie is scoped


_Paths = list[tuple[PathPattern, V]]


class Routes(Generic[V]):
    """Destination -> value, looked up by host and path segments. Built once per change
    of applications, so a lookup is a dict access for the exact host, one for the
    wildcards of its suffix (routing/patterns.py), and a walk over their paths."""

    def __init__(self, entries: Iterable[tuple[str, V]] = ()) -> None:
        by_host: dict[str, _Paths[V]] = {}
        for dest, value in entries:
            host, path = split(dest)
            by_host.setdefault(host, []).append((PathPattern.of(path), value))
        for paths in by_host.values():
            paths.sort(key=lambda p: p[0].rank)  # most specific first
        wild: dict[str, list[tuple[str, _Paths[V]]]] = {}
        for host in sorted((h for h in by_host if is_pattern(h)), key=host_rank):
            wild.setdefault(suffix(host), []).append((host, by_host.pop(host)))
        self._by_host = by_host
        self._wild = wild

    def _candidates(self, host: str) -> Iterator[_Paths[V]]:
        """The paths of every destination host covering ``host``, most specific first."""
        exact = self._by_host.get(host)
        if exact is not None:
            yield exact
        for pattern, paths in self._wild.get(suffix(host), ()):
            if host_matches(pattern, host):
                yield paths

    def _find(self, host: str, path: Segments) -> tuple[PathPattern, V] | None:
        """The most specific host covering ``host`` with a path covering ``path``, and
        that path: a wildcard host serves what an exact one's paths leave."""
        for paths in self._candidates(host):
            found = next((entry for entry in paths if entry[0].covers(path)), None)
            if found is not None:
                return found
        return None

    def match(self, host: str, path: Segments, folded: Segments | None = None) -> Route[V] | None:
        """The most specific destination covering ``host`` and ``path``; raises
        AmbiguousPath when ``folded`` (the path's :func:`folded` reading) falls under
        another one."""
        host = normalize(host)
        found = self._find(host, path)
        if folded is not None and self._find(host, folded) is not found:
            raise AmbiguousPath("/".join(path))
        return None if found is None else Route(found[1], found[0].cookie_path)

    def has_paths(self, host: str) -> bool:
        """Whether some destination covering ``host`` has a path: a request's path then matters."""
        return any(p.segments for paths in self._candidates(normalize(host)) for p, _ in paths)
