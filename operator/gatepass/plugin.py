"""`kubectl gatepass …` (the `kubectl-gatepass` entry point): day-to-day verbs.

Like `cmctl renew`, the verbs only set annotations the operator acts on once
per new value, so they work the same from a laptop, a CI job or GitOps.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import sys
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from kubernetes_asyncio import client, config
from kubernetes_asyncio.client.exceptions import ApiException

from gatepass.contract import (
    APPS,
    DEFAULT_KEY_SECRET,
    DEFAULT_NAMESPACE,
    GROUP,
    POLICIES,
    PREVIOUS_SECRET_EXPIRES_ANNOTATION,
    REACTIVATE_ANNOTATION,
    REFRESH_ANNOTATION,
    REPLACE_KEYS_ANNOTATION,
    REVOKE_SESSIONS_ANNOTATION,
    ROTATE_ANNOTATION,
    ROTATE_GRACE_ANNOTATION,
    ROTATE_SIGNING_KEY_ANNOTATION,
    VERSION,
    format_ts,
    format_ts_fine,
    parse_ts,
)
from gatepass.contract import TOKENS as PLURAL
from gatepass.decisions.secretdata import credentials
from gatepass.models.durations import grace_error, parse
from gatepass.models.servicetoken import SecretTemplate

# Custom resources have no strategic merge patch.
MERGE_PATCH: dict[str, Any] = {"_content_type": "application/merge-patch+json"}


class Fail(Exception):
    """A one-line error for the user."""


def now_stamp() -> str:
    return format_ts(datetime.now(UTC))


async def _api(kubeconfig: str | None, context: str | None) -> tuple[client.ApiClient, str]:
    try:
        await config.load_kube_config(config_file=kubeconfig, context=context)
        _, active = config.list_kube_config_contexts(config_file=kubeconfig)
        namespace = (active or {}).get("context", {}).get("namespace", "default")
    except (config.ConfigException, OSError) as e:
        raise Fail(f"no usable kubeconfig: {e}") from None
    return client.ApiClient(), namespace


async def _annotate(
    api: client.ApiClient, plural: str, ns: str, name: str, annotations: dict[str, str]
) -> None:
    custom = client.CustomObjectsApi(api)
    try:
        await custom.patch_namespaced_custom_object(
            GROUP,
            VERSION,
            ns,
            plural,
            name,
            {"metadata": {"annotations": annotations}},
            **MERGE_PATCH,
        )
    except ApiException as e:
        kind = "servicetoken" if plural == PLURAL else "accessapplication"
        if e.status == 404:
            raise Fail(f"{kind} {ns}/{name} not found") from None
        raise Fail(f"cannot annotate {kind} {ns}/{name}: {e.status} {e.reason}") from None


def _days_left(expires: str | None, now: datetime) -> str:
    if not expires:
        return "never"
    left = datetime.fromisoformat(expires.replace("Z", "+00:00")) - now
    return f"{left.total_seconds() / 86400:.1f}"


def _ready(status: dict[str, Any]) -> str:
    cond = next((c for c in status.get("conditions", []) if c.get("type") == "Ready"), None)
    return "-" if cond is None else f"{cond['status']}/{cond['reason']}"


def status_table(items: list[dict[str, Any]], now: datetime) -> str:
    rows = [("NAMESPACE", "NAME", "CLIENT ID", "READY", "EXPIRES", "DAYS LEFT", "LAST SEEN")]
    for obj in sorted(items, key=lambda o: (o["metadata"]["namespace"], o["metadata"]["name"])):
        st = obj.get("status") or {}
        rows.append(
            (
                obj["metadata"]["namespace"],
                obj["metadata"]["name"],
                st.get("clientId", "-"),
                _ready(st),
                st.get("expiresAt", "never" if st.get("clientId") else "-"),
                _days_left(st.get("expiresAt"), now) if st.get("clientId") else "-",
                st.get("lastSeenAt", "-"),
            )
        )
    return _table(rows)


def _table(rows: Sequence[tuple[str, ...]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows)


def policies_table(app: Mapping[str, Any], found: Mapping[str, Mapping[str, Any] | None]) -> str:
    """An application's policies in the order they are weighed: inline ones, and each
    policyRef with the AccessPolicy it names (``found``: by name, None when missing)."""
    rows: list[tuple[str, ...]] = [("#", "POLICY", "DECISION", "FROM")]
    entries = (app.get("spec") or {}).get("policies") or []
    for i, entry in enumerate(entries, 1):
        ref = (entry.get("policyRef") or {}).get("name") if isinstance(entry, Mapping) else None
        if ref is None:
            spec = entry if isinstance(entry, Mapping) else {}
            rows.append((str(i), str(spec.get("name") or "-"), str(spec.get("decision") or "?"), "inline"))
            continue
        body = found.get(ref)
        decision = str(((body or {}).get("spec") or {}).get("decision") or "?") if body else "MISSING"
        rows.append((str(i), ref, decision, f"AccessPolicy {ref}"))
    return _table(rows)


async def _policies(api: client.ApiClient, ns: str, args: argparse.Namespace) -> str:
    custom = client.CustomObjectsApi(api)
    try:
        app = await custom.get_namespaced_custom_object(GROUP, VERSION, ns, APPS, args.name)
    except ApiException as e:
        if e.status == 404:
            raise Fail(f"accessapplication {ns}/{args.name} not found") from None
        raise Fail(f"cannot read accessapplication {ns}/{args.name}: {e.status} {e.reason}") from None
    found: dict[str, Mapping[str, Any] | None] = {}
    for entry in (app.get("spec") or {}).get("policies") or []:
        name = (entry.get("policyRef") or {}).get("name") if isinstance(entry, Mapping) else None
        if name is None or name in found:
            continue
        try:
            found[name] = await custom.get_namespaced_custom_object(GROUP, VERSION, ns, POLICIES, name)
        except ApiException as e:
            if e.status != 404:
                raise Fail(f"cannot read accesspolicy {ns}/{name}: {e.status} {e.reason}") from None
            found[name] = None
    return policies_table(app, found)


async def _refresh(api: client.ApiClient, ns: str, args: argparse.Namespace) -> str:
    await _annotate(api, PLURAL, ns, args.name, {REFRESH_ANNOTATION: now_stamp()})
    return f"servicetoken {ns}/{args.name}: refresh requested"


async def _reactivate(api: client.ApiClient, ns: str, args: argparse.Namespace) -> str:
    await _annotate(api, PLURAL, ns, args.name, {REACTIVATE_ANNOTATION: now_stamp()})
    return f"servicetoken {ns}/{args.name}: reactivation requested (inactivity counts from now)"


async def _rotate(api: client.ApiClient, ns: str, args: argparse.Namespace) -> str:
    notes = {ROTATE_ANNOTATION: now_stamp()}
    if args.grace is not None:
        try:
            problem = grace_error(parse(args.grace))
        except ValueError as e:
            problem = str(e)
        if problem is not None:
            raise Fail(f"--grace: {problem}")
        notes[ROTATE_GRACE_ANNOTATION] = args.grace
    await _annotate(api, PLURAL, ns, args.name, notes)
    return f"servicetoken {ns}/{args.name}: rotation requested"


def grace_end(at: str | None, after: str | None, now: datetime) -> datetime:
    """When the previous secret should stop working: ``--at`` (RFC 3339), ``--in`` (a Go
    duration from now), or now."""
    if at is not None and after is not None:
        raise Fail("give --at or --in, not both")
    if at is not None:
        when = parse_ts(at)
        if when is None:
            raise Fail(f"--at: not an RFC 3339 time with a zone, e.g. 2026-01-02T15:04:05Z: {at!r}")
        return when
    try:
        return now + parse(after) if after is not None else now
    except ValueError as e:
        raise Fail(f"--in: {e}") from None


async def _end_grace(api: client.ApiClient, ns: str, args: argparse.Namespace) -> str:
    when = format_ts(grace_end(args.at, args.after, datetime.now(UTC)))
    await _annotate(api, PLURAL, ns, args.name, {PREVIOUS_SECRET_EXPIRES_ANNOTATION: when})
    return f"servicetoken {ns}/{args.name}: the previous secret is to stop working at {when}"


async def _revoke_sessions(api: client.ApiClient, ns: str, args: argparse.Namespace) -> str:
    # The moment, to the microsecond: the operator refuses every session minted before it.
    moment = format_ts_fine(datetime.now(UTC))
    await _annotate(api, APPS, ns, args.name, {REVOKE_SESSIONS_ANNOTATION: moment})
    return f"accessapplication {ns}/{args.name}: sessions issued before now will be refused"


async def _annotate_keys(api: client.ApiClient, args: argparse.Namespace, annotation: str) -> str:
    """Annotate the signing-key Secret (the cluster admin's, in the operator's namespace);
    its name as the message's subject."""
    where = f"Secret {args.operator_namespace}/{args.secret}"
    try:
        await client.CoreV1Api(api).patch_namespaced_secret(
            args.secret,
            args.operator_namespace,
            {"metadata": {"annotations": {annotation: now_stamp()}}},
        )
    except ApiException as e:
        if e.status == 404:
            raise Fail(f"{where} not found (is gatepass installed there? see --operator-namespace)") from None
        raise Fail(f"cannot annotate {where}: {e.status} {e.reason}") from None
    return where


