"""The HTTP surface: aiohttp handlers that parse a request, call the store and shape the answer."""

from __future__ import annotations

import asyncio
import base64
import secrets
import threading
from collections.abc import Callable
from typing import Any

from aiohttp import web

from kubesim import (
    audit,
    auth,
    discovery,
    errors,
    rbac,
    requestinfo,
    routing,
    selectors,
    tables,
    watch,
)
from kubesim.store import Store
from kubesim.writes import JSON, Writes, _dry_run, _int, _json

Object = dict[str, Any]
LogSource = Callable[[str, str], str | None]
MAX_OPEN_PAGINATIONS = 256


def _wants_table(request: web.Request) -> bool:
    """Content negotiation: JSON, or a Table when asked; protobuf and other `as=` forms only where JSON is also fine."""
    accept = request.headers.get("Accept", "*/*")
    choices = [c.strip() for c in accept.split(",") if c.strip()]
    for choice in choices:
        media, *params = [p.strip() for p in choice.split(";")]
        options = dict(p.split("=", 1) for p in params if "=" in p)
        if media in (JSON, "*/*", "application/*") and options.get("as") == "Table" and options.get("v") == "v1":
            return True
        if media in (JSON, "*/*", "application/*") and "as" not in options:
            return False
    raise errors.not_acceptable(accept)


