"""How long a revoked session keeps working: from the API call to the first refusal.

    .venv/bin/python bench/revocation.py [--trials 50]

On the local control plane, with the operator and the gateway as processes (the gateway with
the environment of the Deployment the operator made), a client streams requests with a
token's cookie, back to back on one keep-alive connection. Then one of:

* ``delete``: the ServiceToken is deleted (a new token each trial);
* ``disable``: ``spec.enabled: false`` (enabled again after the trial);
* ``revoke-sessions``: the application's ``gatepass.dev/revoke-sessions`` annotation, as
  ``kubectl gatepass revoke-sessions`` writes it (the operator turns it into status, the
  gateway reads that).

Each trial streams twice at once: to the gateway, and through nginx in the README's
configuration (gatepass.proxyconfigs), which reuses a session's admission for up to the
gateway's ``GATEPASS_AUTHORIZE_CACHE_SECONDS`` (1 s by default; gateway/reuse.py): the
second stream's latency includes what is left of the cached answer.

The latency is the time from just before the API call to the arrival of the first refused
response. Reported: p50, p99 and the worst, per kind, into ``bench/results/<date>-revocation.json``
and ``bench/README.md``. No goal is asserted: compare runs.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import requests
from kubernetes import client, config

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tools" / "localcluster")]

from tests.support import nginx as nginx_conf  # noqa: E402
from tests.support.apps import ANY_TOKEN, Apps  # noqa: E402
from tests.support.gateway import GatewayProcess, Upstream, deployment_env  # noqa: E402
from tests.support.operator import OPERATOR_NAMESPACE, OperatorProcess  # noqa: E402
from tests.support.tokens import Tokens  # noqa: E402
from tests.support.waiting import free_port, wait_for  # noqa: E402

import localcluster  # noqa: E402
from bench import report  # noqa: E402

NS = "bench"
HOST = "revocation.bench.test"
KINDS = ("delete", "disable", "revoke-sessions")
PATHS = ("gateway", "nginx-cached")  # where the stream goes: the gateway, or nginx with its cache


def row(kind: str, path: str) -> str:
    return kind if path == "gateway" else f"{kind}, through nginx's cache"


ROWS = tuple(row(k, p) for k in KINDS for p in PATHS)


class Stream:
    """Requests with one cookie, back to back, until the first refusal (or the deadline)."""

    def __init__(self, url: str, cookie: str) -> None:
        self.http = requests.Session()
        self.headers = {"Host": HOST, "Cookie": f"CF_Authorization={cookie}"}
        self.url = url
        self.ok = 0
        self.refused_at: float | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            status = self.http.get(self.url, headers=self.headers, timeout=5).status_code
            if status != 200:
                self.refused_at = time.monotonic()
                return
            self.ok += 1

    def __enter__(self) -> Stream:
        self.thread.start()
        wait_for(lambda: self.ok >= 5, timeout=10, interval=0.01, what="the stream to be admitted")
        return self

    def __exit__(self, *_: object) -> None:
        self.thread.join(35)
        self.http.close()


class Bench:
    def __init__(self, api: client.ApiClient, gateway: GatewayProcess, cached: str) -> None:
        self.tokens, self.apps = Tokens(api, NS), Apps(api, NS)
        self.gateway = gateway
        self.urls = {"gateway": gateway.url, "nginx-cached": cached}
        self.n = 0

    def token(self) -> str:
        self.n += 1
        name = f"t{self.n}"
        self.tokens.create(name)
        self.tokens.wait_ready(name, timeout=30)
        return name

    def cookie(self, name: str) -> str:
        creds = self.tokens.creds(name)
        sent = {
            "Host": HOST,
            "CF-Access-Client-Id": creds.client_id,
            "CF-Access-Client-Secret": creds.client_secret,
        }

        def admitted() -> str | None:  # once the gateway's watch has the token
            resp = requests.get(self.gateway.url, headers=sent, timeout=5)
            return resp.cookies.get("CF_Authorization") if resp.status_code == 200 else None

        return str(wait_for(admitted, timeout=30, interval=0.05, what=f"{name} admitted"))

    def trial(self, name: str, revoke: Callable[[], None], next_second: bool = False) -> dict[str, float]:
        cookie = self.cookie(name)
        minted = int(time.time())  # the cookie's iat is this second or the one before
        with contextlib.ExitStack() as stack:
            streams = {p: stack.enter_context(Stream(url, cookie)) for p, url in self.urls.items()}
            while next_second and int(time.time()) <= minted:  # a revocation stamp has whole
                time.sleep(0.01)  # seconds: one in the cookie's own second would spare it
            start = time.monotonic()
            revoke()
        took = {}
        for path, stream in streams.items():
            if stream.refused_at is None:
                raise RuntimeError(f"{name} ({path}): still admitted 30 s after the revocation")
            took[path] = stream.refused_at - start
        return took

    def delete(self) -> dict[str, float]:
        name = self.token()
        return self.trial(name, lambda: self.tokens.delete(name))

    def disable(self, name: str) -> dict[str, float]:
        took = self.trial(name, lambda: self.tokens.patch(name, {"spec": {"enabled": False}}))
        self.tokens.patch(name, {"spec": {"enabled": True}})
        ready = lambda: (self.tokens.condition(name) or {}).get("status") == "True"  # noqa: E731
        wait_for(ready, timeout=30, what="enabled again")
        return took

    def revoke_sessions(self, name: str) -> dict[str, float]:
        def revoke() -> None:  # as `kubectl gatepass revoke-sessions app` does
            stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            self.apps.patch("app", {"metadata": {"annotations": {"gatepass.dev/revoke-sessions": stamp}}})

        return self.trial(name, revoke, next_second=True)


@contextlib.contextmanager
def _cached_nginx(workdir: Path, gateway: int, upstream: int) -> Iterator[str]:
    """nginx in the README's configuration, in front of the gateway and the upstream."""
    port, nginx = free_port(), nginx_conf.path()
    if nginx is None:
        raise RuntimeError("nginx is not installed (make test-deps)")
    conf = nginx_conf.write(
        workdir, "nginx", nginx_conf.forward_auth(port, gateway, upstream, workdir / "checks")
    )
    proc = subprocess.Popen([nginx, "-p", str(workdir), "-c", str(conf)])
    try:
        url = f"http://127.0.0.1:{port}"
        wait_for(lambda: _answers(url), timeout=10, what="nginx listening")
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


