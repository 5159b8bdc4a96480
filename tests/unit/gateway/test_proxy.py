"""Joining a request path to an upstream prefix: nothing may climb above the prefix."""

from __future__ import annotations

import pytest

from gatepass.gateway.proxy import AmbiguousPath, normalized_path


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
