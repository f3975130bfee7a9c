"""What must never regress in the rendered chart: pods that are not `restricted`, credentials in clear, wildcards
in RBAC, pods no NetworkPolicy isolates, Deployments without probes or resources. Each checker is also shown to
fail on a hand-made bad manifest."""

from __future__ import annotations

import base64
import copy

import pytest

from tests.charts import checks
from tests.charts.helm import CHART, find, load_values, render, render_scenario, scenario_values, scenarios
from tests.charts.values_schema import leaves

# Probes a serving container does without, and why: {(app.kubernetes.io/name, container, probe): reason}.
PROBE_EXCEPTIONS: dict[tuple[str, str, str], str] = {}
# Values that hold secret material, set to a sentinel in one render: the sentinel may appear only in Secrets.
# None today: the chart generates its credentials, and values only name Secrets (values.yaml says so).
SECRET_VALUE_PATHS: tuple[str, ...] = ()
# Secret-ish value keys that only name things: the keys of the chart's Secret.
NAMING_VALUE_PREFIXES = ("secrets.keys.",)


def test_every_pod_is_restricted(scenario):
    found = {
        checks.label_of(workload): checks.restricted_violations(pod)
        for workload, pod in checks.pod_templates(render_scenario(scenario))
    }
    assert found and not {k: v for k, v in found.items() if v}


def test_the_controllers_worker_jobs_are_restricted(scenario_worker_jobs):
    for job in scenario_worker_jobs:
        assert checks.restricted_violations(job["spec"]["template"]) == [], checks.label_of(job)


def test_no_credential_is_written_in_clear(scenario, scenario_worker_jobs):
    documents = render_scenario(scenario) + scenario_worker_jobs
    assert [v for d in documents for v in checks.secret_env_violations(d)] == []


def test_secret_values_appear_only_in_secrets(scenario):
    """The chart's generated credentials, and sentinels set for every value that holds one, appear nowhere but in
    Secrets (not in an env value, a ConfigMap or an annotation)."""
    sentinels = {f"sentinel-{path.replace('.', '-')}-5ee1c0de": path for path in SECRET_VALUE_PATHS}
    documents = render_scenario(scenario, *(f"{path}={value}" for value, path in sentinels.items()))
    generated = checks.secret_values(documents)
    assert checks.leaked_secret_values(documents, generated | sentinels) == []
    if scenario_values(scenario)["secrets"]["create"]:
        assert generated, "secrets.create renders Secrets with the generated credentials"


def test_values_hold_no_secret_material_outside_the_listed_paths():
    found = [
        path
        for path, _ in leaves(load_values(CHART / "values.yaml"))
        if checks.SECRETISH.search(path.rsplit(".", 1)[-1])
        and not checks.REFERENCE.search(path.rsplit(".", 1)[-1])
        and not path.startswith(NAMING_VALUE_PREFIXES)
    ]
    assert set(found) <= set(SECRET_VALUE_PATHS), "list them in SECRET_VALUE_PATHS (their sentinels are checked)"


def test_rbac_has_no_wildcards_or_escalation(scenario):
    assert [v for d in render_scenario(scenario) for v in checks.rbac_violations(d)] == []


def test_every_workload_is_isolated_by_a_network_policy(scenario):
    assert checks.unprotected_workloads(render_scenario(scenario)) == []


def test_worker_pods_are_isolated_by_a_network_policy(scenario, scenario_worker_jobs):
    assert checks.unprotected_workloads(render_scenario(scenario) + scenario_worker_jobs) == []


def test_network_policies_off_means_none_rather_than_some():
    """networkPolicy.enabled=false (a cluster whose CNI enforces none) renders no policy at all: a partial set would
    isolate some components from the others."""
    assert not find(render("networkPolicy.enabled=false"), "NetworkPolicy")
    assert find(render(), "NetworkPolicy")


def test_every_container_has_probes_and_resources(scenario, scenario_worker_jobs):
    documents = render_scenario(scenario) + scenario_worker_jobs
    assert [v for d in documents for v in checks.probe_and_resource_violations(d, PROBE_EXCEPTIONS)] == []


def test_every_probe_exception_is_still_needed():
    """Each listed container exists, lacks the probe in some scenario, and its entry gives a reason."""
    missing = {
        (checks.pod_labels(pod).get("app.kubernetes.io/name"), container["name"], probe)
        for scenario in scenarios()
        for _, pod in checks.pod_templates(render_scenario(scenario))
        for _, container in checks.containers(pod["spec"])
        for probe in ("readinessProbe", "livenessProbe")
        if probe not in container
    }
    assert set(PROBE_EXCEPTIONS) <= missing
    assert all(len(reason) > 40 for reason in PROBE_EXCEPTIONS.values())


# The checkers themselves, on small hand-made manifests: each catches what it is for.

