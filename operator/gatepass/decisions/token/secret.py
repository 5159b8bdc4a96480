"""The token's Secret as it must be written: a new secret, or its template put right."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from gatepass.contract import SECRET_TEMPLATE_ANNOTATION
from gatepass.decisions.secretmeta import SecretMetadata, desired
from gatepass.decisions.token.chains import Action
from gatepass.decisions.token.draft import Draft
from gatepass.decisions.token.inputs import SecretView, TokenView
from gatepass.models.events import Event


@dataclass(frozen=True)
class SecretWrite:
    """The Secret as it must be written: the candidate's credentials, or its data kept."""

    metadata: SecretMetadata
    # With the candidate's secret: the Client ID that goes with it. None: only
    # labels/annotations change, the data stays (or, rerender, is laid out anew).
    client_id: str | None = None
    rerender: bool = False


def secret_write(
    d: Draft, token: TokenView, secret: SecretView, action: Action, client_id: str | None
) -> SecretWrite | None:
    """The new secret, or the template's labels and annotations put right (data untouched)."""
    if action is Action.CONFLICT:
        return None
    if action.generates:
        # A replaced Secret keeps what others put on it; a new one starts clean.
        found = (secret.labels, secret.annotations) if secret.exists else (None, None)
        return SecretWrite(desired(token.spec.secret_template, token.name, *found), client_id)
    want = desired(token.spec.secret_template, token.name, secret.labels, secret.annotations)
    if not secret.data_current:
        d.events.append(
            Event(
                "Normal",
                "SecretUpdated",
                f"Secret {token.secret_name} holds the same credentials, laid out as spec.secretTemplate"
                " says (keys, files)",
            )
        )
        return SecretWrite(want, rerender=True)
    if (want.labels, want.annotations) == (dict(secret.labels), dict(secret.annotations)):
        return None
    # Only the operator's own record of the template's keys (a Secret written by a version
    # before it existed): written quietly, not announced once per token on upgrade.
    if (want.labels, _visible(want.annotations)) != (dict(secret.labels), _visible(secret.annotations)):
        d.events.append(
            Event(
                "Normal",
                "SecretUpdated",
                f"labels and annotations of Secret {token.secret_name} follow spec.secretTemplate",
            )
        )
    return SecretWrite(want)


def _visible(annotations: Mapping[str, str]) -> dict[str, str]:
    return {k: v for k, v in annotations.items() if k != SECRET_TEMPLATE_ANNOTATION}
