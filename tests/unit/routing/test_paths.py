"""Request paths: joined to an upstream prefix without climbing above it, and matched
to the destination (host + path) that covers them."""

from __future__ import annotations

import sys

import pytest

from gatepass.routing.paths import ASCII_FOLDS, AmbiguousPath, Routes, folded, normalized_path, segments


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("/a/b", "/a/b"),
        ("/a/../../etc/passwd", "/etc/passwd"),
        ("/%2e%2e/%2E%2E/admin", "/admin"),
        ("/a/./b/.", "/a/b/"),
        ("/a/b/..", "/a/"),
        ("/a%2Fb/c", "/a%2Fb/c"),  # an encoded slash inside a name is the client's business
        ("/", "/"),
    ],
)
def test_paths_are_normalised_before_joining_the_upstream_prefix(raw: str, expected: str) -> None:
    assert normalized_path(raw) == expected


@pytest.mark.parametrize("raw", ["/..%2fadmin", "/x/..%2F..%2Fadmin", "/%2e%2e%5cadmin", "/a/..\\b"])
def test_dot_segments_hidden_behind_encoded_slashes_are_refused(raw: str) -> None:
    with pytest.raises(AmbiguousPath):
        normalized_path(raw)


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/", ()),
        ("/Admin/Users", ("admin", "users")),  # case ignored: some origins ignore it too
        ("//admin///x/", ("admin", "x")),  # empty segments skipped: origins that collapse them
        ("/admin%2Fx", ("admin", "x")),  # an encoded slash separates, as in origins that decode first
        ("/admin%5Cx", ("admin", "x")),
        ("/admin;jsessionid=1/x", ("admin", "x")),  # Tomcat drops ;parameters
        ("/%61dmin", ("admin",)),
        ("/administrator", ("administrator",)),
    ],
)
def test_paths_are_matched_on_segments_as_the_most_lenient_origin_reads_them(
    path: str, expected: tuple[str, ...]
) -> None:
    assert segments(path) == expected


@pytest.mark.parametrize("path", ["/public/..;/admin", "/.;/admin", "/x/..;jsessionid=1/admin"])
def test_dot_segments_behind_parameters_are_refused(path: str) -> None:
    with pytest.raises(AmbiguousPath):
        segments(normalized_path(path))


ROUTES = Routes(
    [
        ("reports.test", "whole"),
        ("reports.test/admin", "admin"),
        ("reports.test/admin/audit", "audit"),
        ("api.test/v1", "v1"),
    ]
)


@pytest.mark.parametrize(
    ("host", "raw", "expected", "cookie_path"),
    [
        ("reports.test", "/", "whole", "/"),
        ("reports.test", "/admin", "admin", "/admin"),
        ("reports.test", "/admin/", "admin", "/admin"),
        ("reports.test", "/admin/users", "admin", "/admin"),
        ("reports.test", "/admin/audit/2026", "audit", "/admin/audit"),
        ("reports.test", "/administrator", "whole", "/"),  # whole segments only
        ("reports.test", "/ADMIN", "admin", "/admin"),
        ("reports.test", "//admin", "admin", "/admin"),
        ("reports.test", "/admin%2faudit", "audit", "/admin/audit"),
        ("reports.test", "/public/../admin", "admin", "/admin"),
        ("reports.test", "/public/%2e%2e/admin", "admin", "/admin"),
        ("Reports.Test:8443", "/admin", "admin", "/admin"),
        ("api.test", "/v1/x", "v1", "/v1"),
        ("api.test", "/v2", None, None),  # no destination covers it
        ("api.test", "/", None, None),
        ("other.test", "/", None, None),
    ],
)
def test_the_longest_destination_on_whole_segments_wins(
    host: str, raw: str, expected: str | None, cookie_path: str | None
) -> None:
    route = ROUTES.match(host, segments(normalized_path(raw)))
    found = (route.value, route.path) if route else (None, None)
    assert found == (expected, cookie_path)


def test_a_host_has_paths_when_any_destination_on_it_does() -> None:
    assert ROUTES.has_paths("reports.test")
    assert ROUTES.has_paths("api.test")
    assert not Routes([("plain.test", "x")]).has_paths("plain.test")


def test_the_ascii_folds_are_every_letter_some_case_mapping_takes_into_ascii() -> None:
    derived = {}
    for cp in range(0x80, sys.maxunicode + 1):
        c = chr(cp)
        readings = {f(c) for f in (str.lower, str.upper, str.casefold)}
        readings |= {g(r) for r in readings for g in (str.lower, str.upper, str.casefold)}
        ascii_readings = {r.lower() for r in readings if r.isascii()}
        if ascii_readings:
            (derived[cp],) = ascii_readings  # one ASCII reading per letter, whoever folds it
    # Python maps case in full (SpecialCasing); Java's Character.toLowerCase and with it
    # equalsIgnoreCase take the simple mapping, which differs into ASCII only for U+0130.
    derived[0x130] = "i"
    assert derived == ASCII_FOLDS


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("/%C5%BFettings", ("settings",)),  # long s
        ("/adm%C4%B1n/x", ("admin", "x")),  # dotless i
        ("/adm%C4%B0n", ("admin",)),  # capital I with dot (lowercased, it is i + a dot above)
        ("/stra%C3%9Fe", ("strasse",)),
        ("/pro%EF%AC%81le", ("profile",)),  # the fi ligature
        ("/x/%E2%84%AAeys", None),  # the Kelvin sign: str.lower already reads it as k
        ("/caf%C3%A9", None),  # no ASCII reading of e-acute to any origin
        ("/settings", None),
    ],
)
def test_letters_an_origin_folds_into_ascii_are_read_folded_too(
    raw: str, expected: tuple[str, ...] | None
) -> None:
    assert folded(normalized_path(raw)) == expected


FOLDING = Routes(
    [
        ("reports.test", "whole"),
        ("reports.test/settings", "settings"),
        ("reports.test/keys", "keys"),
        ("reports.test/admin", "admin"),
        ("reports.test/admin/audit", "audit"),
        ("plain.test", "plain"),
    ]
)


@pytest.mark.parametrize(
    "raw",
    [
        "/%C5%BFettings",
        "/%C5%BFETTINGS/x",
        "/adm%C4%B1n",
        "/adm%C4%B0n",
        "/admin/aud%C4%B1t",  # a deeper destination than the plain reading's
    ],
)
def test_a_path_that_folds_into_another_destination_is_refused(raw: str) -> None:
    path = normalized_path(raw)
    with pytest.raises(AmbiguousPath):
        FOLDING.match("reports.test", segments(path), folded(path))


@pytest.mark.parametrize(
    ("host", "raw", "expected"),
    [
        ("reports.test", "/stra%C3%9Fe", "whole"),  # no /strasse here: every reading agrees
        ("reports.test", "/admin/%C5%BFx", "admin"),
        ("reports.test", "/%E2%84%AAeys", "keys"),  # the Kelvin sign: lowercase k to everyone
        ("reports.test", "/caf%C3%A9", "whole"),
        ("plain.test", "/%C5%BFettings", "plain"),  # a host without paths: the path never matters
    ],
)
def test_a_path_whose_readings_agree_is_routed(host: str, raw: str, expected: str) -> None:
    path = normalized_path(raw)
    route = FOLDING.match(host, segments(path), folded(path))
    assert route is not None
    assert route.value == expected
