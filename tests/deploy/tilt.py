"""The Tiltfile evaluated by a real Starlark interpreter (starlark-pyo3) with stub Tilt built-ins that record what it
asks for: image builds, Kubernetes objects (helm() runs the real helm template), resources and local resources."""

from __future__ import annotations

import functools
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import starlark
import yaml

from tests.charts.helm import documents_of, helm

ROOT = Path(__file__).resolve().parents[2]
TILTFILE = ROOT / "Tiltfile"


@dataclass
class Tilt:
    """Everything one evaluation of the Tiltfile asked Tilt to do."""

    flags: dict[str, Any]
    builds: list[dict[str, Any]] = field(default_factory=list)
    objects: list[dict[str, Any]] = field(default_factory=list)
    resources: list[dict[str, Any]] = field(default_factory=list)
    local_resources: list[dict[str, Any]] = field(default_factory=list)
    charts: list[dict[str, Any]] = field(default_factory=list)
    contexts: list[str] = field(default_factory=list)
    defined_flags: list[str] = field(default_factory=list)

    # -- built-ins (names and parameters as Tilt's API reference documents them) --
    def define_bool(self, name: str, args: bool = False, usage: str = "") -> None:
        self.defined_flags.append(name)

    def parse(self) -> dict[str, Any]:
        unknown = set(self.flags) - set(self.defined_flags)
        assert not unknown, f"flags the Tiltfile does not define: {unknown}"
        return dict(self.flags)

    def allow_k8s_contexts(self, contexts: str | list[str]) -> None:
        self.contexts += [contexts] if isinstance(contexts, str) else list(contexts)

    def custom_build(self, ref: str, command: str, deps: list[str], **kwargs: Any) -> None:
        self.builds.append({"ref": ref, "command": command, "deps": list(deps), **kwargs})

    def docker_build(self, ref: str, context: str, **kwargs: Any) -> None:
        self.builds.append({"ref": ref, "context": context, **kwargs})

    def helm(self, chart: str, name: str = "", namespace: str = "", values: Any = (), set: Any = (), **_: Any) -> str:
        values = [values] if isinstance(values, str) else list(values)
        sets = [set] if isinstance(set, str) else list(set)
        self.charts.append({"chart": chart, "name": name, "namespace": namespace, "values": values, "set": sets})
        flags = [f for v in values for f in ("--values", str(ROOT / v))] + [f for s in sets for f in ("--set", s)]
        return _helm_template(name, str(ROOT / chart), namespace, tuple(flags))

    def k8s_yaml(self, text: str, allow_duplicates: bool = False) -> None:
        self.objects += documents_of(text)

    def k8s_resource(self, workload: str = "", new_name: str = "", **kwargs: Any) -> None:
        self.resources.append({"workload": workload, "name": new_name or workload, **kwargs})

    def local_resource(self, name: str, cmd: str = "", **kwargs: Any) -> None:
        self.local_resources.append({"name": name, "cmd": cmd, **kwargs})

    # -- what Tilt tracks, as the tests ask for it --
    def resource(self, name: str) -> dict[str, Any]:
        (found,) = [r for r in self.resources + self.local_resources if r["name"] == name]
        return found

    def build(self, ref: str) -> dict[str, Any]:
        (found,) = [b for b in self.builds if b["ref"] == ref]
        return found

    def workload(self, name: str) -> dict[str, Any]:
        (found,) = [o for o in self.objects if o["metadata"]["name"] == name and "template" in o.get("spec", {})]
        return found


@functools.cache
def _helm_template(name: str, chart: str, namespace: str, flags: tuple[str, ...]) -> str:
    # Tilt's helm() is `helm template` with the CRDs included (skip_crds=False).
    return helm("template", name, chart, "--namespace", namespace, "--include-crds", *flags)


def port_forward(local_port: int, container_port: int | None = None, name: str = "", **kwargs: Any) -> dict[str, Any]:
    return {"local_port": local_port, "container_port": container_port or local_port, "name": name, **kwargs}


def sync(local_path: str, remote_path: str) -> dict[str, Any]:
    return {"step": "sync", "local": local_path, "remote": remote_path}


def run(cmd: str | list[str], trigger: Any = (), echo_off: bool = False) -> dict[str, Any]:
    return {"step": "run", "cmd": cmd if isinstance(cmd, str) else shlex.join(cmd)}


def fall_back_on(files: str | list[str]) -> dict[str, Any]:
    return {"step": "fall_back_on", "files": [files] if isinstance(files, str) else list(files)}


def link(url: str, name: str = "") -> dict[str, Any]:
    return {"url": url, "name": name}


def decode_yaml_stream(text: str) -> list[Any]:
    return documents_of(text)


def encode_yaml_stream(objects: list[Any]) -> str:
    return yaml.safe_dump_all(objects)


def evaluate(flags: dict[str, Any] | None = None, path: Path = TILTFILE) -> Tilt:
    """Evaluate the Tiltfile as `tilt up -- FLAGS` would, recording the calls."""
    tilt = Tilt(flags=flags or {})
    module = starlark.Module()
    functions = {
        "allow_k8s_contexts": tilt.allow_k8s_contexts,
        "custom_build": tilt.custom_build,
        "docker_build": tilt.docker_build,
        "helm": tilt.helm,
        "k8s_yaml": tilt.k8s_yaml,
        "k8s_resource": tilt.k8s_resource,
        "local_resource": tilt.local_resource,
        "port_forward": port_forward,
        "sync": sync,
        "run": run,
        "fall_back_on": fall_back_on,
        "link": link,
        "decode_yaml_stream": decode_yaml_stream,
        "encode_yaml_stream": encode_yaml_stream,
        "_config_define_bool": tilt.define_bool,
        "_config_parse": tilt.parse,
    }
    for name, function in functions.items():
        module.add_callable(name, function)
    dialect = starlark.Dialect.extended()
    globals_ = starlark.Globals.extended_by([starlark.LibraryExtension.StructType, starlark.LibraryExtension.Print])
    prelude = "config = struct(define_bool=_config_define_bool, parse=_config_parse)\n"
    starlark.eval(module, starlark.parse("prelude.star", prelude, dialect), globals_)
    starlark.eval(module, starlark.parse(path.name, path.read_text(), dialect), globals_)
    return tilt
