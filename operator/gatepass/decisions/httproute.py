"""Which destinations an AccessApplication takes from the HTTPRoutes it names
(``spec.targetRefs``, Gateway API policy attachment, GEP-713): pure, over the routes as
read.

A route's destinations are its hostnames, each with the path prefixes its rules match.
The rule throughout: the application may cover *more* than the route serves, never less
without saying so. So:

* ``PathPrefix /a``: the destination path ``/a`` (segment-wise, as Gateway API's);
  ``Exact /a`` is taken as the prefix ``/a`` too (it covers ``/a/...`` as well: noted);
  ``RegularExpression`` (and any type not known here) covers the whole host (noted);
  a match without a path, a rule without matches, ``/``: the whole host.
* A path is read the way the gateway reads a request's (routing/paths.py: decoded,
  ``;parameters`` dropped, case ignored), so every request the route's prefix matches
  falls under the destination. Segments a destination cannot hold (outside the
  characters spec.hosts allows, two ``*``) cut the path there: a shorter prefix,
  covering more (noted). A literal ``*`` in a route's path is a wildcard here: more again.
* Hostnames are taken as they are. A Gateway API wildcard (``*.example.com``) matches
  subdomains at any depth, gatepass's exactly one label (routing/patterns.py): it is
  not taken, and the condition names it (write the levels in spec.hosts).
* A route without hostnames takes its Gateway listener's, which the operator does not
  read: it gives nothing, and says so.
* More than :data:`MAX_PATHS` paths on one route: its hosts whole. More than
  :data:`MAX_ROUTE_DESTINATIONS` destinations from all routes of one application: a
  route's hosts whole, and a route that still does not fit is not taken (said).

Only routes of the application's own namespace are read (the CRD has no namespace in a
targetRef, and the operator reads in the application's namespace alone): ReferenceGrant
is not supported.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from gatepass.models.accessapplication import RouteHosts, TargetRef
from gatepass.routing.hosts import MAX_ROUTE_HOSTS
from gatepass.routing.paths import AmbiguousPath, segments
from gatepass.routing.patterns import WILDCARD

# How many distinct paths one route may give before its hosts are taken whole.
MAX_PATHS = 16
# Destinations one application may take from all its routes (what is read of
# status.routes[].hosts in total): a status stays small whatever the routes hold.
MAX_ROUTE_DESTINATIONS = MAX_ROUTE_HOSTS
# A destination's path, at most (characters): longer ones are cut to a shorter prefix.
MAX_PATH = 512

# Gateway API's Hostname (its CRD's pattern; 253 characters at most).
_HOSTNAME = re.compile(r"^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
# A segment spec.hosts may hold (crds/accessapplications.gatepass.dev.yaml).
_SEGMENT = re.compile(r"^[A-Za-z0-9._~!$&'()*+,=:@-]+$")

# Why a route gave nothing (or not all it serves); a condition reason each.
Problem = Literal[
    "RouteNotFound",
    "RouteAPIUnavailable",
    "RouteUnreadable",
    "RoutesDisabled",
    "RouteWithoutHostnames",
    "RouteSectionNotFound",
    "RouteHostnameNotTaken",
    "RouteTooLarge",
]


@dataclass(frozen=True)
class RouteRead:
    """One targetRef as the operator could read it: the route's body, or why not
    (RouteNotFound, RouteAPIUnavailable, RouteUnreadable, RoutesDisabled)."""

    ref: TargetRef
    body: Mapping[str, Any] | None = None
    problem: Problem | None = None


@dataclass(frozen=True)
class Taken:
    """What one targetRef gave."""

    ref: TargetRef
    hosts: tuple[str, ...] = ()  # destinations, as spec.hosts entries
    # What the route serves that the application does not cover, each said; the first's reason.
    problem: Problem | None = None
    missing: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()  # where the application covers more than the route

    @property
    def status(self) -> RouteHosts:
        return RouteHosts(name=self.ref.name, section_name=self.ref.section_name, hosts=list(self.hosts))


@dataclass(frozen=True)
class RoutesTaken:
    taken: tuple[Taken, ...] = field(default=())

    @property
    def hosts(self) -> tuple[str, ...]:
        return tuple(h for t in self.taken for h in t.hosts)

    @property
    def status(self) -> list[RouteHosts]:
        return [t.status for t in self.taken]

    @property
    def problems(self) -> tuple[Taken, ...]:
        return tuple(t for t in self.taken if t.problem is not None)


_UNREAD = {
    "RouteNotFound": "not found in this namespace (a route of another namespace is never read)",
    "RouteAPIUnavailable": "cannot be read: this cluster serves no gateway.networking.k8s.io/v1 HTTPRoutes"
    " (install the Gateway API CRDs)",
    "RouteUnreadable": "cannot be read: the operator may not read HTTPRoutes here (its RBAC)",
    "RoutesDisabled": "cannot be read: the operator does not read HTTPRoutes (GATEPASS_HTTP_ROUTES=false)",
}


def _path(value: object) -> tuple[str | None, str | None]:
    """A PathPrefix/Exact value as a destination path ("" for the whole host), and a note
    when it covers more than the value."""
    if not isinstance(value, str):
        return "", None
    try:
        parts = segments(value)
    except AmbiguousPath:
        return "", f"path {value} has a dot-segment: the whole host is covered"
    kept: list[str] = []
    length = 0
    for part in parts:
        length += len(part) + 1
        if not _SEGMENT.match(part) or part.count(WILDCARD) > 1 or length > MAX_PATH:
            break
        kept.append(part)
    path = "".join("/" + p for p in kept)
    if len(kept) < len(parts):
        return path, f"path {value} is covered from {path or '/'} (the rest is not a destination's)"
    return path, None


def _match(match: object) -> tuple[str, str | None]:
    """One match's destination path ("" for the whole host), and a note when it covers more."""
    path = match.get("path") if isinstance(match, Mapping) else None
    if not isinstance(path, Mapping):
        return "", None  # no path: Gateway API's PathPrefix /
    kind, value = path.get("type", "PathPrefix"), path.get("value", "/")
    if kind not in ("PathPrefix", "Exact"):
        return "", f"{kind} path {value} is covered as the whole host"
    taken, note = _path(value)
    if kind == "Exact" and taken and note is None:
        note = f"Exact path {value} is covered as a prefix (and what is under it)"
    return taken or "", note


