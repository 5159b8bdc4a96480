"""`gatepass` command line: run the operator, print the CRDs."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Coroutine
from importlib import resources
from typing import Any, TypeVar

from pydantic import ValidationError

from gatepass import __version__

S = TypeVar("S")


def crd_texts() -> list[str]:
    """The CRD manifests shipped with the package (the files in crds/)."""
    folder = resources.files("gatepass") / "crds"
    return [f.read_text() for f in sorted(folder.iterdir(), key=lambda f: f.name) if f.name.endswith(".yaml")]


def _serve(name: str, make_settings: Callable[[], S], run: Callable[[S], Coroutine[Any, Any, None]]) -> int:
    """Validate settings (one clear error), set up logging, run on uvloop."""
    import uvloop

    try:
        config = make_settings()
    except ValidationError as e:
        print(f"gatepass {name}: invalid settings: {e}", file=sys.stderr)
        return 2
    _logging(str(getattr(config, "log_level", "INFO")))
    uvloop.run(run(config))
    return 0


def _operator(args: argparse.Namespace) -> int:
    from gatepass.operator.main import run
    from gatepass.operator.settings import OperatorSettings

    overrides: dict[str, Any] = {}
    if args.namespace:
        overrides["namespaces"] = args.namespace
    if args.standalone:
        overrides["standalone"] = True
    return _serve("operator", lambda: OperatorSettings(**overrides), run)


def _gateway(_: argparse.Namespace) -> int:
    from gatepass.gateway import kubelean

    kubelean.install()  # before anything imports kubernetes_asyncio: 67 MiB less per replica
    from gatepass.gateway.main import run
    from gatepass.gateway.settings import GatewaySettings

    return _serve("gateway", GatewaySettings, run)


# Libraries that log request or response bodies at DEBUG (Secret data, the signing
# key): never below INFO, whatever level gatepass runs at.
BODY_LOGGERS = ("kubernetes_asyncio", "kubernetes", "urllib3", "aiohttp.client")


def _logging(level: str) -> None:
    logging.basicConfig(level=level.upper(), format="%(asctime)s %(levelname)-7s %(name)s: %(message)s")
    logging.getLogger().setLevel(level.upper())  # also when handlers were already set up
    # kopf logs every handled event at INFO; our own lines say what matters.
    if logging.getLogger().level >= logging.INFO:
        logging.getLogger("kopf.objects").setLevel(logging.WARNING)
    for name in BODY_LOGGERS:
        logging.getLogger(name).setLevel(max(logging.INFO, logging.getLogger().level))


def _crds(_: argparse.Namespace) -> int:
    sys.stdout.write("---\n".join(crd_texts()))
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="gatepass", description=__doc__)
    p.add_argument("--version", action="version", version=f"gatepass {__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    op = sub.add_parser("operator", help="run the ServiceToken operator (settings: GATEPASS_* variables)")
    op.add_argument("-n", "--namespace", action="append", help="watch only this namespace (repeatable)")
    op.add_argument("--standalone", action="store_true", help="no peering (single replica or local run)")
    op.set_defaults(fn=_operator)
    gw = sub.add_parser("gateway", help="run the access gateway (settings: GATEPASS_* variables)")
    gw.set_defaults(fn=_gateway)
    crds = sub.add_parser("crds", help="print the CustomResourceDefinitions (kubectl apply -f -)")
    crds.set_defaults(fn=_crds)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    result: int = args.fn(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