def _answers(url: str) -> bool:
    try:
        requests.get(url, timeout=1)
        return True
    except requests.ConnectionError:
        return False


def run(trials: int, workdir: Path) -> dict[str, object]:
    cluster = localcluster.LocalCluster(bindir=localcluster.build(), datadir=workdir / "cluster")
    cluster.start(preinstall=(ROOT / "crds",))
    operator = OperatorProcess(cluster.kubeconfig, workdir / "operator.log")
    upstream = Upstream()
    gateway: GatewayProcess | None = None
    stack = contextlib.ExitStack()
    try:
        api = config.new_client_from_config(config_file=str(cluster.kubeconfig))  # type: ignore[no-untyped-call]
        core = client.CoreV1Api(api)
        for ns in (NS, OPERATOR_NAMESPACE):
            core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=ns)))
        operator.start(GATEPASS_LOG_LEVEL="INFO")
        upstream.start()
        apps = client.AppsV1Api(api)
        wait_for(
            lambda: apps.list_namespaced_deployment(OPERATOR_NAMESPACE).items, timeout=60, what="gateway"
        )
        env = deployment_env(api, OPERATOR_NAMESPACE, "gatepass-gateway")
        gateway = GatewayProcess(
            cluster.kubeconfig, {**env, "GATEPASS_LOG_LEVEL": "INFO"}, workdir / "gw.log"
        )
        gateway.start(timeout=60)
        cached = stack.enter_context(_cached_nginx(workdir, gateway.port, upstream.port))
        bench = Bench(api, gateway, cached)
        bench.apps.create("app", {"hosts": [HOST], "upstream": upstream.url, "policies": ANY_TOKEN})
        bench.apps.wait_aud("app")
        kept = bench.token()
        seconds: dict[str, list[float]] = {r: [] for r in ROWS}
        for i in range(trials):
            for kind, took in (
                ("delete", bench.delete()),
                ("disable", bench.disable(kept)),
                ("revoke-sessions", bench.revoke_sessions(kept)),
            ):
                for path, s in took.items():
                    seconds[row(kind, path)].append(s)
            print(
                f"[bench] trial {i + 1}/{trials}: "
                + ", ".join(f"{k} {v[-1] * 1000:.0f} ms" for k, v in seconds.items()),
                file=sys.stderr,
                flush=True,
            )
    finally:
        stack.close()
        if gateway is not None:
            gateway.stop()
        upstream.stop()
        operator.stop()
        cluster.stop()
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "trials": trials,
        "kinds": {
            k: {
                "p50_ms": statistics.median(v) * 1000,
                "p99_ms": report.percentile(v, 0.99) * 1000,
                "max_ms": max(v) * 1000,
            }
            for k, v in seconds.items()
        },
        "seconds": seconds,
    }


def table(result: dict[str, object]) -> str:
    kinds: dict[str, dict[str, float]] = result["kinds"]  # type: ignore[assignment]
    lines = [
        f"\nMeasured {result['date']}, {result['trials']} trials each.\n",
        "| revocation | p50 ms | p99 ms | worst ms |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| {k} | {v['p50_ms']:.0f} | {v['p99_ms']:.0f} | {v['max_ms']:.0f} |" for k, v in kinds.items()
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--trials", type=int, default=50)
    report.arguments(p)
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="gatepass-revocation-") as tmp:
        result = run(args.trials, Path(tmp))
    report.publish(result, "revocation", table(result), args)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
