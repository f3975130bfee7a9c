"""The HTTP surface's writes: creating, replacing, patching and deleting objects (one at a time or a collection),
and the access reviews; `Api` (kubesim/app.py) inherits them."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from aiohttp import web

from kubesim import auth, errors, patches, protobuf, rbac, routing, selectors

if TYPE_CHECKING:
    from kubesim.store import Store

JSON = "application/json"
Object = dict[str, Any]


def _json(body: Any, status: int = 200, warnings: list[str] | None = None) -> web.Response:
    headers = {"Cache-Control": "no-cache, private"}
    response = web.Response(body=json.dumps(body).encode() + b"\n", status=status, content_type=JSON, headers=headers)
    for warning in warnings or []:
        response.headers.add("Warning", f'299 - "{warning}"')
    return response


class Writes:
    """The write handlers, over what `Api` holds and how it shapes answers (declared here, defined there)."""

    store: Store
    authorizer: rbac.Authorizer
    enforce_owner_references: bool
    if TYPE_CHECKING:

        def _present(self, target: routing.Target, obj: Object, in_list: bool = False) -> Object: ...

        def _matcher(
            self, request: web.Request, target: routing.Target, name: str | None = None
        ) -> selectors.Matcher: ...

        def _check_blocking_owners(self, user: auth.User, target: routing.Target, body: Any) -> None: ...

    async def _review(self, request: web.Request, target: routing.Target, user: auth.User) -> web.Response:
        """`kubectl auth can-i` and `kubectl auth whoami`: answered, never stored."""
        if request.method != "POST" or target.name is not None or target.legacy_watch:
            raise errors.method_not_allowed()
        if target.resource.key == rbac.SELF_SUBJECT_REVIEWS:
            return _json(rbac.whoami(user), status=201)
        if request.headers.get("Content-Type", "").split(";")[0].strip() == protobuf.CONTENT_TYPE:
            body = protobuf.self_subject_access_review(await request.read())
        else:
            body = await self._body(request)
        return _json(rbac.review(self.authorizer, user, body), status=201)

    async def _body(self, request: web.Request, optional: bool = False) -> Any:
        raw = await request.read()
        if not raw:
            if optional:
                return None
            raise errors.bad_request("the request body is empty")
        try:
            return json.loads(raw)
        except ValueError as error:
            raise errors.bad_request(f"the body of the request was in an unknown format: {error}") from None

    def _write_options(self, request: web.Request) -> tuple[bool, str | None, list[str]]:
        validation = request.query.get("fieldValidation")
        if validation not in (None, "", "Ignore", "Warn", "Strict"):
            raise errors.bad_request(
                f'fieldValidation must be one of "Ignore", "Warn", or "Strict", got {validation!r}'
            )
        return _dry_run(request), validation or "Warn", []

    async def _create(self, request: web.Request, target: routing.Target, user: auth.User) -> web.Response:
        dry_run, validation, warnings = self._write_options(request)
        body = await self._body(request)
        if self.enforce_owner_references:
            self._check_blocking_owners(user, target, body)
        obj = self.store.create(
            target.resource, target.namespace, body, dry_run=dry_run, field_validation=validation, warnings=warnings
        )
        return _json(self._present(target, obj), status=201, warnings=warnings)

    async def _write(self, request: web.Request, target: routing.Target, method: str) -> web.Response:
        dry_run, validation, warnings = self._write_options(request)
        body = await self._body(request)
        options: Any = {
            "subresource": target.subresource,
            "dry_run": dry_run,
            "field_validation": validation,
            "warnings": warnings,
        }
        if method == "PUT":
            obj = self.store.replace(target.resource, target.namespace, target.name or "", body, **options)
        else:
            content_type = request.headers.get("Content-Type", "").split(";")[0].strip()
            apply = patches.patcher(content_type, body, custom=bool(target.resource.crd_name))
            obj = self.store.patch(target.resource, target.namespace, target.name or "", apply, **options)
        return _json(self._present(target, obj), warnings=warnings)

    async def _delete_collection(self, request: web.Request, target: routing.Target) -> web.Response:
        options = await self._body(request, optional=True) or {}
        items, _rv = self.store.list(target.resource, target.namespace, self._matcher(request, target))
        deleted = []
        for obj in items:
            try:
                deleted.append(
                    self.store.delete(
                        target.resource,
                        obj["metadata"].get("namespace"),
                        obj["metadata"]["name"],
                        options,
                        dry_run=_dry_run(request),
                    )
                )
            except errors.ApiError as error:
                if error.code != 404:
                    raise
        body = {
            "kind": f"{target.resource.kind}List",
            "apiVersion": target.api_version,
            "metadata": {"resourceVersion": str(self.store.resource_version)},
            "items": [self._present(target, obj) for obj in deleted],
        }
        return _json(body)


def _dry_run(request: web.Request) -> bool:
    value = request.query.get("dryRun")
    if value not in (None, "", "All"):
        raise errors.bad_request(f'unsupported dryRun value "{value}" (only "All" exists)')
    return value == "All"


def _int(value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise errors.bad_request(f'invalid resourceVersion "{value}"') from None
