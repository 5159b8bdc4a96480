"""Wildcards as Cloudflare Access's "Application paths" page has them, and which of
several covering destinations wins (routing/patterns.py)."""

from __future__ import annotations

import itertools
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gatepass.routing.paths import AmbiguousPath, Routes, folded, normalized_path, segments
from gatepass.routing.patterns import PathPattern, host_matches, hosts_overlap


@pytest.mark.parametrize(
    ("pattern", "host", "covered"),
    [
        ("*.example.com", "alpha.example.com", True),
        ("*.example.com", "beta.example.com", True),
        ("*.example.com", "example.com", False),  # never the apex
        ("*.example.com", "foo.bar.example.com", False),  # one label only
        ("*.test.example.com", "alpha.test.example.com", True),
        ("*.test.example.com", "test.example.com", False),
        ("*test.example.com", "test.example.com", True),
        ("*test.example.com", "alphatest.example.com", True),
        ("*test.example.com", "beta.test.example.com", False),
        ("api-*.example.com", "api-1.example.com", True),
        ("api-*.example.com", "api.example.com", False),
        ("*.example.com", ".example.com", False),  # "*" is never an empty label
        ("*.example.com", "alpha.example.org", False),
        ("app.example.com", "app.example.com", True),
    ],
)
def test_a_host_pattern_covers_one_label_of_its_suffix(pattern: str, host: str, covered: bool) -> None:
    assert host_matches(pattern, host) is covered


@pytest.mark.parametrize(
    ("pattern", "path", "covered"),
    [
        ("/alpha/*", "/alpha/one", True),
        ("/alpha/*", "/alpha/one/two", True),
        ("/alpha/*", "/alpha", False),  # not the parent path
        ("/alpha/*", "/", False),
        ("/foo*/bar", "/foo/bar", True),
        ("/foo*/bar", "/food/bar", True),
        ("/foo*/bar", "/food/stuff/bar", True),  # across segments
        ("/foo*/bar", "/foo/bar/baz", True),  # and what lies under it
        ("/foo*/bar", "/foo/barn", False),  # whole segments only
        ("/foo*/bar", "/fo/bar", False),
        ("/*/bar", "/x/y/bar", True),
        ("/a*", "/abc/d", True),
        ("/admin", "/admin/users", True),
        ("/admin", "/administrator", False),
    ],
)
def test_a_path_pattern_covers_what_it_matches_and_what_lies_under_it(
    pattern: str, path: str, covered: bool
) -> None:
    assert PathPattern.of(segments(pattern)).covers(segments(path)) is covered


ROUTES = Routes(
    [
        ("*.a.example.com", "wild"),
        ("x.a.example.com", "exact"),
        ("y.a.example.com/api", "y-api"),
        ("api-*.a.example.com", "api-wild"),
        ("reports.example.com", "whole"),
        ("reports.example.com/admin/*", "admin-below"),
        ("reports.example.com/admin/audit", "audit"),
        ("reports.example.com/foo*/bar", "foo-bar"),
        ("open.example.com/*", "whole-by-star"),
    ]
)


@pytest.mark.parametrize(
    ("host", "raw", "expected", "cookie_path"),
    [
        ("x.a.example.com", "/", "exact", "/"),  # an exact host beats a wildcard
        ("z.a.example.com", "/", "wild", "/"),
        ("api-1.a.example.com", "/", "api-wild", "/"),  # more literal characters
        ("a.example.com", "/", None, None),  # the apex is not covered
        ("q.x.a.example.com", "/", None, None),  # nor two labels
        ("y.a.example.com", "/api/v1", "y-api", "/api"),
        ("y.a.example.com", "/other", "wild", "/"),  # a wildcard serves what y's paths leave
        ("reports.example.com", "/admin", "whole", "/"),  # "/admin/*" is not "/admin"
        ("reports.example.com", "/admin/users", "admin-below", "/admin"),
        ("reports.example.com", "/ADMIN//users/", "admin-below", "/admin"),
        ("reports.example.com", "/admin/audit/2026", "audit", "/admin/audit"),  # /a/b over /a/*
        ("reports.example.com", "/food/stuff/bar", "foo-bar", "/"),
        ("reports.example.com", "/food/stuff", "whole", "/"),
        ("open.example.com", "/", "whole-by-star", "/"),  # "/*" is the whole host
        ("open.example.com", "/x", "whole-by-star", "/"),
        ("X.A.Example.com:8443", "/", "exact", "/"),
    ],
)
def test_the_most_specific_destination_wins(
    host: str, raw: str, expected: str | None, cookie_path: str | None
) -> None:
    route = ROUTES.match(host, segments(normalized_path(raw)))
    assert ((route.value, route.path) if route else (None, None)) == (expected, cookie_path)


def test_a_host_a_wildcard_covers_has_paths_when_its_destinations_do() -> None:
    assert ROUTES.has_paths("y.a.example.com")
    assert not ROUTES.has_paths("z.a.example.com")


def test_a_folded_spelling_cannot_slip_past_a_wildcard_path() -> None:
    routes = Routes([("r.test", "whole"), ("r.test/set*/*", "settings")])
    raw = "/%C5%BFettings/x"  # the long s: "/settings/x" to some origins
    with pytest.raises(AmbiguousPath):
        routes.match("r.test", segments(raw), folded(raw))


LABELS = st.text("ab*", min_size=1, max_size=4).filter(lambda s: s.count("*") <= 1)


def _label_regex(label: str) -> str:
    return ".+" if label == "*" else ".*".join(re.escape(p) for p in label.split("*"))


@given(LABELS, LABELS)
def test_two_host_patterns_overlap_exactly_when_some_host_fits_both(x: str, y: str) -> None:
    # Every label over "ab" up to the two patterns' joint length: a host both fit, if any,
    # is among them (hypothesis found x="aab*", y="*aaa" fitting "aabaaa" only).
    longest = len(x) + len(y)
    candidates = ("".join(p) for n in range(1, longest + 1) for p in itertools.product("ab", repeat=n))
    fits = any(
        host_matches(f"{x}.t.test", f"{c}.t.test") and host_matches(f"{y}.t.test", f"{c}.t.test")
        for c in candidates
    )
    assert hosts_overlap(f"{x}.t.test", f"{y}.t.test") is fits
    assert not hosts_overlap(f"{x}.t.test", f"{y}.u.test")


PATH_TEXT = st.lists(st.text("ab*", min_size=1, max_size=3), min_size=1, max_size=3)


@given(PATH_TEXT, st.lists(st.text("ab", min_size=1, max_size=3), max_size=5))
def test_a_path_pattern_matches_as_its_regular_expression_would(pattern: list[str], path: list[str]) -> None:
    # The matcher is linear in the path; the regular expression it stands for is the spec.
    text = "".join("/" + s for s in pattern)
    spec = ".*".join(re.escape(p) for p in text.split("*")) + "(?:/.*)?"
    expected = re.fullmatch(spec, "".join("/" + s for s in path)) is not None
    expected |= pattern == ["*"]  # "/*" is the whole host, root included
    assert PathPattern.of(tuple(pattern)).covers(tuple(path)) is expected


def test_a_hostile_pattern_costs_linear_time() -> None:
    pattern = PathPattern.of(tuple(["*a"] * 300 + ["b"]))
    path = tuple(["a" * 40] * 200)  # ~8 KiB: a backtracking regex would not return
    assert not pattern.covers(path)
