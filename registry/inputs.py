"""The one gate every request's text passes before any route, the hot ones included: what PostgreSQL cannot
store is refused here as a 422 problem naming where it was, so no route can forget it and no statement fails
halfway.

PostgreSQL's text and jsonb hold neither NUL (U+0000) nor lone UTF-16 surrogates (they are not UTF-8), and JSON
has no NaN or infinity. This gate checks:
  - the path and every query parameter (decoded): no NUL, valid UTF-8 (an encoded surrogate is not);
  - JSON bodies, parsed once with a strict parser (orjson: no NaN/Infinity, no number that overflows a double, no
    lone surrogate, valid UTF-8) and searched for NUL in every string and key. The parsed body is left in the
    request's state for the routes that take it from there (the hot transcript push), and the bytes are passed on
    unchanged.
Multipart file names are checked by the upload parser with the same `text_problem`; numbers' ranges by the API
schemas; and what still fails in PostgreSQL as a data error (class 22) is a 422 too (`app.install_error_handlers`).
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import unquote_to_bytes

import orjson
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dhg_core.problems import problem_response
from registry.errors import InvalidRequest

_JSON = re.compile(rb"^application/([a-z0-9.+-]+\+)?json\s*(;|$)", re.IGNORECASE)
PARSED_BODY = "json_body"  # the request state's key for the parsed JSON body


STORABLE_TEXT = "^[^\\u0000]*$"  # the OpenAPI document's word for what text_problem refuses (NUL)
_EXACT_FORMATS = {"binary", "uuid", "date-time", "uri", "email"}
STORABLE_JSON_REF = "#/components/schemas/StorableJson"
# Any JSON value this gate lets through: a free-form object's values (a job's parameters) are these.
STORABLE_JSON = {
    "description": "Any JSON value without NUL in its strings and keys (PostgreSQL's jsonb cannot hold one).",
    "anyOf": [
        {"type": "string", "pattern": STORABLE_TEXT},
        {"type": "number"},
        {"type": "integer", "minimum": -(2**63), "maximum": 2**63 - 1},
        {"type": "boolean"},
        {"type": "null"},
        {"type": "array", "items": {"$ref": STORABLE_JSON_REF}},
        {
            "type": "object",
            "propertyNames": {"pattern": STORABLE_TEXT},
            "additionalProperties": {"$ref": STORABLE_JSON_REF},
        },
    ],
}


def declare_storable_text(schema: Any) -> None:
    """Say in an OpenAPI document what this gate refuses, so that a schema-valid request is one the gate lets through:
    every free string, every key of an object with free keys, and every value of a free-form object (STORABLE_JSON)
    holds no NUL. Changes `schema` in place; the document's components need STORABLE_JSON under StorableJson."""
    if isinstance(schema, list):
        for item in schema:
            declare_storable_text(item)
        return
    if not isinstance(schema, dict) or "$ref" in schema:
        return
    free = not {"pattern", "enum", "const"} & schema.keys() and schema.get("format") not in _EXACT_FORMATS
    if schema.get("type") == "string" and free:
        schema["pattern"] = STORABLE_TEXT
    if schema.get("type") == "object" and schema.get("additionalProperties", True) is not False:
        schema.setdefault("propertyNames", {}).setdefault("pattern", STORABLE_TEXT)
        if schema.get("additionalProperties") is True:
            schema["additionalProperties"] = {"$ref": STORABLE_JSON_REF}
    for key, value in schema.items():
        if key not in ("example", "examples", "default", "const", "enum", "propertyNames"):
            declare_storable_text(value)


def text_problem(value: str) -> str | None:
    """Why PostgreSQL cannot store `value` as text, or None."""
    if "\x00" in value:
        return "NUL (U+0000) characters are not allowed"
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return "lone UTF-16 surrogates are not allowed (not valid Unicode text)"
    return None


def bytes_problem(value: bytes) -> str | None:
    """Why percent-decoded bytes are not text PostgreSQL can store, or None."""
    if b"\x00" in value:
        return "NUL (U+0000) characters are not allowed"
    try:
        value.decode("utf-8")
    except UnicodeDecodeError:
        return "not valid UTF-8 text"
    return None


def _find_nul(value: Any, loc: list[str | int]) -> list[str | int] | None:
    """Where in a parsed JSON value a string (or key) holds NUL."""
    if isinstance(value, str):
        return loc if "\x00" in value else None
    if isinstance(value, dict):
        for key, item in value.items():
            if "\x00" in key:
                return [*loc, key.replace("\x00", "\\u0000")]
            if (found := _find_nul(item, [*loc, key])) is not None:
                return found
    elif isinstance(value, list):
        for index, item in enumerate(value):
            if (found := _find_nul(item, [*loc, index])) is not None:
                return found
    return None


def _invalid(loc: list[str | int], message: str, kind: str) -> InvalidRequest:
    where = ".".join(str(part) for part in loc)
    return InvalidRequest(f"{where}: {message}.", errors=[{"loc": loc, "msg": message, "type": kind}])


def check_target(scope: Scope) -> InvalidRequest | None:
    """The path and the query parameters."""
    if "\x00" in scope["path"]:
        return _invalid(["path"], "NUL (U+0000) characters are not allowed", "string_nul")
    query: bytes = scope.get("query_string", b"")
    for pair in re.split(rb"[&;]", query) if query else ():
        name, _, value = pair.partition(b"=")
        decoded_name = unquote_to_bytes(name.replace(b"+", b" "))
        for part in (decoded_name, unquote_to_bytes(value.replace(b"+", b" "))):
            if (problem := bytes_problem(part)) is not None:
                label = decoded_name.decode("utf-8", "replace").replace("\x00", "\\u0000")
                return _invalid(["query", label], problem, "string_unicode")
    return None


def check_json(raw: bytes) -> tuple[Any, InvalidRequest | None]:
    """The parsed body, or why it is refused."""
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        return None, _invalid(["body"], f"not valid JSON: {error}", "json_invalid")
    if b"\\u0000" in raw and (where := _find_nul(data, ["body"])) is not None:
        return None, _invalid(where, "NUL (U+0000) characters are not allowed", "string_nul")
    return data, None


def is_json(scope: Scope) -> bool:
    content_type = next((value for name, value in scope["headers"] if name == b"content-type"), None)
    return content_type is not None and _JSON.match(content_type) is not None


class InputGuard:
    """Pure ASGI: refuses requests carrying text PostgreSQL cannot store; passes the rest on untouched."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        problem = check_target(scope)
        if problem is None and scope["method"] in ("POST", "PUT", "PATCH") and is_json(scope):
            raw = await read_body(receive)
            data, problem = check_json(raw) if raw else (None, None)
            if problem is None:
                if raw:
                    scope.setdefault("state", {})[PARSED_BODY] = data
                receive = replay(raw, receive)
        if problem is not None:
            await problem_response(problem, Request(scope).url.path)(scope, receive, send)
            return
        await self.app(scope, receive, send)


async def read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":  # the client went away: nothing to answer
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def replay(body: bytes, receive: Receive) -> Receive:
    """A receive that gives the body already read once, then whatever the connection sends."""
    pending = [body]

    async def replayed() -> Message:
        if pending:
            return {"type": "http.request", "body": pending.pop(), "more_body": False}
        return await receive()

    return replayed
