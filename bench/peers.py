"""gatepass beside its peers, on loopback, in one run: the same trivial upstream behind each.

    .venv/bin/python bench/peers.py [--seconds 5] [--rounds 3] [--connections 64] [--tokens 10000]

Rows (bench/README.md says how to read them):

* ``direct``: the upstream alone (nginx answering 200 "ok": the ceiling);
* ``nginx-proxy``: nginx proxying to the upstream, no auth: the limit of one hop, which
  any proxy in front (gatepass, oauth2-proxy, nginx asking gatepass) can only approach;
* ``gatepass-cookie``: a valid ``CF_Authorization`` cookie on every request;
* ``gatepass-headers``: the Client ID and Secret on every request;
* ``oauth2-proxy``: the peer, accepting gatepass's JWT as a bearer token
  (``--skip-jwt-bearer-tokens``, ``--extra-jwt-issuers``: keys found through gatepass's
  discovery document), proxying to the same upstream: the cookie path's work;
* ``nginx-forward-auth``: nginx ``auth_request`` to gatepass's ``/cdn-cgi/access/authorize``
  with the cookie, asking on every request, then proxying to the upstream;
* ``nginx-forward-auth-cached``: the same with the README's configuration, which reuses a
  session's admission for up to ``GATEPASS_AUTHORIZE_CACHE_SECONDS`` (1 s; gateway/reuse.py).

The load generator is wrk (C; Debian's package), one thread. Cores: the system under test
(gatepass, oauth2-proxy or the forward-auth nginx) runs on core 0, wrk and the upstream
nginx on core 1 (``taskset``), so the server measured has a core to itself and the load
never competes with it. Configurations alternate within each round; a row reports the
median of its rounds and their spread. Results: ``bench/results/<date>.json`` and the
table in ``bench/README.md``. No goal is asserted anywhere: compare runs.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "operator")]

from tests.support import nginx as nginx_conf  # noqa: E402
from tests.support.waiting import free_port  # noqa: E402

from bench import report, tools  # noqa: E402
from bench.gatepass_server import host, issuer  # noqa: E402
from gatepass.trust.credentials import new_client_id, new_client_secret, secret_hash  # noqa: E402

ROWS = (
    "direct",
    "nginx-proxy",
    "gatepass-cookie",
    "gatepass-headers",
    "oauth2-proxy",
    "nginx-forward-auth",
    "nginx-forward-auth-cached",
)
SUT_CORE, LOAD_CORE = "0", "1"


@dataclass
class Sample:
    row: str
    round: int
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    errors: int  # non-2xx/3xx responses and socket errors


@dataclass
class Target:
    url: str
    headers: dict[str, str]


def log(msg: str) -> None:
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


# --- wrk ---------------------------------------------------------------------------------
_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def _ms(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s)", text)
    if m is None:
        raise ValueError(f"not a wrk duration: {text!r}")
    return float(m.group(1)) * _UNITS[m.group(2)]


def parse_wrk(out: str) -> tuple[float, float, float, int]:
    """(req/s, p50 ms, p99 ms, errors) from `wrk --latency` output."""
    rps = re.search(r"^Requests/sec:\s+([\d.]+)", out, re.M)
    p50 = re.search(r"^\s+50%\s+(\S+)", out, re.M)
    p99 = re.search(r"^\s+99%\s+(\S+)", out, re.M)
    if rps is None or p50 is None or p99 is None:
        raise ValueError(f"unexpected wrk output:\n{out}")
    errors = sum(int(n) for n in re.findall(r"Non-2xx or 3xx responses: (\d+)", out))
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if sock is not None:
        errors += sum(int(n) for n in sock.groups())
    return float(rps.group(1)), _ms(p50.group(1)), _ms(p99.group(1)), errors


def wrk(target: Target, seconds: float, connections: int) -> tuple[float, float, float, int]:
    duration = max(1, round(seconds))  # wrk takes whole seconds
    cmd = [*_pin(LOAD_CORE), tools.wrk(), "-t1", f"-c{connections}", f"-d{duration}s", "--latency"]
    for k, v in target.headers.items():
        cmd += ["-H", f"{k}: {v}"]
    done = subprocess.run([*cmd, target.url], capture_output=True, text=True, timeout=seconds + 60)
    if done.returncode:
        raise RuntimeError(f"wrk failed: {done.stderr}")
    return parse_wrk(done.stdout)


def _pin(core: str) -> list[str]:
    return ["taskset", "-c", core] if shutil.which("taskset") and (os.cpu_count() or 1) > 1 else []


# --- the servers -------------------------------------------------------------------------
def _wait_http(url: str, headers: dict[str, str] | None = None, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=2):
                return
        except urllib.error.HTTPError:
            return  # it answers
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{url} did not answer in {timeout}s") from None
            time.sleep(0.1)


@contextlib.contextmanager
def process(cmd: list[str], name: str, logdir: Path, core: str | None) -> Iterator[subprocess.Popen[bytes]]:
    with (logdir / f"{name}.log").open("wb") as out:
        proc = subprocess.Popen([*(_pin(core) if core else []), *cmd], stdout=out, stderr=out)
    try:
        yield proc
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _nginx(http: str, name: str, d: Path, core: str) -> contextlib.AbstractContextManager[object]:
    conf = nginx_conf.write(d, name, http)
    return process([tools.nginx(), "-p", str(d), "-c", str(conf)], name, d, core)


@dataclass
class Fleet:
    targets: dict[str, Target]
    gateway_ready_seconds: float
    gateway_port: int
    credentials: list[tuple[str, str]]  # (Client ID, Client Secret) of every token
    gateway_pid: int  # taskset execs the server: its pid is the gateway's


def credentials(n: int) -> list[tuple[str, str]]:
    return [(new_client_id(), new_client_secret()) for _ in range(n)]


def jwt_from(gateway: int, client_id: str, secret: str, app: int = 0) -> str:
    """A session from gatepass: the CF_Authorization cookie a request with credentials gets."""
    req = urllib.request.Request(
        f"http://127.0.0.1:{gateway}/",
        headers={"Host": host(app), "CF-Access-Client-Id": client_id, "CF-Access-Client-Secret": secret},
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        cookie = resp.headers["Set-Cookie"]
    return str(cookie.split("CF_Authorization=", 1)[1].split(";", 1)[0])


def aud_of(jwt: str) -> str:
    payload = jwt.split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return str(claims["aud"][0])


@contextlib.contextmanager
def fleet(d: Path, tokens: int, rows: tuple[str, ...], apps: int = 1) -> Iterator[Fleet]:
    creds = credentials(tokens)
    (d / "tokens.json").write_text(json.dumps([[c, secret_hash(s)] for c, s in creds]))
    up, gw, o2p, fwd, hop, cached = (free_port() for _ in range(6))
    with contextlib.ExitStack() as stack:
        stack.enter_context(_nginx(nginx_conf.origin(up), "upstream", d, LOAD_CORE))
        _wait_http(f"http://127.0.0.1:{up}/")
        server = [
            sys.executable,
            str(ROOT / "bench" / "gatepass_server.py"),
            "--port",
            str(gw),
            "--upstream-port",
            str(up),
            "--tokens",
            str(d / "tokens.json"),
            "--apps",
            str(apps),
        ]
        started = time.monotonic()
        gateway = stack.enter_context(process(server, "gatepass", d, SUT_CORE))
        _wait_http(f"http://127.0.0.1:{gw}/.well-known/openid-configuration", timeout=300)
        ready = time.monotonic() - started
        client_id, secret = creds[0]
        jwt = jwt_from(gw, client_id, secret)
        targets = {
            "direct": Target(f"http://127.0.0.1:{up}/", {"Host": host(0)}),
            "gatepass-cookie": Target(
                f"http://127.0.0.1:{gw}/", {"Host": host(0), "Cookie": f"CF_Authorization={jwt}"}
            ),
            "gatepass-headers": Target(
                f"http://127.0.0.1:{gw}/",
                {"Host": host(0), "CF-Access-Client-Id": client_id, "CF-Access-Client-Secret": secret},
            ),
        }
        if "oauth2-proxy" in rows:
            o2p_cmd = oauth2_proxy_command(o2p, up, issuer(gw), aud_of(jwt))
            stack.enter_context(process(o2p_cmd, "oauth2-proxy", d, SUT_CORE))
            targets["oauth2-proxy"] = Target(f"http://127.0.0.1:{o2p}/", {"Authorization": f"Bearer {jwt}"})
            _wait_http(f"http://127.0.0.1:{o2p}/ping")
        if "nginx-forward-auth" in rows:
            fwd_conf = nginx_conf.forward_auth(fwd, gw, up)  # the README's (gatepass.proxyconfigs)
            stack.enter_context(_nginx(fwd_conf, "fwd", d, SUT_CORE))
            cookie = {"Host": host(0), "Cookie": f"CF_Authorization={jwt}"}
            targets["nginx-forward-auth"] = Target(f"http://127.0.0.1:{fwd}/", cookie)
            _wait_http(f"http://127.0.0.1:{fwd}/")
        if "nginx-forward-auth-cached" in rows:  # the README's (gatepass.proxyconfigs), its cache in d
            cached_conf = nginx_conf.forward_auth(cached, gw, up, d / "checks")
            stack.enter_context(_nginx(cached_conf, "fwd-cached", d, SUT_CORE))
            cookie = {"Host": host(0), "Cookie": f"CF_Authorization={jwt}"}
            targets["nginx-forward-auth-cached"] = Target(f"http://127.0.0.1:{cached}/", cookie)
            _wait_http(f"http://127.0.0.1:{cached}/")
        if "nginx-proxy" in rows:
            stack.enter_context(_nginx(nginx_conf.proxy(hop, up), "hop", d, SUT_CORE))
            targets["nginx-proxy"] = Target(f"http://127.0.0.1:{hop}/", {"Host": host(0)})
            _wait_http(f"http://127.0.0.1:{hop}/")
        for row in rows:  # every row answers 200 before it is measured
            t = targets[row]
            with urllib.request.urlopen(urllib.request.Request(t.url, headers=t.headers), timeout=10) as r:
                if r.status != 200:
                    raise RuntimeError(f"{row}: {r.status}")
        yield Fleet(targets, ready, gw, creds, gateway.pid)


def oauth2_proxy_command(port: int, upstream: int, iss: str, aud: str) -> list[str]:
    """oauth2-proxy accepting gatepass's JWTs as bearer tokens, found by OIDC discovery."""
    return [
        tools.oauth2_proxy(),
        f"--http-address=127.0.0.1:{port}",
        f"--upstream=http://127.0.0.1:{upstream}/",
        "--provider=oidc",
        f"--oidc-issuer-url={iss}",
        f"--client-id={aud}",
        "--client-secret=unused-no-login-flow-here",
        f"--cookie-secret={base64.urlsafe_b64encode(os.urandom(32)).decode()}",
        "--cookie-secure=false",
        "--email-domain=*",
        "--skip-jwt-bearer-tokens=true",
        f"--extra-jwt-issuers={iss}={aud}",
        "--oidc-email-claim=common_name",
        "--insecure-oidc-allow-unverified-email=true",
        "--skip-provider-button=true",
    ]