async def _rotate_signing_key(api: client.ApiClient, ns: str, args: argparse.Namespace) -> str:
    where = await _annotate_keys(api, args, ROTATE_SIGNING_KEY_ANNOTATION)
    return f"{where}: a new signing key was requested; the current one keeps verifying (7 days or more)"


async def _replace_keys(api: client.ApiClient, ns: str, args: argparse.Namespace) -> str:
    if not args.yes:
        raise Fail(
            "replace-keys drops every signing key and the status-seal key now: every session ends, "
            "every token gets new credentials, every application a new aud. Add --yes to do it."
        )
    where = await _annotate_keys(api, args, REPLACE_KEYS_ANNOTATION)
    return f"{where}: new signing and seal keys requested; every token is reissued"


async def _status(api: client.ApiClient, ns: str, args: argparse.Namespace) -> str:
    custom = client.CustomObjectsApi(api)
    try:
        if args.all_namespaces:
            listing = await custom.list_cluster_custom_object(GROUP, VERSION, PLURAL)
        else:
            listing = await custom.list_namespaced_custom_object(GROUP, VERSION, ns, PLURAL)
    except ApiException as e:
        raise Fail(f"cannot list servicetokens: {e.status} {e.reason}") from None
    return status_table(listing.get("items", []), datetime.now(UTC))