class Api(Writes):
    """Authenticates and authorizes every request, then routes it to discovery, CRUD, watch or a `kind: Status`
    refusal."""

    def __init__(self, store: Store, *, bookmark_interval: float, watch_timeout: float, log_source: LogSource) -> None:
        self.store = store
        self.bookmark_interval = bookmark_interval
        self.watch_timeout = watch_timeout
        self.log_source = log_source
        self.open_streams: set[asyncio.Queue[Any]] = set()
        self.watch_count = threading.Condition()  # tests wait on it for a client's watch to be open
        self.server_address = "127.0.0.1"
        self._pages: dict[str, tuple[list[Object], int]] = {}
        self.authenticator = auth.Authenticator(self._service_account_exists)
        self.authorizer = rbac.Authorizer(store)
        self.requests = audit.RequestLog()
        self.enforce_owner_references = False  # OwnerReferencesPermissionEnforcement (see _check_blocking_owners)

    def application(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self.handle)
        return app

    async def handle(self, request: web.Request) -> web.StreamResponse:
        try:
            user = self._authorize(request)
            return await self._dispatch(request, user)
        except errors.ApiError as error:
            return _json(error.status(), status=error.code)
        except Exception as error:  # a bug in the stand-in: say so as the real server would, loudly
            status = errors.ApiError(
                500,
                "InternalError",
                f"an error on the server ({type(error).__name__}: {error}) has prevented the request from succeeding",
            )
            return _json(status.status(), status=500)

    def _authorize(self, request: web.Request) -> auth.User:
        """As kube-apiserver's filters, before any routing: who asks (401 if unknown), then whether they may (403)."""
        user = self.authenticator.authenticate(request.headers.get("Authorization", ""), secure=request.secure)
        attributes = requestinfo.attributes(user, request.method, request.path, request.query)
        decision = self.authorizer.authorize(attributes)
        self.requests.record(attributes, decision.allowed, request.query.get("fieldSelector", ""))
        if not decision.allowed:
            raise rbac.forbidden(attributes, decision.reason)
        return user

    def _check_blocking_owners(self, user: auth.User, target: routing.Target, body: Any) -> None:
        """The OwnerReferencesPermissionEnforcement admission plugin (off upstream by default, on in OpenShift), for
        creates: an ownerReference with blockOwnerDeletion needs `update` on the owner's `finalizers` subresource.
        The check is logged in `requests` like a request, so a test sees the permission used."""
        meta = body.get("metadata") if isinstance(body, dict) else None
        for ref in (meta or {}).get("ownerReferences") or []:
            if not ref.get("blockOwnerDeletion"):
                continue
            group, _, version = str(ref.get("apiVersion", "")).rpartition("/")
            owner = self.store.registry.by_kind(str(ref.get("apiVersion", "")), str(ref.get("kind", "")))
            attributes = requestinfo.Attributes(
                user=user,
                verb="update",
                resource_request=True,
                group=group,
                version=version,
                resource=owner.plural if owner else "",
                subresource="finalizers",
                namespace=target.namespace or "",
                name=str(ref.get("name", "")),
            )
            decision = self.authorizer.authorize(attributes)
            self.requests.record(attributes, decision.allowed)
            if not decision.allowed:
                name = (meta or {}).get("name") or ""
                raise errors.forbidden(
                    target.resource.plural,
                    target.resource.group,
                    name,
                    "cannot set blockOwnerDeletion if an ownerReference refers to a resource you can't set "
                    f"finalizers on: {decision.reason}",
                )

    def _service_account_exists(self, namespace: str, name: str) -> bool:
        accounts = self.store.registry.get("", "serviceaccounts")
        return accounts is not None and self.store.find(accounts, namespace, name) is not None

    async def _dispatch(self, request: web.Request, user: auth.User) -> web.StreamResponse:
        path = request.path.rstrip("/") or "/"
        if request.method != "GET" and not path.startswith(("/api/", "/apis/")):
            raise errors.method_not_allowed()
        if path in ("/healthz", "/livez", "/readyz"):
            return web.Response(text="ok")
        if path == "/version":
            return _json(discovery.KUBERNETES_VERSION)
        if path == "/api":
            return _json(discovery.api_versions(self.server_address))
        if path == "/apis":
            return _json(discovery.api_group_list(self.store.registry))
        if path == "/openapi/v3":
            return _json(discovery.openapi_index(self.store.registry))
        if path.startswith("/openapi/v3/"):
            return self._openapi(path.removeprefix("/openapi/v3/"))
        if path.startswith("/apis/") and path.count("/") == 2:
            group = discovery.api_group(self.store.registry, path.split("/")[2])
            if group is None:
                raise errors.no_such_path()
            return _json(group)
        target = routing.parse(path, self.store.registry)
        if isinstance(target, routing.GroupVersion):
            if request.method != "GET":
                raise errors.method_not_allowed()
            listing = discovery.api_resource_list(self.store.registry, target.group, target.version)
            if listing is None:
                raise errors.no_such_path()
            return _json(listing)
        return await self._resource(request, target, user)

    def _openapi(self, rest: str) -> web.Response:
        parts = rest.split("/")
        if parts[0] == "api" and len(parts) == 2:
            document = discovery.openapi_document(self.store.registry, "", parts[1])
        elif parts[0] == "apis" and len(parts) == 3:
            document = discovery.openapi_document(self.store.registry, parts[1], parts[2])
        else:
            document = None
        if document is None:
            raise errors.no_such_path()
        return _json(document)

    async def _resource(self, request: web.Request, target: routing.Target, user: auth.User) -> web.StreamResponse:
        method, query = request.method, request.query
        if target.resource.key in (rbac.SELF_SUBJECT_ACCESS_REVIEWS, rbac.SELF_SUBJECT_REVIEWS):
            return await self._review(request, target, user)
        if target.subresource == "log":
            return self._log(request, target)
        if target.name is None:
            if method == "GET" and (target.legacy_watch or requestinfo.watch_requested(query)):
                return await self._watch(request, target)
            if method == "GET":
                return self._list(request, target)
            if method == "POST":
                return await self._create(request, target, user)
            if method == "DELETE" and "deletecollection" in target.resource.verbs:
                return await self._delete_collection(request, target)
            raise errors.method_not_allowed()
        if target.legacy_watch:
            return await self._watch(request, target, name=target.name)
        if method == "GET":
            obj = self.store.get(target.resource, target.namespace, target.name)
            return self._answer_objects(request, target, [obj], str(obj["metadata"]["resourceVersion"]), single=True)
        if method == "PUT":
            return await self._write(request, target, "PUT")
        if method == "PATCH":
            return await self._write(request, target, "PATCH")
        if method == "DELETE" and target.subresource is None:
            options = await self._body(request, optional=True) or {}
            for key in ("propagationPolicy", "gracePeriodSeconds"):
                if key in query:
                    options[key] = query[key]
            obj = self.store.delete(target.resource, target.namespace, target.name, options, dry_run=_dry_run(request))
            return _json(self._present(target, obj))
        raise errors.method_not_allowed()

    # ---- reads

    def _present(self, target: routing.Target, obj: Object, in_list: bool = False) -> Object:
        """The object as the version asked for; items of built-in lists carry no kind/apiVersion, as upstream."""
        obj = dict(obj)
        if in_list and not target.resource.crd_name:
            obj.pop("apiVersion", None)
            obj.pop("kind", None)
            return obj
        obj["apiVersion"] = target.api_version
        return obj

    def _matcher(self, request: web.Request, target: routing.Target, name: str | None = None) -> selectors.Matcher:
        labels = selectors.label_selector(request.query.get("labelSelector"))
        fields = selectors.field_selector(request.query.get("fieldSelector"), target.resource.field_labels)
        return lambda obj: labels(obj) and fields(obj) and (name is None or obj["metadata"]["name"] == name)

    def _list(self, request: web.Request, target: routing.Target) -> web.Response:
        query = request.query
        if query.get("continue"):
            items, rv = self._pages.pop(query["continue"], (None, 0))
            if items is None:
                raise errors.expired("The provided continue parameter is too old to display a consistent list result.")
        else:
            items, rv = self.store.list(target.resource, target.namespace, self._matcher(request, target))
            if query.get("resourceVersionMatch") == "Exact" and query.get("resourceVersion") != str(rv):
                raise errors.expired(f"too old resource version: {query.get('resourceVersion')} ({rv})")
        metadata: Object = {"resourceVersion": str(rv)}
        limit = int(query.get("limit") or 0)
        if limit and len(items) > limit:
            token = base64.urlsafe_b64encode(secrets.token_bytes(12)).decode()
            self._pages[token] = (items[limit:], rv)
            while len(self._pages) > MAX_OPEN_PAGINATIONS:  # the oldest continue tokens expire first (410)
                del self._pages[next(iter(self._pages))]
            metadata.update({"continue": token, "remainingItemCount": len(items) - limit})
            items = items[:limit]
        if _wants_table(request):
            return self._answer_objects(request, target, items, str(rv))
        body = {
            "kind": f"{target.resource.kind}List",
            "apiVersion": target.api_version,
            "metadata": metadata,
            "items": [self._present(target, obj, in_list=True) for obj in items],
        }
        return _json(body)

    def _answer_objects(
        self, request: web.Request, target: routing.Target, objects: list[Object], rv: str, single: bool = False
    ) -> web.Response:
        presented = [self._present(target, obj) for obj in objects]
        if _wants_table(request):
            include = request.query.get("includeObject", "Metadata")
            return _json(tables.table(target.resource, target.version, presented, rv, include))
        return _json(presented[0] if single else presented)

    def _log(self, request: web.Request, target: routing.Target) -> web.Response:
        if request.method != "GET":
            raise errors.method_not_allowed()
        self.store.get(target.resource, target.namespace, target.name or "")
        text = self.log_source(target.namespace or "", target.name or "")
        if text is None:
            raise errors.bad_request(f'container in pod "{target.name}" is waiting to start: ContainerCreating')
        return web.Response(text=text, content_type="text/plain")

    async def _watch(self, request: web.Request, target: routing.Target, name: str | None = None) -> web.StreamResponse:
        query = request.query
        rv = query.get("resourceVersion") or ""
        initial = query.get("sendInitialEvents") == "true"
        if initial and (
            query.get("resourceVersionMatch") != "NotOlderThan" or query.get("allowWatchBookmarks") != "true"
        ):
            raise errors.invalid(
                "ListOptions",
                "meta.k8s.io",
                "",
                [
                    errors.cause(
                        "sendInitialEvents",
                        "Forbidden: sendInitialEvents requires setting resourceVersionMatch to "
                        "NotOlderThan and allowWatchBookmarks",
                        "FieldValueForbidden",
                    )
                ],
            )
        present = self._table_presenter(request, target) if _wants_table(request) else None
        request_ = watch.WatchRequest(
            namespace=target.namespace,
            match=self._matcher(request, target, name),
            since=None if rv in ("", "0") or initial else _int(rv),
            bookmarks=query.get("allowWatchBookmarks") == "true",
            timeout=float(query.get("timeoutSeconds") or self.watch_timeout),
            initial_events_end=initial,
            present=present or (lambda obj: self._present(target, obj)),
            api_version=target.api_version,
        )
        return await watch.stream(
            request, self.store, target.resource, request_, self.bookmark_interval, self.open_streams, self.watch_count
        )

    def wait_for_watches(self, count: int, timeout: float = 30) -> None:
        """Block until at least `count` watch streams are open (say, kubectl's before the test changes state)."""
        with self.watch_count:
            if not self.watch_count.wait_for(lambda: len(self.open_streams) >= count, timeout=timeout):
                raise AssertionError(f"{len(self.open_streams)} watches open after {timeout}s, wanted {count}")

    def stop_watches(self) -> None:
        """End every open watch stream (the server is stopping), as an apiserver shutdown closes them."""
        for queue in list(self.open_streams):
            queue.put_nowait(watch.STOP)

    def _table_presenter(self, request: web.Request, target: routing.Target) -> Callable[[Object], Object]:
        """`kubectl get -w`: each event's object is a one-row Table; only the first carries the column headers."""
        include = request.query.get("includeObject", "Metadata")
        first = [True]

        def present(obj: Object) -> Object:
            rv = obj["metadata"].get("resourceVersion", "")
            table = tables.table(target.resource, target.version, [self._present(target, obj)], rv, include)
            if not first[0]:
                table["columnDefinitions"] = []
            first[0] = False
            return table

        return present

    # ---- writes
