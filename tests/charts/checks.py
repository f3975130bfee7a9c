"""Checks over rendered manifests, as pure functions: each returns what is wrong (empty when nothing is), so the tests
can show that every one of them fails on a hand-made bad manifest."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator
from typing import Any

from tests.charts.helm import NAMESPACE

WORKLOADS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"}
SERVING = {"Deployment", "StatefulSet", "DaemonSet"}

# The Pod Security Standards' `restricted` profile (kubernetes.io/docs/concepts/security/pod-security-standards/).
RESTRICTED_VOLUMES = {
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "persistentVolumeClaim",
    "projected",
    "secret",
}
SAFE_SYSCTLS = {
    "kernel.shm_rmid_forced",
    "net.ipv4.ip_local_port_range",
    "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.tcp_syncookies",
    "net.ipv4.ping_group_range",
    "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_keepalive_time",
    "net.ipv4.tcp_fin_timeout",
    "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
}
SECCOMP_TYPES = {"RuntimeDefault", "Localhost"}
SELINUX_TYPES = {"", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"}
APPARMOR_ANNOTATION = "container.apparmor.security.beta.kubernetes.io/"

# Environment variables that hold a credential; those that only name one (a Secret, a key in it) end in
# _SECRET / _SECRET_NAME / _<what>_KEY and hold a Kubernetes name.
SECRETISH = re.compile(r"TOKEN|PASSWORD|PASSWD|SECRET|API_?KEY|PRIVATE_?KEY|ACCESS_?KEY|CREDENTIAL", re.IGNORECASE)
REFERENCE = re.compile(r"(TOKEN|PASSWORD|CREDENTIALS?|KEY|URL|ID)_?(SECRET_?NAME|SECRET|KEY_?NAME|KEY)$", re.IGNORECASE)
KUBERNETES_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
URL_WITH_CREDENTIALS = re.compile(r"[a-z][a-z0-9+.-]*://[^/\s:@]+:[^/\s@]+@", re.IGNORECASE)
MIN_SECRET_LENGTH = 12  # shorter Secret values (a port, a user name) may appear elsewhere by chance


def label_of(document: dict[str, Any]) -> str:
    metadata = document.get("metadata") or {}
    return f"{document.get('kind')} {metadata.get('namespace', '')}/{metadata.get('name')}".replace(" /", " ")


def pod_templates(documents: list[dict[str, Any]]) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    """(workload, pod template) for every object that makes pods."""
    for document in documents:
        if document["kind"] in WORKLOADS:
            yield document, document["spec"]["template"]
        elif document["kind"] == "CronJob":
            yield document, document["spec"]["jobTemplate"]["spec"]["template"]
        elif document["kind"] == "Pod":
            yield document, document


def containers(pod_spec: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for field in ("initContainers", "containers", "ephemeralContainers"):
        for container in pod_spec.get(field) or []:
            yield f"{field}[{container['name']}]", container


def restricted_violations(pod: dict[str, Any]) -> list[str]:
    """What breaks the `restricted` Pod Security Standard in a pod template, plus our own rule: every container's
    root filesystem is read-only."""
    spec, annotations = pod["spec"], (pod.get("metadata") or {}).get("annotations") or {}
    context = spec.get("securityContext") or {}
    found = [f"spec.{field}" for field in ("hostNetwork", "hostPID", "hostIPC") if spec.get(field)]
    for volume in spec.get("volumes") or []:
        kinds = set(volume) - {"name"}
        if not kinds <= RESTRICTED_VOLUMES:
            found.append(f"volume {volume['name']}: {', '.join(sorted(kinds - RESTRICTED_VOLUMES))} not allowed")
    found += [f"sysctl {s['name']}" for s in context.get("sysctls") or [] if s["name"] not in SAFE_SYSCTLS]
    found += _context_violations("spec.securityContext", context)
    for name, container in containers(spec):
        own = container.get("securityContext") or {}
        found += _context_violations(name, own)
        if own.get("privileged"):
            found.append(f"{name}: privileged")
        if own.get("allowPrivilegeEscalation") is not False:
            found.append(f"{name}: allowPrivilegeEscalation is not false")
        capabilities = own.get("capabilities") or {}
        if "ALL" not in (capabilities.get("drop") or []):
            found.append(f"{name}: capabilities do not drop ALL")
        if set(capabilities.get("add") or []) - {"NET_BIND_SERVICE"}:
            found.append(f"{name}: capabilities add {capabilities['add']}")
        if own.get("runAsNonRoot", context.get("runAsNonRoot")) is not True:
            found.append(f"{name}: runAsNonRoot is not true")
        seccomp = (own.get("seccompProfile") or context.get("seccompProfile") or {}).get("type")
        if seccomp not in SECCOMP_TYPES:
            found.append(f"{name}: seccompProfile is {seccomp}, not RuntimeDefault or Localhost")
        if own.get("procMount", "Default") != "Default":
            found.append(f"{name}: procMount {own['procMount']}")
        found += [f"{name}: hostPort {p['hostPort']}" for p in container.get("ports") or [] if p.get("hostPort")]
        if own.get("readOnlyRootFilesystem") is not True:
            found.append(f"{name}: readOnlyRootFilesystem is not true")
    for key, value in annotations.items():
        if key.startswith(APPARMOR_ANNOTATION) and not (value == "runtime/default" or value.startswith("localhost/")):
            found.append(f"annotation {key}: {value}")
    return found


def _context_violations(where: str, context: dict[str, Any]) -> list[str]:
    """The rules a pod's and a container's securityContext share."""
    found = []
    if context.get("runAsUser") == 0:
        found.append(f"{where}: runAsUser 0")
    if (context.get("seccompProfile") or {}).get("type") not in (None, *SECCOMP_TYPES):
        found.append(f"{where}: seccompProfile {context['seccompProfile']['type']}")
    if (context.get("windowsOptions") or {}).get("hostProcess"):
        found.append(f"{where}: windowsOptions.hostProcess")
    selinux = context.get("seLinuxOptions") or {}
    if selinux.get("type", "") not in SELINUX_TYPES or selinux.get("user") or selinux.get("role"):
        found.append(f"{where}: seLinuxOptions {selinux}")
    if (context.get("appArmorProfile") or {}).get("type") not in (None, "RuntimeDefault", "Localhost"):
        found.append(f"{where}: appArmorProfile {context['appArmorProfile']['type']}")
    return found


def secret_env_violations(document: dict[str, Any]) -> list[str]:
    """Credentials written into a manifest in clear: env values named like one, and URLs with a password in them."""
    found = []
    for _, pod in pod_templates([document]):
        for name, container in containers(pod["spec"]):
            for variable in container.get("env") or []:
                if "value" not in variable:
                    continue
                value = str(variable["value"])
                if SECRETISH.search(variable["name"]) and not (
                    REFERENCE.search(variable["name"]) and KUBERNETES_NAME.match(value)
                ):
                    found.append(f"{name}: env {variable['name']} has a literal value")
                if URL_WITH_CREDENTIALS.search(value):
                    found.append(f"{name}: env {variable['name']} is a URL with credentials")
            for argument in [*(container.get("command") or []), *(container.get("args") or [])]:
                if URL_WITH_CREDENTIALS.search(str(argument)):
                    found.append(f"{name}: an argument is a URL with credentials")
    if document["kind"] == "ConfigMap":
        for key, value in (document.get("data") or {}).items():
            if (SECRETISH.search(key) and not REFERENCE.search(key)) or URL_WITH_CREDENTIALS.search(str(value)):
                found.append(f"data {key} holds a credential")
    return found


def secret_values(documents: list[dict[str, Any]]) -> dict[str, str]:
    """Every value the rendered Secrets hold (decoded) → where it is."""
    found = {}
    for document in documents:
        if document["kind"] != "Secret":
            continue
        for key, value in (document.get("data") or {}).items():
            found[base64.b64decode(value).decode()] = f"{label_of(document)} {key}"
        for key, value in (document.get("stringData") or {}).items():
            found[str(value)] = f"{label_of(document)} {key}"
    return {value: where for value, where in found.items() if len(value) >= MIN_SECRET_LENGTH}


def leaked_secret_values(documents: list[dict[str, Any]], sentinels: dict[str, str]) -> list[str]:
    """Secret values (or sentinels standing for them) that appear, plain or base64, in anything but a Secret."""
    found = []
    for document in documents:
        if document["kind"] == "Secret":
            continue
        text = json.dumps(document)
        for value, origin in sentinels.items():
            encoded = base64.b64encode(value.encode()).decode()
            if value in text or encoded in text:
                found.append(f"{label_of(document)} holds the value of {origin}")
    return found


def rbac_violations(document: dict[str, Any]) -> list[str]:
    """Wildcards and the verbs that let a role grant itself more, in Roles and ClusterRoles."""
    if document["kind"] not in ("Role", "ClusterRole"):
        return []
    found = []
    if document.get("aggregationRule"):
        found.append(f"{label_of(document)}: aggregationRule (its rules are whatever matches)")
    for index, rule in enumerate(document.get("rules") or []):
        for field in ("verbs", "resources", "apiGroups", "nonResourceURLs", "resourceNames"):
            if any("*" in item for item in rule.get(field) or []):
                found.append(f"{label_of(document)} rules[{index}].{field}: a wildcard")
        for verb in {"escalate", "bind", "impersonate"} & set(rule.get("verbs") or []):
            found.append(f"{label_of(document)} rules[{index}]: {verb}")
    return found


def selects(selector: dict[str, Any] | None, labels: dict[str, str]) -> bool:
    """A LabelSelector against labels (an empty selector selects everything)."""
    selector = selector or {}
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for expression in selector.get("matchExpressions") or []:
        key, operator, values = expression["key"], expression["operator"], expression.get("values") or []
        if not {
            "In": lambda: labels.get(key) in values,
            "NotIn": lambda: labels.get(key) not in values,
            "Exists": lambda: key in labels,
            "DoesNotExist": lambda: key not in labels,
        }[operator]():
            return False
    return True


def namespace_of(document: dict[str, Any]) -> str:
    return (document.get("metadata") or {}).get("namespace") or NAMESPACE


def pod_labels(pod: dict[str, Any]) -> dict[str, str]:
    return (pod.get("metadata") or {}).get("labels") or {}


def unprotected_workloads(documents: list[dict[str, Any]]) -> list[str]:
    """Workloads whose pods no NetworkPolicy of their namespace selects with both Ingress and Egress."""
    policies = [
        d
        for d in documents
        if d["kind"] == "NetworkPolicy" and {"Ingress", "Egress"} <= set(d["spec"].get("policyTypes") or [])
    ]
    found = []
    for workload, pod in pod_templates(documents):
        if not any(
            namespace_of(p) == namespace_of(workload) and selects(p["spec"].get("podSelector"), pod_labels(pod))
            for p in policies
        ):
            found.append(f"{label_of(workload)}: no NetworkPolicy with Ingress and Egress selects its pods")
    return found


def probe_and_resource_violations(document: dict[str, Any], probe_exceptions: dict[tuple[str, ...], str]) -> list[str]:
    """Serving workloads' containers without readiness and liveness probes (unless excepted, keyed by the pods'
    app.kubernetes.io/name, the container and the probe), and any container without cpu and memory requests and a
    memory limit."""
    found = []
    for workload, pod in pod_templates([document]):
        app = pod_labels(pod).get("app.kubernetes.io/name", "")
        for name, container in containers(pod["spec"]):
            resources = container.get("resources") or {}
            missing = [f"requests.{r}" for r in ("cpu", "memory") if r not in (resources.get("requests") or {})]
            missing += [] if "memory" in (resources.get("limits") or {}) else ["limits.memory"]
            found += [f"{label_of(workload)} {name}: no resources.{m}" for m in missing]
            if workload["kind"] in SERVING and name.startswith("containers["):
                for probe in ("readinessProbe", "livenessProbe"):
                    if probe not in container and (app, container["name"], probe) not in probe_exceptions:
                        found.append(f"{label_of(workload)} {name}: no {probe}")
    return found
