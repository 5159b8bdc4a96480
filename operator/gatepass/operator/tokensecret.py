"""A ServiceToken's Secret, both ways: built from credentials and the template
(decisions/secretdata.py lays the data out), and described for the decisions
(decisions/token/inputs.py). No I/O: the SecretStore writes and reads it."""

from __future__ import annotations

import base64
from dataclasses import dataclass

from kubernetes_asyncio import client

from gatepass.decisions.secretdata import credentials, current, render
from gatepass.decisions.secretmeta import SecretMetadata
from gatepass.decisions.token.inputs import SecretView
from gatepass.models.servicetoken import SecretTemplate, ServiceToken
from gatepass.trust.credentials import secret_hash


@dataclass(frozen=True)
class SecretContent:
    """A credential on its way into a Secret. repr() never shows the secret."""

    client_id: str
    client_secret: str

    def __repr__(self) -> str:
        return f"SecretContent(client_id={self.client_id!r}, client_secret=<hidden>)"


def built(
    token: ServiceToken,
    metadata: SecretMetadata,
    existing: client.V1Secret | None,
    content: SecretContent | None = None,
    rerender: bool = False,
) -> client.V1Secret:
    """The token's Secret: with ``content``, new credentials; without, the data ``existing``
    holds under new metadata, or (``rerender``) its credentials laid out as the template
    now says."""
    meta = token.metadata
    owner = client.V1OwnerReference(
        api_version=token.api_version,
        kind=token.kind,
        name=meta.name,
        uid=meta.uid,
        controller=True,
        block_owner_deletion=True,
    )
    obj = client.V1Secret(
        metadata=client.V1ObjectMeta(
            name=token.secret_name,
            namespace=meta.namespace,
            labels=metadata.labels,
            annotations=metadata.annotations or None,
            owner_references=[owner],
        ),
        type="Opaque",
    )
    template = token.spec.secret_template
    if content is None and rerender and existing is not None:
        client_id, client_secret = credentials(template, decoded(existing))
        if client_id is not None and client_secret is not None:
            content = SecretContent(client_id, client_secret)  # the same ones, laid out anew
    if content is not None:
        obj.string_data = render(template, content.client_id, content.client_secret)
    elif existing is not None:
        obj.data = existing.data
    else:
        raise ValueError("a new Secret needs credentials")
    return obj


def secret_view(secret: client.V1Secret | None, owner_uid: str, template: SecretTemplate) -> SecretView:
    """Describe a Secret for the decision code: ownership, Client ID, the secret's hash,
    and whether its data is laid out as the template says (decisions/secretdata.py)."""
    if secret is None:
        return SecretView(exists=False)
    owned = any(ref.uid == owner_uid and ref.controller for ref in (secret.metadata.owner_references or []))
    data = decoded(secret)
    client_id, client_secret = credentials(template, data)
    return SecretView(
        exists=True,
        owned=owned,
        labels=secret.metadata.labels or {},
        annotations=secret.metadata.annotations or {},
        client_id=client_id,
        secret_hash=secret_hash(client_secret) if client_secret else None,
        data_current=current(template, data),
    )


def decoded(secret: client.V1Secret) -> dict[str, str]:
    """The Secret's data as text (values that are not UTF-8 left out: none of ours)."""
    out = {}
    for key, value in (secret.data or {}).items():
        text = _decode(value)
        if text is not None:
            out[key] = text
    return out


def _decode(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return base64.b64decode(value, validate=True).decode()
    except (ValueError, UnicodeDecodeError):
        return None
