"""Events on the API server: best effort (the condition carries the state)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

from gatepass import __version__
from gatepass.contract import GROUP
from gatepass.models.accessapplication import AccessApplication
from gatepass.models.events import Event
from gatepass.models.servicetoken import ServiceToken
from gatepass.operator.stores.raw import sent
from gatepass.operator.stores.workloads import COMPONENT

log = logging.getLogger(__name__)


class KubeEvents:
    def __init__(self, *, api: client.ApiClient) -> None:
        self.core = client.CoreV1Api(api)

    async def post(self, obj: ServiceToken | AccessApplication, event: Event) -> None:
        meta = obj.metadata
        now = datetime.now(UTC)
        ev = client.CoreV1Event(
            metadata=client.V1ObjectMeta(generate_name=f"{meta.name}.", namespace=meta.namespace),
            involved_object=client.V1ObjectReference(
                api_version=obj.api_version,
                kind=obj.kind,
                name=meta.name,
                namespace=meta.namespace,
                uid=meta.uid,
                resource_version=meta.resource_version,
            ),
            reason=event.reason,
            message=event.message,
            type=event.type,
            first_timestamp=now,
            last_timestamp=now,
            count=1,
            source=client.V1EventSource(component=COMPONENT),
            reporting_component=f"{GROUP}/operator",
            reporting_instance=f"gatepass-{__version__}",
        )
        try:
            await sent(self.core.create_namespaced_event(meta.namespace, ev, _preload_content=False))
        except ApiException as e:
            log.warning(
                "could not post Event %s for %s/%s: %s", event.reason, meta.namespace, meta.name, e.reason
            )
