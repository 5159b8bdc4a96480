"""`gatepass operator`: the operator's parts built whole, then kopf until it stops."""

from __future__ import annotations

import asyncio
import os
import socket
import uuid

import kopf

from gatepass.operator import health
from gatepass.operator.app import OperatorApp
from gatepass.operator.handlers import build_registry
from gatepass.operator.leader import Leadership
from gatepass.operator.ratelimit import LimitedApiClient, TokenBucket
from gatepass.operator.settings import OperatorSettings
from gatepass.operator.stores.kube import kube_stores, load_config


async def build(config: OperatorSettings) -> OperatorApp:
    """Every part over one (rate-limited) API client; closing the stores closes it."""
    await load_config()
    qps, burst = config.api_qps, config.api_burst
    api = LimitedApiClient(TokenBucket(qps, burst) if qps else None)
    leadership = None
    if not config.standalone:
        identity = f"{os.environ.get('HOSTNAME') or socket.gethostname()}_{uuid.uuid4().hex[:6]}"
        leadership = Leadership(api, config.namespace, f"{config.peering}-operator", identity)
    stores = kube_stores(api, http_routes=config.http_routes)
    return OperatorApp(config=config, stores=stores, leadership=leadership)


async def run(config: OperatorSettings) -> None:
    app = await build(config)
    stop_flag = asyncio.Event()
    app.exit = stop_flag.set
    probes = None
    try:
        if config.health_port:
            probes = await health.serve(config.bind_address, config.health_port, app.unlive, app.unready)
        # A namespaced operator still watches its own namespace (keys, gateway).
        namespaces = sorted({*config.namespaces, config.namespace}) if config.namespaces else []
        await kopf.operator(
            registry=build_registry(
                app, manage_gateway=config.manage_gateway, http_routes=config.http_routes
            ),
            clusterwide=not namespaces,
            namespaces=namespaces,
            standalone=True,  # one writer by the leader lease (operator/leader.py), not kopf peering
            stop_flag=stop_flag,
        )
    finally:
        if probes is not None:
            await probes.cleanup()
        await app.stores.close()
    if app.lost_lease:
        raise SystemExit("the leader lease was lost: exiting, to come back as a standby")