def _paths(rules: Sequence[Mapping[str, Any]]) -> tuple[list[str], list[str]]:
    """The destination paths of these rules ([""]: the whole host), and notes."""
    paths: set[str] = set()
    notes: list[str] = []
    for rule in rules:
        matches = rule.get("matches")
        for match in matches if isinstance(matches, list) and matches else [{}]:
            taken, note = _match(match)
            paths.add(taken)
            if note:
                notes.append(note)
    whole = f"more than {MAX_PATHS} paths: the hosts are covered whole"
    if "" in paths:
        return [""], notes
    if len(paths) > 4 * MAX_PATHS:  # before the quadratic look below
        return [""], [*notes, whole]
    # A path under another one adds nothing (without wildcards: with them, keep both).
    kept = sorted(
        p
        for p in paths
        if WILDCARD in p or not any(q != p and WILDCARD not in q and p.startswith(q + "/") for q in paths)
    )
    if len(kept) > MAX_PATHS:
        return [""], [*notes, whole]
    return kept, notes


def take(read: RouteRead) -> Taken:
    """The destinations one targetRef gives."""
    ref, body = read.ref, read.body
    if read.problem is not None or body is None:
        unread = read.problem or "RouteNotFound"
        return Taken(
            ref, problem=unread, missing=(f"HTTPRoute {ref.label} {_UNREAD.get(unread, 'cannot be read')}",)
        )
    spec = body.get("spec")
    spec = spec if isinstance(spec, Mapping) else {}
    hostnames = spec.get("hostnames")
    if not isinstance(hostnames, list) or not hostnames:
        msg = (
            f"HTTPRoute {ref.label} has no hostnames: it serves its Gateway listener's, which"
            " gatepass does not read (name them in the route or in spec.hosts)"
        )
        return Taken(ref, problem="RouteWithoutHostnames", missing=(msg,))
    rules = spec.get("rules")
    rules = [r for r in rules if isinstance(r, Mapping)] if isinstance(rules, list) else [{}]
    if ref.section_name is not None:
        rules = [r for r in rules if r.get("name") == ref.section_name]
        if not rules:
            msg = f"HTTPRoute {ref.name} has no rule named {ref.section_name}"
            return Taken(ref, problem="RouteSectionNotFound", missing=(msg,))
    elif not rules:
        rules = [{}]  # Gateway API's default: one rule, PathPrefix /
    hosts: dict[str, None] = {}
    missing: list[str] = []
    for raw in hostnames:
        if len(hosts) > MAX_ROUTE_DESTINATIONS:  # more than any application may take: _fit says so
            break
        name = str(raw).lower().rstrip(".")
        if len(name) > 253 or not _HOSTNAME.match(name):
            missing.append(f"hostname {str(raw)[:64]!r} of HTTPRoute {ref.label} is not a host name")
        elif name.startswith(WILDCARD):
            missing.append(
                f"hostname {name} of HTTPRoute {ref.label} is not taken: a Gateway API wildcard matches"
                " subdomains at any depth, a gatepass one exactly one label (write each level in"
                " spec.hosts)"
            )
        else:
            hosts[name] = None
    paths, notes = _paths(rules)
    dests = tuple(h + p for h in hosts for p in paths)
    problem: Problem | None = "RouteHostnameNotTaken" if missing else None
    return Taken(ref, dests, problem, _said(missing), _said(notes))


def _said(lines: Sequence[str], most: int = 4) -> tuple[str, ...]:
    """At most ``most`` of them, and how many more: a condition stays readable and small
    whatever a route holds."""
    unique = list(dict.fromkeys(lines))
    if len(unique) <= most:
        return tuple(unique)
    return (*unique[:most], f"and {len(unique) - most} more")


def _fit(taken: Taken, room: int) -> Taken:
    """The route within ``room`` destinations: its hosts whole, or nothing."""
    if len(taken.hosts) <= room:
        return taken
    hosts = tuple(dict.fromkeys(h.partition("/")[0] for h in taken.hosts))
    if len(hosts) <= room:
        note = f"more than {MAX_ROUTE_DESTINATIONS} destinations from routes: its hosts are covered whole"
        return Taken(taken.ref, hosts, taken.problem, taken.missing, (*taken.notes, note))
    msg = (
        f"HTTPRoute {taken.ref.label} is not taken: the application's routes give more than"
        f" {MAX_ROUTE_DESTINATIONS} hosts"
    )
    return Taken(taken.ref, problem="RouteTooLarge", missing=(msg,))


def take_all(reads: Sequence[RouteRead]) -> RoutesTaken:
    """Every targetRef's destinations, in the order named, within the application's budget."""
    out: list[Taken] = []
    room = MAX_ROUTE_DESTINATIONS
    for read in reads:
        taken = _fit(take(read), room)
        room -= len(taken.hosts)
        out.append(taken)
    return RoutesTaken(tuple(out))
