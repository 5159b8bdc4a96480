"""`gatepass` command line: run the operator, print the CRDs."""

from __future__ import annotations

import argparse
import logging
import sys
from importlib import resources

from pydantic import ValidationError

from gatepass import __version__


def crd_texts() -> list[str]:
    """The CRD manifests shipped with the package (the files in crds/)."""
    folder = resources.files("gatepass") / "crds"
    return [f.read_text() for f in sorted(folder.iterdir(), key=lambda f: f.name) if f.name.endswith(".yaml")]


def _operator(args: argparse.Namespace) -> int:
    import uvloop

    from gatepass.operator.app import run
    from gatepass.settings import OperatorSettings

    overrides: dict[str, object] = {}
    if args.namespace:
        overrides["namespaces"] = args.namespace
    if args.standalone:
        overrides["standalone"] = True
    try:
        config = OperatorSettings(**overrides)  # type: ignore[arg-type]
    except ValidationError as e:
        print(f"gatepass operator: invalid settings: {e}", file=sys.stderr)
        return 2
    _logging(config.log_level)
    uvloop.run(run(config))
    return 0


def _gateway(_: argparse.Namespace) -> int:
    import uvloop

    from gatepass.gateway.main import run
    from gatepass.gateway.settings import GatewaySettings

    try:
        config = GatewaySettings()
    except ValidationError as e:
        print(f"gatepass gateway: invalid settings: {e}", file=sys.stderr)
        return 2
    _logging(config.log_level)
    uvloop.run(run(config))
    return 0


def _logging(level: str) -> None:
    logging.basicConfig(level=level.upper(), format="%(asctime)s %(levelname)-7s %(name)s: %(message)s")
    # kopf logs every handled event at INFO; our own lines say what matters.
    if logging.getLogger().level >= logging.INFO:
        logging.getLogger("kopf.objects").setLevel(logging.WARNING)


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
