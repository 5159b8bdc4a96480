"""What a token's Secret holds: the credentials under the template's keys, and the
files tools mount as they are."""

from __future__ import annotations

import json
import netrc
from pathlib import Path
from typing import Any

import pytest

from gatepass.decisions.secretdata import credentials, current, render
from gatepass.models.servicetoken import SecretTemplate
from gatepass.trust.credentials import new_client_id, new_client_secret

CID, SECRET = new_client_id(), new_client_secret()


def template(**kw: Any) -> SecretTemplate:
    return SecretTemplate.model_validate(kw)


def test_the_default_is_cloudflares_variable_names() -> None:
    assert render(template(), CID, SECRET) == {"CF_ACCESS_CLIENT_ID": CID, "CF_ACCESS_CLIENT_SECRET": SECRET}


def test_keys_and_files(tmp_path: Path) -> None:
    t = template(
        keys={"clientId": "client-id", "clientSecret": "client-secret"},
        files=[
            {"key": ".netrc", "format": "netrc", "hosts": ["a.example.com", "b.example.com"]},
            {"key": "headers.json", "format": "headersJson"},
            {"key": "credentials.json", "format": "credentialsJson"},
        ],
    )
    data = render(t, CID, SECRET)
    assert (data["client-id"], data["client-secret"]) == (CID, SECRET)
    # Read back by the standard library's own netrc parser, as curl and git would.
    (tmp_path / ".netrc").write_text(data[".netrc"])
    parsed = netrc.netrc(str(tmp_path / ".netrc"))
    for host in ("a.example.com", "b.example.com"):
        assert parsed.authenticators(host) == (CID, "", SECRET)
    assert json.loads(data["headers.json"]) == {"CF-Access-Client-Id": CID, "CF-Access-Client-Secret": SECRET}
    assert json.loads(data["credentials.json"]) == {
        "cf-access-client-id": CID,
        "cf-access-client-secret": SECRET,
    }


def test_credentials_are_found_under_the_old_keys_after_the_template_changed() -> None:
    old = render(template(), CID, SECRET)
    new = template(keys={"clientId": "id", "clientSecret": "secret"})
    assert credentials(new, old) == (CID, SECRET)
    assert not current(new, old)
    assert current(new, render(new, CID, SECRET))


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({}, (None, None)),
        ({"CF_ACCESS_CLIENT_ID": "not an id", "CF_ACCESS_CLIENT_SECRET": "nor a secret"}, (None, None)),
        ({"CF_ACCESS_CLIENT_ID": CID}, (CID, None)),
    ],
)
def test_missing_or_malformed_credentials_are_not_found(
    data: dict[str, str], expected: tuple[Any, ...]
) -> None:
    assert credentials(template(), data) == expected
    assert current(template(), data)  # nothing to lay out: a reissue's business


def test_a_file_dropped_from_the_template_makes_the_data_stale() -> None:
    with_file = template(files=[{"key": "h.json", "format": "headersJson"}])
    data = render(with_file, CID, SECRET)
    assert current(with_file, data)
    assert not current(template(), data)  # h.json still carries the secret
    # Keys of others that do not carry the secret are not ours to judge.
    assert current(template(), {**render(template(), CID, SECRET), "ca.crt": "-----BEGIN..."})


def test_a_changed_netrc_host_makes_the_data_stale() -> None:
    a = template(files=[{"key": ".netrc", "format": "netrc", "hosts": ["a.test"]}])
    b = template(files=[{"key": ".netrc", "format": "netrc", "hosts": ["b.test"]}])
    assert not current(b, render(a, CID, SECRET))
