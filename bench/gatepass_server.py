"""A gatepass gateway in a process of its own, for benchmarks and interop tests: the shipped
Gateway with its defaults, its state built here (tokens sealed as the operator seals them,
applications as their watch delivers them), no API server.

    python bench/gatepass_server.py --port P --upstream-port U --tokens FILE [--apps N]

FILE is JSON, ``[[client_id, secret_hash], ...]`` (the process never sees a secret). The
applications are ``app0.bench.test`` ... , each open to any token of the namespace. The
issuer is ``http://127.0.0.1:P``: its discovery document and keys are served there, so
peers (oauth2-proxy) can verify what it mints. Ready when that document answers.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import uvloop
from aiohttp import web

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "operator")]

from gatepass.gateway.server import Gateway  # noqa: E402
from gatepass.gateway.settings import GatewaySettings  # noqa: E402
from gatepass.gateway.state import State, app_record, token_record  # noqa: E402
from gatepass.models.servicetoken import ServiceTokenStatus  # noqa: E402
from gatepass.routing.upstreams import UpstreamPolicy  # noqa: E402
from gatepass.trust import signing  # noqa: E402
from gatepass.trust.seal import Sealer, generate_key  # noqa: E402

NS = "bench"


def host(i: int) -> str:
    return f"app{i}.bench.test"


def issuer(port: int) -> str:
    return f"http://127.0.0.1:{port}"


def build_state(creds: list[tuple[str, str]], apps: int, upstream_port: int, iss: str) -> State:
    state = State(upstreams=UpstreamPolicy(allow=("127.0.0.1",)))
    state.set_keys(signing.load(signing.to_secret_data([signing.generate(datetime.now(UTC), iss)])))
    sealer = Sealer(generate_key())
    state.set_sealer(sealer)
    tokens = {}
    for i, (client_id, digest) in enumerate(creds):
        name, uid = f"t{i}", f"uid-t{i}"
        status: dict[str, Any] = {"clientId": client_id, "secretHash": digest}
        seals = sealer.stamps(uid, NS, name, ServiceTokenStatus.model_validate(status))
        obj = {"metadata": {"namespace": NS, "name": name, "uid": uid}, "spec": {},
               "status": {**status, **seals}}  # fmt: skip
        record = token_record(obj)
        assert record is not None
        tokens[(NS, name)] = record
    state.set_tokens(tokens)
    records = {}
    for i in range(apps):
        obj = {
            "metadata": {"namespace": NS, "name": f"app{i}", "uid": f"uid-app{i}"},
            "spec": {
                "hosts": [host(i)],
                "upstream": f"http://127.0.0.1:{upstream_port}",
                "policies": [{"decision": "serviceAuth", "include": [{"anyServiceToken": {}}]}],
            },
            "status": {},
        }
        app = app_record(obj)
        assert app is not None
        records[(NS, f"app{i}")] = app
    state.set_apps(records)
    return state


async def serve(port: int, upstream_port: int, creds: list[tuple[str, str]], apps: int) -> None:
    started = time.perf_counter()
    iss = issuer(port)
    state = build_state(creds, apps, upstream_port, iss)
    settings = GatewaySettings(issuer=iss, port=port, admin_port=0, cookie_secure=False)
    runner = Gateway(settings, state, ready=lambda: True).runner()
    await runner.setup()
    gc.freeze()  # as gateway/main.py does once its first sync is in
    await web.TCPSite(runner, "127.0.0.1", port, backlog=1024).start()
    print(json.dumps({"ready_seconds": round(time.perf_counter() - started, 2)}), file=sys.stderr, flush=True)
    await asyncio.Event().wait()  # until killed


def main(argv: list[str]) -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--upstream-port", type=int, required=True)
    p.add_argument("--tokens", type=Path, required=True)
    p.add_argument("--apps", type=int, default=1)
    args = p.parse_args(argv)
    creds = [(c, h) for c, h in json.loads(args.tokens.read_text())]
    uvloop.run(serve(args.port, args.upstream_port, creds, args.apps))


if __name__ == "__main__":
    main(sys.argv[1:])
