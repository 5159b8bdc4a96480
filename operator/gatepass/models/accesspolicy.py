"""AccessPolicy (gatepass.dev/v1alpha1): one reusable policy, as an entry of an
AccessApplication's spec.policies, for the applications of its namespace to name."""

from __future__ import annotations

from gatepass.contract import API_VERSION, POLICY_KIND
from gatepass.models.accessapplication import Policy
from gatepass.models.base import CamelModel
from gatepass.models.meta import ObjectMeta


class AccessPolicy(CamelModel):
    api_version: str = API_VERSION
    kind: str = POLICY_KIND
    metadata: ObjectMeta
    spec: Policy

    @property
    def policy(self) -> Policy:
        """The policy as an application evaluates it: labelled by its own name if it has
        one, else by the object's (audit lines and conditions name it)."""
        spec = self.spec
        return spec if spec.name else spec.model_copy(update={"name": self.metadata.name})
