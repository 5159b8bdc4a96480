"""What kopf keeps of each object: nothing.

kopf builds a "diff base" on every watch event (a deep copy of the body without status,
compared with one it stores in an annotation) for change handlers. The operator has none
(operator/handlers.py: ``on.event`` only), so that work was for nothing: a deep copy of
each event's spec (a tenant's, up to 1.5 MiB) and a parse of its
``kopf.zalando.org/last-handled-configuration`` annotation, three times per new token, a
fifth of kopf's time per event. This storage builds an empty essence, reads none and
writes none.
"""

from __future__ import annotations

from collections.abc import Iterable

import kopf


class NoDiffBase(kopf.DiffBaseStorage):
    """A diff base for an operator without change handlers: always empty, never stored."""

    def build(
        self, *, body: kopf.Body, extra_fields: Iterable[kopf.FieldSpec] | None = None
    ) -> kopf.BodyEssence:
        return kopf.BodyEssence()

    def fetch(self, *, body: kopf.Body) -> kopf.BodyEssence | None:
        return None

    def store(self, *, body: kopf.Body, patch: kopf.Patch, essence: kopf.BodyEssence) -> None:
        return None
