"""What a token's Secret holds: pure.

The Client ID and Secret under the keys of ``spec.secretTemplate.keys`` (Cloudflare's
variable names by default), plus the renderings of ``spec.secretTemplate.files`` that
tools mount as they are: a ``.netrc`` (curl --netrc-file, git, pip), the two headers as
a JSON object, or the one-header JSON of an application's ``readServiceTokensFromHeader``.

The credentials are found again by what they look like (a Client ID and a Client
Secret have distinctive forms), the template's keys first, so a Secret written under
other keys (before the template changed) is rewritten with the same credentials, not
reissued.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping

from gatepass.contract import CLIENT_ID_HEADER, CLIENT_SECRET_HEADER
from gatepass.models.servicetoken import SecretFile, SecretFormat, SecretTemplate
from gatepass.trust.credentials import is_client_id, is_client_secret


def _netrc(file: SecretFile, client_id: str, client_secret: str) -> str:
    return "".join(f"machine {h} login {client_id} password {client_secret}\n" for h in file.hosts)


def _headers_json(_: SecretFile, client_id: str, client_secret: str) -> str:
    return json.dumps({CLIENT_ID_HEADER: client_id, CLIENT_SECRET_HEADER: client_secret}) + "\n"


def _credentials_json(_: SecretFile, client_id: str, client_secret: str) -> str:
    # Cloudflare's one-header form: lowercase keys.
    return json.dumps({CLIENT_ID_HEADER.lower(): client_id, CLIENT_SECRET_HEADER.lower(): client_secret})


RENDERERS: dict[SecretFormat, Callable[[SecretFile, str, str], str]] = {
    "netrc": _netrc,
    "headersJson": _headers_json,
    "credentialsJson": _credentials_json,
}


def render(template: SecretTemplate, client_id: str, client_secret: str) -> dict[str, str]:
    """The Secret's whole data, as strings."""
    data = {template.keys.client_id: client_id, template.keys.client_secret: client_secret}
    for file in template.files:
        data[file.key] = RENDERERS[file.format](file, client_id, client_secret)
    return data


def credentials(template: SecretTemplate, data: Mapping[str, str]) -> tuple[str | None, str | None]:
    """The Client ID and Secret a Secret holds: under the template's keys, else under any
    key whose whole value has their form (None for one not found)."""

    def find(key: str, looks_right: Callable[[str], bool]) -> str | None:
        value = data.get(key)
        if value is not None and looks_right(value):
            return value
        return next((v for v in data.values() if looks_right(v)), None)

    return find(template.keys.client_id, is_client_id), find(template.keys.client_secret, is_client_secret)


def current(template: SecretTemplate, data: Mapping[str, str]) -> bool:
    """Whether ``data`` already holds what the template asks for: every rendered key with
    its value, and no other key still carrying the secret (a file the template dropped)."""
    client_id, client_secret = credentials(template, data)
    if client_id is None or client_secret is None:
        return True  # nothing to re-render: missing credentials are the reissue's business
    want = render(template, client_id, client_secret)
    if any(data.get(k) != v for k, v in want.items()):
        return False
    return not any(client_secret in v for k, v in data.items() if k not in want)
