"""List+watch loops that keep the gateway's :class:`State` current.

Each informer lists once (the state is then replaced as a whole, so objects
deleted while disconnected disappear and the rest stay), then watches from
the list's resourceVersion with bookmarks. A stream that ends is resumed from
the last version seen; 410 Gone (history compacted) means list again. Errors
back off and retry; the state in memory keeps serving meanwhile.
"""

from __future__ import annotations

import asyncio
import base64
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, TypeVar

import aiohttp
from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

from gatepass.contract import APPS, GROUP, POLICIES, SEAL_ENTRY, TOKENS, VERSION, ObjectKey
from gatepass.gateway.kube import metadata_lister, read_list
from gatepass.gateway.settings import GatewaySettings
from gatepass.gateway.state import AppRecord, State, TokenRecord, app_record, policy_entry, token_record
from gatepass.gateway.workload import Pod, WorkloadTokens
from gatepass.liststream import ListStream
from gatepass.models.accessapplication import Policy
from gatepass.routing.hosts import Claim, claim_of
from gatepass.trust import signing
from gatepass.trust.seal import Sealer
from gatepass.watchstream import Truncated, WatchStream

log = logging.getLogger(__name__)
Obj = dict[str, Any]
T = TypeVar("T")
ListFn = Callable[..., Awaitable[Any]]


# Objects per list request. A page is read as it streams in, one object at a time, each
# converted at once to what the gateway keeps (gatepass/liststream.py): memory follows
# the count of objects, never their size (tenants write pods and ServiceAccounts with
# up to 256 KiB of annotations each: a page of 500 read whole was over 100 MiB).
PAGE = 500
# Retries while the API server is away stay a few seconds apart (one small request per
# informer each time), so a gateway catches up within seconds of its return.
MAX_BACKOFF = 5.0


