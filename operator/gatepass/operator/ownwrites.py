"""Which watch events are the echo of our own status writes (operator/app.py routes
events by it): no self-made loops."""

from __future__ import annotations

from gatepass.models.meta import ObjectMeta

# Status writes per object whose watch events are recognised as our own.
OWN_WRITES_KEPT = 3
# The writes of tokens' Secrets are recorded under this plural (their watch events are
# ours too: the reconcile that wrote one goes on to write the token's status).
SECRETS = "secrets"


class OwnWrites:
    """The resourceVersions of our last status writes per object. More than the last one:
    an issuance writes twice, and the first write's event arrives after the second (were
    it taken for someone else's, every new token would be reconciled once more for
    nothing: two GETs each, minutes at 10,000 tokens)."""

    def __init__(self) -> None:
        self.written: dict[tuple[str, str, str], tuple[str, ...]] = {}

    def record(self, plural: str, meta: ObjectMeta) -> None:
        """A status write of ours produced ``meta``'s resourceVersion."""
        if meta.resource_version is not None:
            self.record_version(plural, meta.namespace, meta.name, meta.resource_version)

    def record_version(self, plural: str, namespace: str, name: str, version: str) -> None:
        """A write of ours (a status, or a token's Secret) produced ``version``."""
        key = (plural, namespace, name)
        kept = self.written.get(key, ())[-(OWN_WRITES_KEPT - 1) :]
        self.written[key] = (*kept, version)

    def own(self, plural: str, namespace: str, name: str, version: str | None) -> bool:
        """Is this version of the object one that our recent status writes produced?"""
        return version is not None and version in self.written.get((plural, namespace, name), ())

    def wrote(self, plural: str, namespace: str, name: str) -> bool:
        """Has this process written the object's status (since it was last deleted)?"""
        return (plural, namespace, name) in self.written

    def forget(self, plural: str, namespace: str, name: str) -> None:
        self.written.pop((plural, namespace, name), None)