async def _headers(api: client.ApiClient, ns: str, args: argparse.Namespace) -> str:
    name = args.name
    custom, core = client.CustomObjectsApi(api), client.CoreV1Api(api)
    try:
        token = await custom.get_namespaced_custom_object(GROUP, VERSION, ns, PLURAL, name)
        secret_name = (token.get("status") or {}).get("secretName") or name
        secret = await core.read_namespaced_secret(secret_name, ns)
    except ApiException as e:
        if e.status == 404:
            raise Fail(f"servicetoken {ns}/{name} or its Secret not found") from None
        raise Fail(f"cannot read servicetoken {ns}/{name}: {e.status} {e.reason}") from None
    template = SecretTemplate.model_validate((token.get("spec") or {}).get("secretTemplate") or {})
    data = {}
    for key, value in (secret.data or {}).items():
        with contextlib.suppress(ValueError, UnicodeDecodeError):
            data[key] = base64.b64decode(value).decode()
    cid, secret_value = credentials(template, data)  # under spec.secretTemplate.keys
    if cid is None or secret_value is None:
        raise Fail(f"Secret {ns}/{secret_name} holds no credentials yet")
    print(
        "warning: the line below contains a Client Secret; do not paste it anywhere public", file=sys.stderr
    )
    return f'-H "CF-Access-Client-Id: {cid}" -H "CF-Access-Client-Secret: {secret_value}"'


