"""The one protobuf body the stand-in reads: the SelfSubjectAccessReview `kubectl auth can-i` posts (its typed
client sends `application/vnd.kubernetes.protobuf` only). Other protobuf bodies are refused."""

from __future__ import annotations

from typing import Any

from kubesim import errors

CONTENT_TYPE = "application/vnd.kubernetes.protobuf"
MAGIC = b"k8s\x00"
# Field numbers from k8s.io/api/authorization/v1 generated.proto.
RESOURCE_ATTRIBUTES = {1: "namespace", 2: "verb", 3: "group", 4: "version", 5: "resource", 6: "subresource", 7: "name"}
NON_RESOURCE_ATTRIBUTES = {1: "path", 2: "verb"}


def _varint(data: bytes, index: int) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        if index >= len(data):
            raise errors.bad_request("the protobuf body ends inside a varint")
        byte = data[index]
        value |= (byte & 0x7F) << shift
        index, shift = index + 1, shift + 7
        if byte < 0x80:
            return value, index


def _fields(data: bytes) -> dict[int, bytes]:
    """Length-delimited fields by number (the last one wins); varints are skipped."""
    fields: dict[int, bytes] = {}
    index = 0
    while index < len(data):
        key, index = _varint(data, index)
        number, wire_type = key >> 3, key & 7
        if wire_type == 0:
            _value, index = _varint(data, index)
        elif wire_type == 2:
            length, index = _varint(data, index)
            fields[number], index = data[index : index + length], index + length
        else:
            raise errors.bad_request(f"unsupported protobuf wire type {wire_type}")
    return fields


def _strings(data: bytes, names: dict[int, str]) -> dict[str, str]:
    fields = _fields(data)
    return {name: fields[number].decode() for number, name in names.items() if fields.get(number)}


def self_subject_access_review(body: bytes) -> dict[str, Any]:
    """The review as JSON would carry it: runtime.Unknown{raw: SelfSubjectAccessReview{spec: ...}}."""
    if not body.startswith(MAGIC):
        raise errors.bad_request("the protobuf body lacks the k8s\\x00 prefix")
    review = _fields(_fields(body[len(MAGIC) :]).get(2, b""))
    spec = _fields(review.get(2, b""))
    decoded: dict[str, Any] = {}
    if 1 in spec:
        decoded["resourceAttributes"] = _strings(spec[1], RESOURCE_ATTRIBUTES)
    if 2 in spec:
        decoded["nonResourceAttributes"] = _strings(spec[2], NON_RESOURCE_ATTRIBUTES)
    return {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview", "spec": decoded}