# --- what one request's parts cost, in this process ---------------------------------------
def costs() -> dict[str, float]:
    """Microseconds per operation of the session layer, single-threaded: where a request
    with credentials spent its time before minted JWTs were reused, and after."""
    from yarl import URL

    from gatepass.gateway.keyring import KeyRing
    from gatepass.gateway.sessions import Sessions
    from gatepass.gateway.state import AppRecord, TokenRecord
    from gatepass.trust import signing

    ring = KeyRing()
    ring.set(signing.load(signing.to_secret_data([signing.generate(datetime.now(UTC), "https://b")])))
    app = AppRecord(namespace="b", name="a", hosts=("h",), upstream=URL("http://u"), session_seconds=86400,
                    policies=[], uid="u", aud="a" * 64)  # fmt: skip
    tokens = [
        TokenRecord("b", f"t{i}", new_client_id(), secret_hash(new_client_secret())) for i in range(200)
    ]
    sessions, now = Sessions("https://b", ring), time.time()

    def per_op(fn: Callable[[int], object], n: int) -> float:
        start = time.perf_counter()
        for i in range(n):
            fn(i)
        return (time.perf_counter() - start) / n * 1e6

    signed = per_op(lambda i: sessions.mint(app, tokens[i], now), len(tokens))
    reused = per_op(lambda i: sessions.mint(app, tokens[i % len(tokens)], now + 1), 50_000)
    jwts = [sessions.mint(app, t, now)[0] for t in tokens]
    cold = Sessions("https://b", ring)
    verify_cold = per_op(lambda i: cold.verify(jwts[i], app, now), len(jwts))
    verify_cached = per_op(lambda i: cold.verify(jwts[i % len(jwts)], app, now), 50_000)
    return {"mint, signed (RS256)": signed, "mint, handed out again": reused,
            "verify, first time (RS256)": verify_cold, "verify, cached": verify_cached}  # fmt: skip


