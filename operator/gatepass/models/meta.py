"""Object metadata as the operator and gateway read it (the fields they act on)."""

from __future__ import annotations

from pydantic import Field

from gatepass.contract import ObjectKey
from gatepass.models.base import CamelModel


class ObjectMeta(CamelModel):
    name: str
    namespace: str = ""
    uid: str = ""
    generation: int | None = None
    resource_version: str | None = None
    # As the API server wrote it (RFC 3339, seconds): compared as text, never parsed.
    creation_timestamp: str | None = None
    deletion_timestamp: str | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)

    @property
    def key(self) -> ObjectKey:
        return (self.namespace, self.name)

    def reference(self) -> dict[str, object]:
        """What a status write needs of metadata: who, and the version it was read at."""
        return self.model_dump(
            mode="json",
            by_alias=True,
            exclude_none=True,
            include={"name", "namespace", "uid", "resource_version"},
        )