class Informer:
    def __init__(
        self,
        name: str,
        list_fn: ListFn,
        replace: Callable[[list[Any]], None],
        apply: Callable[[str, Obj], None],
        convert: Callable[[Obj], Any],
    ) -> None:
        self.name = name
        self.list_fn = list_fn  # called with _preload_content=False: it answers the response
        self.replace = replace  # with every object listed, each as convert() made it
        self.apply = apply
        self.convert = convert  # what the listing keeps of an object (None: nothing)
        self.synced = asyncio.Event()
        self._version: str | None = None  # the last resourceVersion seen: where a watch resumes
        self._streamed = False  # the current watch delivered something

    async def _list(self) -> tuple[list[Any], str]:
        """Every object, page by page, converted as it arrives; the listing's
        resourceVersion (one snapshot across the pages: the watch starts there)."""
        kept: list[Any] = []
        more: str | None = None
        while True:
            page = ListStream()
            async for o in read_list(self.list_fn, page, limit=PAGE, **({"_continue": more} if more else {})):
                converted = self._guarded(self.convert, o)
                if converted is not None:
                    kept.append(converted)
            meta = page.fields["metadata"]
            more = meta.get("continue")
            if not more:
                return kept, meta["resourceVersion"]

    def _guarded(self, step: Callable[..., Any], *args: Any) -> Any:
        """One object's conversion or event: whatever it raises costs that object only (it
        is skipped and said), never the watch every namespace's objects arrive by."""
        try:
            return step(*args)
        except Exception as e:  # any tenant-written value, any bug: one object
            meta = (args[-1].get("metadata") or {}) if isinstance(args[-1], dict) else {}
            log.error(
                "%s: skipping %s/%s: %s",
                self.name,
                meta.get("namespace"),
                meta.get("name"),
                type(e).__name__,  # the type only: the message may quote the object
            )
            return None

    async def run(self) -> None:
        """List, then watch; after a dropped connection or an API server restart, watch again
        from the last version seen (as client-go's reflector does: no relist of every object
        after each blip); list again only when that history is gone (410) or unknown."""
        backoff = 0.5
        version: str | None = None
        while True:
            try:
                if version is None:
                    items, version = await self._list()
                    self.replace(items)
                    log.info("%s: %d listed", self.name, len(items))
                    del items
                    self.synced.set()
                    backoff = 0.5
                self._version = version
                await self._watch()
            except ApiException as e:
                if e.status == 410:
                    log.info("%s: watch history expired; listing again", self.name)
                    version = self._version = None
                    continue
                log.warning("%s: API error %s %s; retrying in %.1fs", self.name, e.status, e.reason, backoff)
            except (aiohttp.ClientError, OSError, TimeoutError, Truncated) as e:
                log.warning("%s: %s; retrying in %.1fs", self.name, type(e).__name__, backoff)
            except asyncio.CancelledError:
                raise
            except Exception as e:  # this loop must outlive anything one answer does
                log.error("%s: %s; listing again in %.1fs", self.name, type(e).__name__, backoff)
                self._version = None
            version = self._version
            if self._streamed:
                backoff = 0.5  # it was working: this is a new problem
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, MAX_BACKOFF)

    async def _watch(self) -> None:
        """Watch from self._version, keeping it at the last version seen (events and
        bookmarks), stream after stream; returns only by raising. Each event is read
        whole whatever its size (gatepass/watchstream.py: a line-limited reader failed on
        a tenant's large object, and every failure was a relist of every object)."""
        self._streamed = False
        while True:
            params: Obj = {"watch": True, "allow_watch_bookmarks": True, "timeout_seconds": 300}
            events = read_list(self.list_fn, WatchStream(), resource_version=self._version, **params)
            async for event in events:
                self._streamed = True
                self._version = self._event(event) or self._version

    def _event(self, event: Obj) -> str | None:
        """Apply one watch event; the resourceVersion it brings (None: none)."""
        kind, obj = event.get("type"), event.get("object")
        if kind is None and "code" in event:  # a bare Status
            raise ApiException(status=event.get("code"), reason=str(event.get("reason")))
        if not isinstance(obj, dict) or not isinstance(kind, str):
            raise ValueError("a watch event without type or object")  # list again: who knows
        if kind == "ERROR":  # a Status: 410 Gone means list again
            raise ApiException(status=obj.get("code"), reason=str(obj.get("reason")))
        if kind != "BOOKMARK":  # one object (the API server bounds its size), applied at once
            self._guarded(self.apply, kind, obj)
        meta = obj.get("metadata")
        version = meta.get("resourceVersion") if isinstance(meta, dict) else None
        return version if isinstance(version, str) else None


def _sealer(key: bytes | None) -> Sealer | None:
    try:
        return None if key is None else Sealer(key)
    except ValueError:
        log.error("the status-seal key in the signing-key Secret is unusable: nothing is served")
        return None


def _key(obj: Obj) -> ObjectKey:
    meta = obj["metadata"]
    return meta["namespace"], meta["name"]


def _epoch(stamp: str | None) -> float | None:
    return None if not stamp else datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def _pod(obj: Obj) -> tuple[str, Pod]:
    meta = obj["metadata"]
    return meta["uid"], Pod(meta["namespace"], _epoch(meta.get("deletionTimestamp")))


def _app_and_claim(obj: Obj) -> tuple[AppRecord | None, Claim | None]:
    """An application parsed once: its record and the hosts it claims, read by hand only
    when it cannot be served (it keeps the hosts it claimed first)."""
    record = app_record(obj)
    return record, (claim_of(obj) if record is None else record.claim)


def _account(obj: Obj) -> tuple[ObjectKey, str]:
    return _key(obj), obj["metadata"]["uid"]


AppEntry = tuple[ObjectKey, AppRecord | None, Claim | None]