GOOD_POD = {
    "metadata": {"labels": {"app.kubernetes.io/name": "dhg-registry"}},
    "spec": {
        "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [
            {
                "name": "app",
                "image": "x",
                "securityContext": {
                    "allowPrivilegeEscalation": False,
                    "readOnlyRootFilesystem": True,
                    "capabilities": {"drop": ["ALL"]},
                },
                "resources": {"requests": {"cpu": "1", "memory": "1Gi"}, "limits": {"memory": "1Gi"}},
                "readinessProbe": {"httpGet": {"path": "/", "port": 80}},
                "livenessProbe": {"httpGet": {"path": "/", "port": 80}},
                "env": [{"name": "DHG_REGISTRY_TOKEN_SECRET", "value": "dhg-registry-token"}],
            }
        ],
        "volumes": [{"name": "scratch", "emptyDir": {}}],
    },
}


def deployment(pod=GOOD_POD, name="registry"):
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": "dhg"},
        "spec": {"template": copy.deepcopy(pod)},
    }


def changed(path: str, value, pod=GOOD_POD):
    pod = copy.deepcopy(pod)
    *parents, last = path.split(".")
    node = pod
    for part in parents:
        node = node[int(part)] if part.isdigit() else node.setdefault(part, {})
    node[last] = value
    return pod


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("spec.hostNetwork", True),
        ("spec.securityContext.runAsNonRoot", False),
        ("spec.securityContext.seccompProfile", {"type": "Unconfined"}),
        ("spec.containers.0.securityContext.privileged", True),
        ("spec.containers.0.securityContext.allowPrivilegeEscalation", True),
        ("spec.containers.0.securityContext.capabilities", {"drop": ["ALL"], "add": ["SYS_ADMIN"]}),
        ("spec.containers.0.securityContext.readOnlyRootFilesystem", False),
        ("spec.containers.0.securityContext.runAsUser", 0),
        ("spec.containers.0.ports", [{"containerPort": 80, "hostPort": 80}]),
        ("spec.volumes", [{"name": "host", "hostPath": {"path": "/"}}]),
    ],
)
def test_the_restricted_check_catches(path, value):
    assert checks.restricted_violations(GOOD_POD) == []
    assert checks.restricted_violations(changed(path, value))


@pytest.mark.parametrize(
    "variable",
    [
        {"name": "DHG_REGISTRY_ADMIN_TOKEN", "value": "dhg_abc"},
        {"name": "DHG_ASR_API_KEY", "value": "key"},
        {"name": "DHG_REGISTRY_TOKEN_SECRET", "value": "dhg_Not_A_Name"},
        {"name": "DHG_REGISTRY_DATABASE", "value": "postgresql://dhg:hunter2@db:5432/dhg"},
    ],
)
def test_the_clear_credential_check_catches(variable):
    assert checks.secret_env_violations(deployment()) == []
    assert checks.secret_env_violations(deployment(changed("spec.containers.0.env", [variable])))


def test_the_secret_value_check_catches_a_secret_copied_into_a_pod():
    password = "s3cret-generated-password"
    secret = {"kind": "Secret", "metadata": {"name": "s"}, "data": {"p": base64.b64encode(password.encode()).decode()}}
    leaking = deployment(changed("spec.containers.0.env", [{"name": "PGPASSWORD", "value": password}]))
    assert checks.leaked_secret_values([secret, deployment()], checks.secret_values([secret])) == []
    assert checks.leaked_secret_values([secret, leaking], checks.secret_values([secret]))


@pytest.mark.parametrize("field", ["verbs", "resources", "apiGroups"])
def test_the_rbac_check_catches_a_wildcard(field):
    rule = {"apiGroups": [""], "resources": ["pods"], "verbs": ["list"]}
    role = {"kind": "ClusterRole", "metadata": {"name": "r"}, "rules": [rule]}
    assert checks.rbac_violations(role) == []
    assert checks.rbac_violations(role | {"rules": [rule | {field: ["*"]}]})


def test_the_network_policy_check_catches_a_pod_left_out():
    policy = {
        "kind": "NetworkPolicy",
        "metadata": {"name": "registry", "namespace": "dhg"},
        "spec": {"podSelector": {"matchLabels": {"app.kubernetes.io/name": "dhg-registry"}}},
    }
    both = copy.deepcopy(policy)
    both["spec"]["policyTypes"] = ["Ingress", "Egress"]
    assert checks.unprotected_workloads([deployment(), both]) == []
    assert checks.unprotected_workloads([deployment(), policy])  # Ingress only, by default
    other = changed("metadata.labels", {"app.kubernetes.io/name": "dhg-asr"})
    assert checks.unprotected_workloads([deployment(other, "asr"), both])


@pytest.mark.parametrize(
    "path",
    ["spec.containers.0.readinessProbe", "spec.containers.0.livenessProbe", "spec.containers.0.resources.limits"],
)
def test_the_probe_and_resource_check_catches(path):
    *parent, last = path.split(".")
    pod = copy.deepcopy(GOOD_POD)
    node = pod
    for part in parent:
        node = node[int(part)] if part.isdigit() else node[part]
    del node[last]
    assert checks.probe_and_resource_violations(deployment(), {}) == []
    assert checks.probe_and_resource_violations(deployment(pod), {})