VERBS: dict[str, Callable[[client.ApiClient, str, argparse.Namespace], Awaitable[str]]] = {
    "refresh": _refresh,
    "reactivate": _reactivate,
    "rotate": _rotate,
    "end-grace": _end_grace,
    "revoke-sessions": _revoke_sessions,
    "rotate-signing-key": _rotate_signing_key,
    "replace-keys": _replace_keys,
    "status": _status,
    "headers": _headers,
    "policies": _policies,
}


async def run(args: argparse.Namespace) -> str:
    verb = VERBS.get(args.verb)
    if verb is None:
        raise Fail(f"unknown verb {args.verb}")
    api, default_ns = await _api(args.kubeconfig, args.context)
    try:
        return await verb(api, args.namespace or default_ns, args)
    finally:
        await api.close()


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="kubectl gatepass", description="Manage gatepass service tokens.")
    p.add_argument("-n", "--namespace", help="namespace (default: the kubeconfig context's)")
    p.add_argument("--kubeconfig", help="path to the kubeconfig file")
    p.add_argument("--context", help="kubeconfig context to use")
    sub = p.add_subparsers(dest="verb", required=True)
    sub.add_parser("refresh", help="extend a token's expiry by its duration from now").add_argument("name")
    sub.add_parser(
        "reactivate", help="a token deactivated for inactivity works again; its inactivity counts from now"
    ).add_argument("name")
    rot = sub.add_parser("rotate", help="issue a new Client Secret; the old one works for the grace period")
    rot.add_argument("name")
    rot.add_argument("--grace", help="how long the old secret keeps working (0s, or 1h to 720h)")
    end = sub.add_parser("end-grace", help="after a rotation: when the previous secret stops working")
    end.add_argument("name")
    end.add_argument(
        "--at",
        help="RFC 3339 time (default: now); later extends the grace, up to 30 days after the"
        " rotation (gatepass's bound)",
    )
    end.add_argument("--in", dest="after", help="a Go duration from now, e.g. 2h")
    sub.add_parser("revoke-sessions", help="refuse every JWT issued so far for an application").add_argument(
        "name"
    )
    keys = sub.add_parser("rotate-signing-key", help="sign JWTs with a new key from now (cluster admins)")
    keys.add_argument("--operator-namespace", default=DEFAULT_NAMESPACE, help="where gatepass runs")
    keys.add_argument("--secret", default=DEFAULT_KEY_SECRET, help="the signing-key Secret")
    gone = sub.add_parser(
        "replace-keys",
        help="a leaked key: new signing and seal keys now, every token reissued (cluster admins)",
    )
    gone.add_argument("--operator-namespace", default=DEFAULT_NAMESPACE, help="where gatepass runs")
    gone.add_argument("--secret", default=DEFAULT_KEY_SECRET, help="the signing-key Secret")
    gone.add_argument("--yes", action="store_true", help="yes, end every session and reissue every token")
    st = sub.add_parser("status", help="tokens with expiry, days left and last use")
    st.add_argument("-A", "--all-namespaces", action="store_true")
    sub.add_parser("headers", help="print the two curl -H options (shows the secret!)").add_argument("name")
    sub.add_parser(
        "policies", help="an application's policies in the order they are weighed, references resolved"
    ).add_argument("name")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        print(asyncio.run(run(args)))
    except Fail as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
