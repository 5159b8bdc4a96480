"""Wildcards in destinations, as Cloudflare Access reads them ("Application paths",
developers.cloudflare.com/cloudflare-one/access-controls/policies/app-paths/).

Hosts: one ``*`` in the leftmost label, standing for any run of characters within that
one label. ``*.example.com`` covers ``alpha.example.com``, neither ``example.com`` nor
``foo.bar.example.com``; ``*test.example.com`` covers ``test.example.com`` and
``alphatest.example.com``. So a pattern can only ever cover hosts with the same
:func:`suffix` (everything after the leftmost label): the gateway looks wildcards up by
that suffix, and two claims can only overlap when their suffixes are equal.

Paths: a ``*`` stands for any run of characters, slashes included (``/foo*/bar`` covers
``/food/stuff/bar``); ``/alpha/*`` covers what is under ``/alpha``, not ``/alpha``
itself, and a path of just ``/*`` is the whole host. Like any destination path, a
pattern also covers what lies under what it matches.

"The more specific rule takes precedence" (the same page) is read as: an exact host
beats a wildcard (``x.a.example.com`` over ``*.a.example.com``), a wildcard with more
literal characters beats one with fewer; then, on the host chosen, the path with more
literal characters wins, an exact path over a wildcard at equal length (``/a/b`` over
``/a/*``). Remaining ties are broken by the pattern's text, so every replica agrees.
"""

from __future__ import annotations

from dataclasses import dataclass, field

WILDCARD = "*"


def suffix(host: str) -> str:
    """What follows the leftmost label: the only part a host pattern cannot vary."""
    return host.partition(".")[2]


def is_pattern(host: str) -> bool:
    return WILDCARD in host


def _label_matches(pattern: str, label: str) -> bool:
    if WILDCARD not in pattern:
        return pattern == label
    head, _, tail = pattern.partition(WILDCARD)
    fits = len(label) >= max(1, len(head) + len(tail))  # "*" is never an empty label
    return fits and label.startswith(head) and label.endswith(tail)


def host_matches(pattern: str, host: str) -> bool:
    """Whether a (normalized) host pattern covers a (normalized) host."""
    if WILDCARD not in pattern:
        return pattern == host
    label, _, rest = host.partition(".")
    return rest == suffix(pattern) and _label_matches(pattern.partition(".")[0], label)


def hosts_overlap(a: str, b: str) -> bool:
    """Whether some host is covered by both: a prefix and a suffix fit both labels
    (``a*`` and ``*b`` share ``ab``), exactly so."""
    if suffix(a) != suffix(b):
        return False
    x, y = a.partition(".")[0], b.partition(".")[0]
    if WILDCARD not in x or WILDCARD not in y:
        return _label_matches(x, y) if WILDCARD in x else _label_matches(y, x)
    (xh, _, xt), (yh, _, yt) = x.partition(WILDCARD), y.partition(WILDCARD)
    return (xh.startswith(yh) or yh.startswith(xh)) and (xt.endswith(yt) or yt.endswith(xt))


def host_rank(pattern: str) -> tuple[int, int, str]:
    """Sort key, most specific first: exact hosts, then more literal characters."""
    return (WILDCARD in pattern, -len(pattern), pattern)


@dataclass(frozen=True)
class PathPattern:
    """A destination's path: matched as a prefix on whole segments; with a ``*``, its
    literal parts are found in turn (:meth:`covers`)."""

    segments: tuple[str, ...]
    parts: tuple[str, ...] = field(default=(), compare=False)  # the text split at each *

    @classmethod
    def of(cls, segments: tuple[str, ...]) -> PathPattern:
        if segments == (WILDCARD,):
            segments = ()  # "/*" is the whole host, as the page has it
        text = "".join("/" + s for s in segments)
        return cls(segments, tuple(text.split(WILDCARD)) if WILDCARD in text else ())

    @property
    def text(self) -> str:
        return "".join("/" + s for s in self.segments)

    @property
    def wild(self) -> bool:
        return bool(self.parts)

    @property
    def cookie_path(self) -> str:
        """The segments before the first wildcard: a cookie's Path cannot hold one."""
        fixed = []
        for s in self.segments:
            if WILDCARD in s:
                break
            fixed.append(s)
        return "/" + "/".join(fixed)

    @property
    def rank(self) -> tuple[int, bool, str]:
        """Sort key, most specific first: more literal characters, then exact."""
        text = self.text
        return (-len(text.replace(WILDCARD, "")), self.wild, text)

    def covers(self, path: tuple[str, ...]) -> bool:
        if not self.parts:
            return path[: len(self.segments)] == self.segments
        return _glob(self.parts, "".join("/" + s for s in path))


def _glob(parts: tuple[str, ...], text: str) -> bool:
    """Whether ``parts`` joined by wildcards match ``text``, or a prefix of it ending at
    a segment boundary. Each middle part is taken at its first occurrence (with only
    ``*``, the earliest leaves the most room): linear in the path, whatever a tenant
    writes, where a backtracking regular expression could take exponential time."""
    first, *middle, last = parts
    if not text.startswith(first):
        return False
    at = len(first)
    for part in middle:
        found = text.find(part, at)
        if found < 0:
            return False
        at = found + len(part)
    if not last:
        return True
    if text.find(last + "/", at) >= 0:
        return True
    return text.endswith(last) and len(text) - len(last) >= at