class Watches:
    """The informers the gateway needs, feeding one State (and, for ServiceAccount
    callers, one WorkloadTokens: pods and ServiceAccounts, metadata only)."""

    def __init__(
        self,
        api: client.ApiClient,
        settings: GatewaySettings,
        state: State,
        app_gone: Callable[[str, str], None] = lambda _ns, _name: None,
        token_gone: Callable[[str, str], None] = lambda _ns, _name: None,
        workloads: WorkloadTokens | None = None,
    ) -> None:
        self.state = state
        self.workloads = workloads
        self.settings = settings
        self.app_gone = app_gone  # (namespace, name) of a deleted application
        self.token_gone = token_gone  # ...and of a deleted token
        custom = client.CustomObjectsApi(api)
        core = client.CoreV1Api(api)
        self._key_version: str | None = None
        self._keys_loaded = asyncio.Event()  # a signing key has been seen (once)

        def lister(plural: str) -> ListFn:
            if len(settings.namespaces) == 1:
                ns = settings.namespaces[0]
                return lambda **kw: custom.list_namespaced_custom_object(GROUP, VERSION, ns, plural, **kw)
            return lambda **kw: custom.list_cluster_custom_object(GROUP, VERSION, plural, **kw)

        def list_key_secret(**kw: Any) -> Awaitable[Any]:
            # Only the one Secret, by name: the gateway may get/list/watch no other.
            return core.list_namespaced_secret(
                settings.key_namespace, field_selector=f"metadata.name={settings.key_secret}", **kw
            )

        # Plain JSON dicts everywhere (typed models for Secrets would be one more copy); each
        # listed object is converted at once to what is kept of it.
        self.informers = [
            Informer(
                "servicetokens", lister(TOKENS), self._replace_tokens, self._apply_token, self._token_entry
            ),
            Informer(
                "accessapplications", lister(APPS), self._replace_apps, self._apply_app, self._app_entry
            ),
            Informer(
                "accesspolicies",
                lister(POLICIES),
                self._replace_policies,
                self._apply_policy,
                self._policy_entry,
            ),
            Informer("signing-keys", list_key_secret, self._replace_keys, self._apply_keys, lambda o: o),
        ]
        if workloads is not None:

            def core_path(plural: str) -> str:
                if len(settings.namespaces) == 1:
                    return f"/api/v1/namespaces/{settings.namespaces[0]}/{plural}"
                return f"/api/v1/{plural}"

            def metadata(plural: str) -> ListFn:
                return metadata_lister(api, core_path(plural))

            self.informers += [
                Informer(
                    "pods", metadata("pods"), self._replace_pods, self._apply_pod, self._watched_only(_pod)
                ),
                Informer(
                    "serviceaccounts",
                    metadata("serviceaccounts"),
                    self._replace_accounts,
                    self._apply_account,
                    self._watched_only(_account),
                ),
            ]

    def _watched(self, obj: Obj) -> bool:
        return not self.settings.namespaces or obj["metadata"]["namespace"] in self.settings.namespaces

    def _watched_only(self, convert: Callable[[Obj], T]) -> Callable[[Obj], T | None]:
        return lambda obj: convert(obj) if self._watched(obj) else None

    # tokens
    def _token_entry(self, obj: Obj) -> tuple[ObjectKey, TokenRecord] | None:
        """What the listing keeps of a token: its record, not the object; the record held
        already when the token is unchanged (a listing again then holds one record of each
        token, not two), keyed by the record's own strings."""
        record = token_record(obj) if self._watched(obj) else None
        if record is None:
            return None
        record = self.state.held_token(record)
        return (record.namespace, record.name), record

    def _replace_tokens(self, entries: list[tuple[ObjectKey, TokenRecord]]) -> None:
        tokens = dict(entries)
        for gone in self.state.tokens.keys() - tokens.keys():
            self.token_gone(*gone)  # deleted while we were not watching
        self.state.set_tokens(tokens)

    def _apply_token(self, kind: str, obj: Obj) -> None:
        if self._watched(obj):
            self.state.put_token(_key(obj), None if kind == "DELETED" else token_record(obj))
            if kind == "DELETED":
                self.token_gone(*_key(obj))

    # applications
    def _app_entry(self, obj: Obj) -> AppEntry | None:
        """What the listing keeps of an application (also one it cannot serve: its claim)."""
        return (_key(obj), *_app_and_claim(obj)) if self._watched(obj) else None

    def _replace_apps(self, entries: list[AppEntry]) -> None:
        records = {key: record for key, record, _ in entries}
        claims = {key: claim for key, _, claim in entries}
        for gone in (self.state.apps.keys() | self.state.claims.keys()) - records.keys():
            self.app_gone(*gone)  # deleted while we were not watching
        self.state.set_apps(
            {k: r for k, r in records.items() if r is not None},
            {k: c for k, c in claims.items() if c is not None},
        )

    def _apply_app(self, kind: str, obj: Obj) -> None:
        if self._watched(obj):
            if kind == "DELETED":
                self.state.put_app(_key(obj), None)
                self.app_gone(*_key(obj))
            else:
                self.state.put_app(_key(obj), *_app_and_claim(obj))

    # reusable policies, named by the applications of their namespace
    def _policy_entry(self, obj: Obj) -> tuple[ObjectKey, Policy | None] | None:
        return (_key(obj), policy_entry(obj)) if self._watched(obj) else None

    def _replace_policies(self, entries: list[tuple[ObjectKey, Policy | None]]) -> None:
        self.state.set_policies(dict(entries))

    def _apply_policy(self, kind: str, obj: Obj) -> None:
        if self._watched(obj):
            deleted = kind == "DELETED"
            self.state.put_policy(_key(obj), None if deleted else policy_entry(obj), deleted=deleted)

    # pods and ServiceAccounts: what a ServiceAccount token may be bound to
    def _replace_pods(self, entries: list[tuple[str, Pod]]) -> None:
        assert self.workloads is not None
        self.workloads.set_pods(dict(entries))

    def _apply_pod(self, kind: str, obj: Obj) -> None:
        assert self.workloads is not None
        if self._watched(obj):
            uid, pod = _pod(obj)
            self.workloads.put_pod(uid, None if kind == "DELETED" else pod)

    def _replace_accounts(self, entries: list[tuple[ObjectKey, str]]) -> None:
        assert self.workloads is not None
        self.workloads.set_accounts(dict(entries))

    def _apply_account(self, kind: str, obj: Obj) -> None:
        assert self.workloads is not None
        if self._watched(obj):
            self.workloads.put_account(_key(obj), None if kind == "DELETED" else obj["metadata"]["uid"])

    # signing keys
    def _replace_keys(self, items: list[Obj]) -> None:
        if not items:
            self._keys_gone()
            return
        self._apply_keys("ADDED", items[0])

    def _keys_gone(self) -> None:
        """The Secret is not there. Before the first keys nothing is served; after, the keys
        held keep serving (static stability: the operator puts the same keys back, and only
        a new Secret replaces them)."""
        where = f"{self.settings.key_namespace}/{self.settings.key_secret}"
        if self.state.sealer is None:
            log.warning("signing-key Secret %s not found", where)
            return
        log.warning("signing-key Secret %s is gone: serving with the keys held until it is back", where)
        self._key_version = None

    def _apply_keys(self, kind: str, obj: Obj) -> None:
        if kind == "DELETED":
            self._keys_gone()
            return
        version = obj["metadata"].get("resourceVersion")
        if version == self._key_version:
            return  # unchanged: skip the slow PEM parsing
        data = {k: base64.b64decode(v) for k, v in (obj.get("data") or {}).items()}
        self.state.set_keys(signing.load(data))
        self.state.set_sealer(_sealer(data.get(SEAL_ENTRY)))
        if self.state.signing_key is not None and self.state.sealer is not None:
            self._keys_loaded.set()
        self._key_version = version
        log.info(
            "signing keys loaded: %s; status-seal key: %s",
            ", ".join(k.kid[:12] for k in self.state.keys) or "none",
            self.state.sealer.key_id if self.state.sealer else "none (nothing is served)",
        )

    @property
    def ready(self) -> bool:
        return (
            all(i.synced.is_set() for i in self.informers)
            and self.state.signing_key is not None
            and self.state.sealer is not None
        )

    async def wait_ready(self) -> None:
        """Until every list has arrived and a signing key is loaded (startup only)."""
        await asyncio.gather(self._keys_loaded.wait(), *(i.synced.wait() for i in self.informers))

    def start(self) -> list[asyncio.Task[None]]:
        return [asyncio.create_task(i.run(), name=f"watch-{i.name}") for i in self.informers]
