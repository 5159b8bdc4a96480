"""The labels and annotations a token's Secret should carry: pure.

The Secret gets ``spec.secretTemplate``'s labels and annotations plus gatepass's
own labels (those always win). Other tools may label or annotate the Secret too
(policy engines, backup tools): their keys are left alone. So that a key removed
from the template is also removed from the Secret, the Secret remembers which
keys came from the template, in the annotation ``gatepass.dev/secret-template``
(cert-manager answers the same question with server-side-apply field owners).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

from gatepass.contract import MANAGED_BY, SECRET_TEMPLATE_ANNOTATION, TOKEN_LABEL
from gatepass.models.servicetoken import SecretTemplate


@dataclass(frozen=True)
class SecretMetadata:
    labels: dict[str, str]
    annotations: dict[str, str]


def _from_template(annotations: Mapping[str, str]) -> tuple[frozenset[str], frozenset[str]]:
    """The label and annotation keys an earlier template put on the Secret."""
    try:
        record = json.loads(annotations.get(SECRET_TEMPLATE_ANNOTATION, "{}"))
        labels, notes = record.get("labels", []), record.get("annotations", [])
    except (ValueError, AttributeError):
        return frozenset(), frozenset()  # unreadable (someone edited it): remove nothing
    if not all(isinstance(k, str) for k in (*labels, *notes)):
        return frozenset(), frozenset()
    return frozenset(labels), frozenset(notes)


def desired(
    template: SecretTemplate,
    token_name: str,
    labels: Mapping[str, str] | None = None,
    annotations: Mapping[str, str] | None = None,
) -> SecretMetadata:
    """What the Secret's metadata should be, given what it carries now (None: a new Secret)."""
    labels, annotations = labels or {}, annotations or {}
    old_labels, old_notes = _from_template(annotations)
    new_labels = {k: v for k, v in labels.items() if k not in old_labels}
    new_labels.update(template.labels)
    new_labels.update({**MANAGED_BY, TOKEN_LABEL: token_name})
    new_notes = {
        k: v for k, v in annotations.items() if k not in old_notes and k != SECRET_TEMPLATE_ANNOTATION
    }
    new_notes.update(template.annotations)
    if template.labels or template.annotations:
        record = {"labels": sorted(template.labels), "annotations": sorted(template.annotations)}
        new_notes[SECRET_TEMPLATE_ANNOTATION] = json.dumps(record, separators=(",", ":"))
    return SecretMetadata(new_labels, new_notes)