# --- rounds and the report ---------------------------------------------------------------
def measure(fl: Fleet, rows: tuple[str, ...], rounds: int, seconds: float, connections: int) -> list[Sample]:
    samples = []
    for r in range(rounds):
        order = rows if r % 2 == 0 else tuple(reversed(rows))  # no row always runs first
        for row in order:
            wrk(fl.targets[row], min(1.0, seconds), connections)  # warm-up, not counted
            rps, p50, p99, errors = wrk(fl.targets[row], seconds, connections)
            log(f"round {r + 1} {row}: {rps:,.0f} req/s p50 {p50:.2f} ms p99 {p99:.2f} ms")
            samples.append(Sample(row, r + 1, rps, p50, p99, errors))
    return samples


def summary(samples: list[Sample]) -> dict[str, dict[str, float]]:
    rows: dict[str, dict[str, float]] = {}
    for row in dict.fromkeys(s.row for s in samples):
        mine = [s for s in samples if s.row == row]
        rps = [s.requests_per_second for s in mine]
        rows[row] = {
            "requests_per_second": statistics.median(rps),
            "rps_min": min(rps),
            "rps_max": max(rps),
            "p50_ms": statistics.median(s.p50_ms for s in mine),
            "p99_ms": statistics.median(s.p99_ms for s in mine),
            "errors": sum(s.errors for s in mine),
        }
    return rows


