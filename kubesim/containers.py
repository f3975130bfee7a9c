"""How the simulated kubelet maps a container onto this machine: volumes to folders, env from the API.

There is no filesystem isolation, so each volumeMount's mountPath (and the terminationMessagePath) is rewritten,
as a path prefix, wherever it appears in the command, args and env values: emptyDir to a folder of the pod's,
persistentVolumeClaim to a folder per claim (`claims_root/<namespace>/<claim>`, shared like a real volume),
hostPath to itself, configMap and secret volumes to folders holding their keys as files.
"""

from __future__ import annotations

import base64
import re
from pathlib import Path
from typing import Any

from kubesim.store import Store

Object = dict[str, Any]


class ContainerConfigError(Exception):
    """What makes the real kubelet report CreateContainerConfigError (a missing Secret, ConfigMap or key)."""


def _lookup(store: Store, plural: str, namespace: str, name: str) -> Object | None:
    resource = store.registry.get("", plural)
    assert resource is not None
    return store.find(resource, namespace, name)


def _data(obj: Object) -> dict[str, str]:
    if obj.get("kind") == "Secret":
        return {k: base64.b64decode(v).decode(errors="replace") for k, v in (obj.get("data") or {}).items()}
    return dict(obj.get("data") or {})


def _key_ref(store: Store, namespace: str, plural: str, ref: Object) -> str | None:
    kind = "secret" if plural == "secrets" else "configmap"
    obj = _lookup(store, plural, namespace, ref.get("name", ""))
    if obj is None:
        if ref.get("optional"):
            return None
        raise ContainerConfigError(f'{kind} "{ref.get("name")}" not found')
    data = _data(obj)
    if ref["key"] not in data:
        if ref.get("optional"):
            return None
        raise ContainerConfigError(f"couldn't find key {ref['key']} in {kind.capitalize()} {namespace}/{ref['name']}")
    return data[ref["key"]]


def mounts(store: Store, pod: Object, container: Object, pod_folder: Path, claims_root: Path) -> dict[str, str]:
    """mountPath → the folder on this machine that stands for it (created, and filled for configMap/secret)."""
    namespace = pod["metadata"]["namespace"]
    volumes = {v["name"]: v for v in (pod.get("spec") or {}).get("volumes") or []}
    mapping = {}
    for mount in container.get("volumeMounts") or []:
        volume = volumes.get(mount["name"])
        if volume is None:
            raise ContainerConfigError(f'volume "{mount["name"]}" not found in the pod spec')
        if "hostPath" in volume:
            folder = Path(volume["hostPath"]["path"])
        elif "persistentVolumeClaim" in volume:
            folder = claims_root / namespace / volume["persistentVolumeClaim"]["claimName"]
        else:
            folder = pod_folder / "volumes" / mount["name"]
        folder.mkdir(parents=True, exist_ok=True)
        for plural, key in (("configmaps", "configMap"), ("secrets", "secret")):
            if key in volume:
                source = volume[key]
                name = source.get("name") or source.get("secretName", "")
                obj = _lookup(store, plural, namespace, name)
                if obj is None and not source.get("optional"):
                    raise ContainerConfigError(f'{key.lower()} "{name}" not found')
                for file, content in _data(obj or {"kind": "Secret" if plural == "secrets" else ""}).items():
                    (folder / file).write_text(content)
        target = folder / mount["subPath"] if mount.get("subPath") else folder
        mapping[mount["mountPath"].rstrip("/") or "/"] = str(target)
    return mapping


def rewrite(text: str, mapping: dict[str, str]) -> str:
    """Replace each mapped path where it stands as a whole path or a prefix of one (longest first)."""
    if not mapping:
        return text
    sources = "|".join(re.escape(source) for source in sorted(mapping, key=len, reverse=True))
    pattern = r"(?<![\w.\-/])(" + sources + r")(?=$|[/\"',\]\s:;])"
    return re.sub(pattern, lambda match: mapping[match.group(1)], text)  # one pass: replacements are not rescanned


def environment(store: Store, pod: Object, container: Object, mapping: dict[str, str]) -> dict[str, str]:
    """The container's env: values (paths rewritten), fieldRefs, secretKeyRef/configMapKeyRef, envFrom."""
    meta, namespace = pod["metadata"], pod["metadata"]["namespace"]
    spec = pod["spec"]
    fields = {
        "metadata.name": meta["name"],
        "metadata.namespace": namespace,
        "metadata.uid": meta["uid"],
        "spec.nodeName": spec.get("nodeName", ""),
        "spec.serviceAccountName": spec.get("serviceAccountName", ""),
        "status.podIP": "127.0.0.1",
        "status.hostIP": "127.0.0.1",
    }
    env: dict[str, str] = {}
    for source in container.get("envFrom") or []:
        for plural, key in (("configmaps", "configMapRef"), ("secrets", "secretRef")):
            if key in source:
                obj = _lookup(store, plural, namespace, source[key]["name"])
                if obj is None and not source[key].get("optional"):
                    raise ContainerConfigError(f'{key[:-3].lower()} "{source[key]["name"]}" not found')
                env.update({source.get("prefix", "") + k: v for k, v in _data(obj or {}).items()})
    for entry in container.get("env") or []:
        value_from = entry.get("valueFrom") or {}
        if "value" in entry:
            value: str | None = rewrite(str(entry["value"]), mapping)
        elif "fieldRef" in value_from:
            value = fields.get(value_from["fieldRef"]["fieldPath"], "")
        elif "secretKeyRef" in value_from:
            value = _key_ref(store, namespace, "secrets", value_from["secretKeyRef"])
        elif "configMapKeyRef" in value_from:
            value = _key_ref(store, namespace, "configmaps", value_from["configMapKeyRef"])
        elif not value_from:
            value = ""
        else:
            raise ContainerConfigError(f"env {entry['name']}: valueFrom {sorted(value_from)} is not simulated")
        if value is not None:
            env[entry["name"]] = value
    return env