RATIOS = (
    ("gatepass-cookie / oauth2-proxy", "gatepass-cookie", "oauth2-proxy", 1.0),
    ("gatepass-headers / gatepass-cookie", "gatepass-headers", "gatepass-cookie", 0.8),
    ("gatepass-cookie / direct", "gatepass-cookie", "direct", 0.5),
)
# Each row against the limit of one hop (no goal: how close a row comes to it).
LIMIT = "nginx-proxy"
AGAINST_LIMIT = tuple((f"{row} / {LIMIT}", row, LIMIT, None) for row in ROWS if row not in ("direct", LIMIT))


def ratios(rows: dict[str, dict[str, float]]) -> dict[str, float]:
    return {
        name: rows[a]["requests_per_second"] / rows[b]["requests_per_second"]
        for name, a, b, _ in (*RATIOS, *AGAINST_LIMIT)
        if a in rows and b in rows
    }


def table(result: dict[str, object]) -> str:
    rows: dict[str, dict[str, float]] = result["rows"]  # type: ignore[assignment]
    lines = [
        "| row | req/s (median) | spread (min-max) | p50 ms | p99 ms | errors |",
        "|---|---|---|---|---|---|",
    ]
    for row, v in rows.items():
        lines.append(
            f"| {row} | {v['requests_per_second']:,.0f} | {v['rps_min']:,.0f}-{v['rps_max']:,.0f} "
            f"| {v['p50_ms']:.2f} | {v['p99_ms']:.2f} | {v['errors']:.0f} |"
        )
    micro: dict[str, float] = result.get("costs_us", {})  # type: ignore[assignment]
    if micro:
        lines += ["", "| session layer, one core | µs per operation |", "|---|---|"]
        lines += [f"| {name} | {us:.1f} |" for name, us in micro.items()]
    lines += ["", "| ratio (req/s) | measured | goal |", "|---|---|---|"]
    got: dict[str, float] = result["ratios"]  # type: ignore[assignment]
    lines += [
        f"| {name} | {got[name]:.2f} | {'-' if goal is None else f'≥ {goal}'} |"
        for name, _, _, goal in (*RATIOS, *AGAINST_LIMIT)
        if name in got
    ]
    return "\n".join(lines)


BEGIN, END = "<!-- peers:begin -->", "<!-- peers:end -->"


def write_readme(readme: Path, result: dict[str, object]) -> None:
    m = result["machine"]
    body = f"\nMeasured {result['date']} on {m}; {result['settings']}.\n\n{table(result)}\n"
    report.write_section(readme, "peers", body)


def run(args: argparse.Namespace) -> dict[str, object]:
    rows = tuple(r for r in ROWS if r in args.rows)
    with (
        tempfile.TemporaryDirectory(prefix="gatepass-bench-") as tmp,
        fleet(Path(tmp), args.tokens, rows) as fl,
    ):
        log(f"gateway ready in {fl.gateway_ready_seconds:.1f}s with {args.tokens:,} tokens")
        samples = measure(fl, rows, args.rounds, args.seconds, args.connections)
    result: dict[str, object] = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{os.cpu_count()} cores, {tools.cpu_model()}",
        "settings": (
            f"wrk 1 thread, {args.connections} connections, {args.seconds:g} s per row, "
            f"{args.rounds} rounds; {args.tokens:,} tokens in the gateway; server on core "
            f"{SUT_CORE}, wrk and upstream on core {LOAD_CORE}"
        ),
        "versions": tools.versions(),
        "rows": summary(samples),
        "samples": [asdict(s) for s in samples],
    }
    result["ratios"] = ratios(result["rows"])  # type: ignore[arg-type]
    result["costs_us"] = costs()
    return result


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=float, default=5)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--connections", type=int, default=64)
    p.add_argument("--tokens", type=int, default=10_000)
    p.add_argument("--rows", nargs="*", default=list(ROWS), choices=ROWS)
    report.arguments(p)
    args = p.parse_args(argv)
    result = run(args)
    out = report.save(result, out=args.out)
    write_readme(args.readme, result)
    print(table(result))
    log(f"wrote {out} and {args.readme}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
