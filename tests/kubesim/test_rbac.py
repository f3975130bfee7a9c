"""Authentication and RBAC as kube-apiserver does them: service-account and user tokens on the HTTPS port, 401
for an unknown token, 403 with upstream's wording for what no binding grants, and the request log that says
which (apiGroup, resource[/subresource], verb) an identity used."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import kopf
import pytest

from kubesim import KubeApiServer, auth, rbac, requestinfo, tls
from kubesim.fixtures import Kubectl
from kubesim.waiting import wait_for, wait_until
from tests.kubesim.embedded import operator
from tests.kubesim.manifests import crd, widget
from tests.kubesim.realdata import fixture

NAMESPACE, ACCOUNT = "dhg", "dhg-controller"
USER = auth.service_account_username(NAMESPACE, ACCOUNT)
RBAC = "rbac.authorization.k8s.io"


def cluster_role(name: str, *rules: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": f"{RBAC}/v1", "kind": "ClusterRole", "metadata": {"name": name}, "rules": list(rules)}


def role(name: str, namespace: str, *rules: dict[str, Any]) -> dict[str, Any]:
    return {**cluster_role(name, *rules), "kind": "Role", "metadata": {"name": name, "namespace": namespace}}


def binding(name: str, role_kind: str, role_name: str, namespace: str | None = None) -> dict[str, Any]:
    """A ClusterRoleBinding, or a RoleBinding in `namespace`, of the role to the test's service account."""
    meta: dict[str, Any] = {"name": name} | ({"namespace": namespace} if namespace else {})
    return {
        "apiVersion": f"{RBAC}/v1",
        "kind": "RoleBinding" if namespace else "ClusterRoleBinding",
        "metadata": meta,
        "roleRef": {"apiGroup": RBAC, "kind": role_kind, "name": role_name},
        "subjects": [{"kind": "ServiceAccount", "name": ACCOUNT, "namespace": NAMESPACE}],
    }


def rule(groups: list[str], resources: list[str], verbs: list[str], **extra: Any) -> dict[str, Any]:
    return {"apiGroups": groups, "resources": resources, "verbs": verbs, **extra}


def client(api: KubeApiServer, token: str | None) -> httpx.Client:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.Client(base_url=api.secure_url, verify=tls.client_context(), headers=headers)


@pytest.fixture
def admin(kube_api: KubeApiServer) -> Iterator[httpx.Client]:
    """The cluster admin (plain HTTP, no token), with the namespace, its service account and the Widget CRD."""
    with httpx.Client(base_url=kube_api.url) as http:
        http.post("/api/v1/namespaces", json={"metadata": {"name": NAMESPACE}}).raise_for_status()
        http.post(f"/api/v1/namespaces/{NAMESPACE}/serviceaccounts", json={"metadata": {"name": ACCOUNT}})
        http.post("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", json=crd()).raise_for_status()
        http.post(f"/apis/test.dhg.ai/v1alpha1/namespaces/{NAMESPACE}/widgets", json=widget("w")).raise_for_status()
        yield http


@pytest.fixture
def account(kube_api: KubeApiServer, admin: httpx.Client) -> Iterator[httpx.Client]:
    """HTTPS as system:serviceaccount:dhg:dhg-controller."""
    with client(kube_api, kube_api.mint_token(auth.service_account_user(NAMESPACE, ACCOUNT))) as http:
        yield http


def grant(admin: httpx.Client, *objects: dict[str, Any]) -> None:
    for obj in objects:
        group, kind, meta = obj["apiVersion"].split("/")[0], obj["kind"], obj["metadata"]
        scope = f"namespaces/{meta['namespace']}/" if "namespace" in meta else ""
        admin.post(f"/apis/{group}/v1/{scope}{kind.lower()}s", json=obj).raise_for_status()


def forbidden(message: str, name: str | None, group: str, kind: str) -> dict[str, Any]:
    details = {"name": name} if name else {}
    details |= {"group": group} if group else {}
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": "Forbidden",
        "details": details | {"kind": kind},
        "code": 403,
    }


@pytest.mark.parametrize(
    ("method", "path", "message", "name", "group", "kind"),
    [
        (
            "DELETE",
            "/apis/batch/v1/namespaces/default/jobs/x",
            f'jobs.batch "x" is forbidden: User "{USER}" cannot delete resource "jobs" in API group "batch" in the '
            'namespace "default"',
            "x",
            "batch",
            "jobs",
        ),
        (
            "GET",
            "/api/v1/namespaces/dhg/pods",
            f'pods is forbidden: User "{USER}" cannot list resource "pods" in API group "" in the namespace "dhg"',
            None,
            "",
            "pods",
        ),
        (
            "GET",
            "/api/v1/nodes?watch=true",
            f'nodes is forbidden: User "{USER}" cannot watch resource "nodes" in API group "" at the cluster scope',
            None,
            "",
            "nodes",
        ),
        (
            "PATCH",
            "/apis/test.dhg.ai/v1alpha1/namespaces/dhg/widgets/w/status",
            f'widgets.test.dhg.ai "w" is forbidden: User "{USER}" cannot patch resource "widgets/status" in API group '
            '"test.dhg.ai" in the namespace "dhg"',
            "w",
            "test.dhg.ai",
            "widgets",
        ),
        (
            "GET",
            "/api/v1/namespaces/dhg/pods/p/log",
            f'pods "p" is forbidden: User "{USER}" cannot get resource "pods/log" in API group "" in the '
            'namespace "dhg"',
            "p",
            "",
            "pods",
        ),
    ],
)
def test_a_service_account_without_bindings_gets_the_real_forbidden_status(
    account: httpx.Client, method: str, path: str, message: str, name: str | None, group: str, kind: str
) -> None:
    response = account.request(method, path, json={} if method == "PATCH" else None)
    assert response.status_code == 403
    assert response.json() == forbidden(message, name, group, kind)


def test_kubectl_as_the_service_account_prints_the_forbidden_message(kube_api: KubeApiServer, kubectl: Kubectl) -> None:
    kubectl.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}})
    kubectl.apply({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": ACCOUNT, "namespace": NAMESPACE}})
    as_account = kubectl.using(kube_api.service_account_kubeconfig(NAMESPACE, ACCOUNT))
    refused = as_account.run("get", "pods", check=False)
    assert refused.returncode == 1
    assert refused.stderr.strip() == (
        f'Error from server (Forbidden): pods is forbidden: User "{USER}" cannot list resource "pods" in API group "" '
        'in the namespace "dhg"'
    )
    assert as_account.run("version").returncode == 0  # discovery and /version: any authenticated user


def test_a_cluster_role_binding_grants_list_on_pods_but_not_delete(
    kube_api: KubeApiServer, kubectl: Kubectl, admin: httpx.Client
) -> None:
    grant(admin, cluster_role("pod-reader", rule([""], ["pods"], ["get", "list", "watch"])))
    grant(admin, binding("pod-reader", "ClusterRole", "pod-reader"))
    admin.post(
        "/api/v1/namespaces/default/pods",
        json={"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "busybox"}]}},
    ).raise_for_status()
    as_account = kubectl.using(kube_api.service_account_kubeconfig(NAMESPACE, ACCOUNT))
    assert "p " in as_account.run("get", "pods", "-A").stdout
    refused = as_account.run("delete", "pod", "p", "-n", "default", check=False)
    assert refused.returncode == 1 and 'cannot delete resource "pods" in API group ""' in refused.stderr
    assert kube_api.requests.used(USER, allowed=False) == {("", "pods", "delete")}


def test_a_role_binding_grants_only_in_its_namespace(admin: httpx.Client, account: httpx.Client) -> None:
    grant(admin, role("config-reader", NAMESPACE, rule([""], ["configmaps"], ["list"])))
    grant(admin, binding("config-reader", "Role", "config-reader", namespace=NAMESPACE))
    grant(admin, cluster_role("secret-reader", rule([""], ["secrets"], ["list"])))
    grant(admin, binding("secret-reader", "ClusterRole", "secret-reader", namespace=NAMESPACE))
    assert account.get(f"/api/v1/namespaces/{NAMESPACE}/configmaps").status_code == 200
    assert account.get(f"/api/v1/namespaces/{NAMESPACE}/secrets").status_code == 200  # a ClusterRole, bound here
    assert account.get("/api/v1/namespaces/default/configmaps").status_code == 403
    assert account.get("/api/v1/namespaces/default/secrets").status_code == 403
    assert account.get("/api/v1/configmaps").status_code == 403  # all namespaces is the cluster scope


def test_subresource_rules(admin: httpx.Client, account: httpx.Client) -> None:
    grant(
        admin,
        cluster_role(
            "status-writer",
            rule(["batch"], ["jobs/status"], ["patch"]),
            rule(["test.dhg.ai"], ["*/status"], ["update", "patch"]),
            rule(["test.dhg.ai"], ["*"], ["get"]),
        ),
        binding("status-writer", "ClusterRole", "status-writer"),
    )
    merge = {"Content-Type": "application/merge-patch+json"}
    widgets = f"/apis/test.dhg.ai/v1alpha1/namespaces/{NAMESPACE}/widgets"
    assert account.patch(f"{widgets}/w/status", json={"status": {"phase": "Ready"}}, headers=merge).status_code == 200
    assert account.patch(f"{widgets}/w", json={"spec": {"size": 2}}, headers=merge).status_code == 403
    assert account.get(f"{widgets}/w/status").status_code == 200  # "*" covers subresources too
    assert account.get(f"{widgets}/w").status_code == 200
    jobs = "/apis/batch/v1/namespaces/default/jobs"
    assert account.patch(f"{jobs}/j/status", json={}, headers=merge).status_code == 404  # allowed, then not found
    assert account.patch(f"{jobs}/j", json={}, headers=merge).status_code == 403


def test_resource_names_restrict_named_requests(admin: httpx.Client, account: httpx.Client) -> None:
    for name in ("a", "b"):
        admin.post(f"/api/v1/namespaces/{NAMESPACE}/configmaps", json={"metadata": {"name": name}})
    grant(
        admin,
        role("only-a", NAMESPACE, rule([""], ["configmaps"], ["get", "list", "create"], resourceNames=["a"])),
        binding("only-a", "Role", "only-a", namespace=NAMESPACE),
    )
    configmaps = f"/api/v1/namespaces/{NAMESPACE}/configmaps"
    assert account.get(f"{configmaps}/a").status_code == 200
    assert account.get(f"{configmaps}/b").status_code == 403
    assert account.get(configmaps).status_code == 403
    assert account.get(configmaps, params={"fieldSelector": "metadata.name=a"}).status_code == 200  # as upstream
    assert account.post(configmaps, json={"metadata": {"name": "a"}}).status_code == 403  # a create has no name


def test_a_missing_role_is_named_in_the_reason(admin: httpx.Client, account: httpx.Client) -> None:
    grant(admin, binding("dangling", "ClusterRole", "not-there"))
    status = account.get("/api/v1/nodes").json()
    assert status["message"] == (
        f'nodes is forbidden: User "{USER}" cannot list resource "nodes" in API group "" at the cluster scope: '
        f'RBAC: clusterrole.{RBAC} "not-there" not found'
    )


def test_group_and_user_subjects(kube_api: KubeApiServer, admin: httpx.Client) -> None:
    jane = auth.User("jane", ("devs", auth.AUTHENTICATED))
    grant(admin, cluster_role("node-reader", rule([""], ["nodes"], ["list"])))
    subjects = [{"kind": "Group", "name": "devs"}, {"kind": "User", "name": "jane"}]
    for name, subject in zip(("by-group", "by-user"), subjects, strict=True):
        body = {**binding(name, "ClusterRole", "node-reader"), "subjects": [subject]}
        grant(admin, body)
        stored = admin.get(f"/apis/{RBAC}/v1/clusterrolebindings/{name}").json()
        assert stored["subjects"][0]["apiGroup"] == RBAC  # defaulted for User and Group subjects
    with client(kube_api, kube_api.mint_token(jane)) as http:
        assert http.get("/api/v1/nodes").status_code == 200
        admin.delete(f"/apis/{RBAC}/v1/clusterrolebindings/by-group").raise_for_status()
        assert http.get("/api/v1/nodes").status_code == 200
        admin.delete(f"/apis/{RBAC}/v1/clusterrolebindings/by-user").raise_for_status()
        assert http.get("/api/v1/nodes").status_code == 403


UNAUTHORIZED = {
    "kind": "Status",
    "apiVersion": "v1",
    "metadata": {},
    "status": "Failure",
    "message": "Unauthorized",
    "reason": "Unauthorized",
    "code": 401,
}


def test_unknown_or_missing_tokens_are_unauthorized(kube_api: KubeApiServer, admin: httpx.Client) -> None:
    for token in ("not-a-token", None):
        with client(kube_api, token) as http:
            response = http.get("/api/v1/namespaces")
            assert (response.status_code, response.json()) == (401, UNAUTHORIZED)
    bad = httpx.get(kube_api.url + "/api", headers={"Authorization": "Bearer not-a-token"})
    assert bad.status_code == 401  # a token on plain HTTP is checked too
    with client(kube_api, kube_api.mint_token(auth.service_account_user(NAMESPACE, ACCOUNT))) as http:
        assert http.get("/version").status_code == 200
        admin.delete(f"/api/v1/namespaces/{NAMESPACE}/serviceaccounts/{ACCOUNT}").raise_for_status()
        assert http.get("/version").status_code == 401  # like a bound token: its service account is gone


def test_kubectl_with_an_unknown_token_must_log_in(kube_api: KubeApiServer, kubectl: Kubectl) -> None:
    config = kube_api.service_account_kubeconfig("default", "nobody")  # no such ServiceAccount
    result = kubectl.using(config).run("get", "pods", check=False)
    assert result.returncode == 1 and "error: You must be logged in to the server" in result.stderr


def test_the_admin_may_do_anything(kube_api: KubeApiServer, kubectl: Kubectl) -> None:
    kubectl.apply(cluster_role("anything", rule(["*"], ["*"], ["*"])))
    assert kubectl.run("auth", "can-i", "delete", "nodes").stdout.strip() == "yes"
    with client(kube_api, auth.ADMIN_TOKEN) as http:
        assert http.delete(f"/apis/{RBAC}/v1/clusterroles/anything").status_code == 200
    assert all(r.allowed for r in kube_api.requests.of(auth.ADMIN.name))
    assert (RBAC, "clusterroles", "delete") in kube_api.requests.used(auth.ADMIN.name)


def test_the_request_log_records_each_verb(kube_api: KubeApiServer, admin: httpx.Client, account: httpx.Client) -> None:
    grant(
        admin,
        cluster_role("everything", rule(["", "test.dhg.ai"], ["*"], ["*"])),
        binding("everything", "ClusterRole", "everything", namespace=NAMESPACE),  # in dhg only
    )
    configmaps, widgets = "/api/v1/namespaces/dhg/configmaps", "/apis/test.dhg.ai/v1alpha1/namespaces/dhg/widgets"
    merge = {"Content-Type": "application/merge-patch+json"}
    account.post(configmaps, json={"metadata": {"name": "c"}}).raise_for_status()
    account.get(configmaps).raise_for_status()
    account.get(configmaps, params={"watch": "true", "timeoutSeconds": "1"}).raise_for_status()
    account.get("/api/v1/watch/namespaces/dhg/configmaps/c", params={"timeoutSeconds": "1"}).raise_for_status()
    account.get(f"{configmaps}/c").raise_for_status()
    account.put(f"{configmaps}/c", json={"metadata": {"name": "c"}, "data": {"k": "v"}}).raise_for_status()
    account.patch(f"{configmaps}/c", json={"data": {"k": "w"}}, headers=merge).raise_for_status()
    account.delete(f"{configmaps}/c").raise_for_status()
    account.delete(configmaps).raise_for_status()
    account.patch(f"{widgets}/w/status", json={"status": {"phase": "Ready"}}, headers=merge).raise_for_status()
    account.get("/api/v1/nodes")  # refused: recorded too
    assert kube_api.requests.used(USER, allowed=True) == {
        ("", "configmaps", "create"),
        ("", "configmaps", "list"),
        ("", "configmaps", "watch"),
        ("", "configmaps", "get"),
        ("", "configmaps", "update"),
        ("", "configmaps", "patch"),
        ("", "configmaps", "delete"),
        ("", "configmaps", "deletecollection"),
        ("test.dhg.ai", "widgets/status", "patch"),
    }
    refused = [r for r in kube_api.requests.of(USER) if not r.allowed]
    assert [(r.verb, r.resource, r.namespace) for r in refused] == [("list", "nodes", "")]
    named_watch = next(r for r in kube_api.requests.of(USER) if r.path.startswith("/api/v1/watch/"))
    assert (named_watch.verb, named_watch.name) == ("watch", "c")


def test_kubectl_auth_can_i_and_whoami(kube_api: KubeApiServer, kubectl: Kubectl, admin: httpx.Client) -> None:
    grant(admin, role("pod-lister", NAMESPACE, rule([""], ["pods"], ["list"])))
    grant(admin, binding("pod-lister", "Role", "pod-lister", namespace=NAMESPACE))
    as_account = kubectl.using(kube_api.service_account_kubeconfig(NAMESPACE, ACCOUNT))
    assert as_account.run("auth", "can-i", "list", "pods").stdout.strip() == "yes"
    denied = as_account.run("auth", "can-i", "list", "pods", "-n", "default", check=False)
    assert (denied.returncode, denied.stdout.strip()) == (1, "no")
    assert as_account.run("auth", "can-i", "get", "/healthz").stdout.strip() == "yes"
    whoami = as_account.run("auth", "whoami").stdout
    assert USER in whoami and "system:serviceaccounts:dhg" in whoami
    review = {"spec": {"resourceAttributes": {"namespace": NAMESPACE, "verb": "list", "resource": "pods"}}}
    with client(kube_api, kube_api.mint_token(auth.service_account_user(NAMESPACE, ACCOUNT))) as http:
        answer = http.post("/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", json=review)
    assert answer.status_code == 201
    assert answer.json()["status"] == {
        "allowed": True,
        "reason": f'RBAC: allowed by RoleBinding "pod-lister/{NAMESPACE}" of Role "pod-lister" to ServiceAccount '
        f'"{ACCOUNT}/{NAMESPACE}"',
    }


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            {"metadata": {"name": "b"}, "subjects": []},
            'ClusterRoleBinding.rbac.authorization.k8s.io "b" is invalid: [roleRef.apiGroup: Unsupported value: "": '
            'supported values: "rbac.authorization.k8s.io", roleRef.kind: Unsupported value: "": supported values: '
            '"ClusterRole", roleRef.name: Required value]',
        ),
        (
            {
                "metadata": {"name": "b"},
                "roleRef": {"apiGroup": RBAC, "kind": "ClusterRole", "name": "r"},
                "subjects": [{"kind": "Robot", "name": "x"}, {"kind": "ServiceAccount", "name": "x"}],
            },
            'ClusterRoleBinding.rbac.authorization.k8s.io "b" is invalid: [subjects[0].kind: Unsupported value: '
            '"Robot": supported values: "ServiceAccount", "User", "Group", subjects[1].namespace: Required value]',
        ),
    ],
)
def test_bindings_are_validated(kube_api: KubeApiServer, body: dict[str, Any], message: str) -> None:
    response = httpx.post(kube_api.url + f"/apis/{RBAC}/v1/clusterrolebindings", json=body)
    assert response.status_code == 422 and response.json()["message"] == message


def test_a_role_ref_cannot_change(kubectl: Kubectl) -> None:
    kubectl.apply(binding("b", "ClusterRole", "one"))
    result = kubectl.run("apply", "-f", "-", input=json.dumps(binding("b", "ClusterRole", "two")), check=False)
    assert result.returncode == 1
    assert (
        'roleRef: Invalid value: rbac.RoleRef{APIGroup:"rbac.authorization.k8s.io", Kind:"ClusterRole", Name:"two"}: '
        "cannot change roleRef" in result.stderr
    )


def test_rbac_discovery_matches_the_real_group(kube_api: KubeApiServer) -> None:
    real = next(g for g in fixture("discovery-GET-apis.json")["groups"] if g["name"] == RBAC)
    ours = next(g for g in httpx.get(kube_api.url + "/apis").json()["groups"] if g["name"] == RBAC)
    assert ours == real
    listing = httpx.get(kube_api.url + f"/apis/{RBAC}/v1").json()
    entries = {r["name"]: (r["namespaced"], r["kind"], r["verbs"]) for r in listing["resources"]}
    verbs = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]
    assert entries == {
        "clusterrolebindings": (False, "ClusterRoleBinding", verbs),
        "clusterroles": (False, "ClusterRole", verbs),
        "rolebindings": (True, "RoleBinding", verbs),
        "roles": (True, "Role", verbs),
    }


@pytest.mark.parametrize(
    ("method", "path", "query", "expected"),
    [
        ("GET", "/api/v1/namespaces/d/pods", {}, ("list", "", "pods", "", "d", "")),
        ("GET", "/api/v1/namespaces/d/pods", {"watch": "1"}, ("watch", "", "pods", "", "d", "")),
        ("GET", "/api/v1/namespaces/d/pods", {"watch": "false"}, ("list", "", "pods", "", "d", "")),
        ("GET", "/api/v1/watch/namespaces/d/pods/p", {}, ("watch", "", "pods", "", "d", "p")),
        ("GET", "/api/v1/pods", {"fieldSelector": "metadata.name=p"}, ("list", "", "pods", "", "", "p")),
        ("GET", "/api/v1/namespaces/d/pods/p/log", {}, ("get", "", "pods", "log", "d", "p")),
        ("PUT", "/apis/batch/v1/namespaces/d/jobs/j/status", {}, ("update", "batch", "jobs", "status", "d", "j")),
        ("DELETE", "/apis/batch/v1/namespaces/d/jobs", {}, ("deletecollection", "batch", "jobs", "", "d", "")),
        ("GET", "/api/v1/namespaces/x", {}, ("get", "", "namespaces", "", "x", "x")),
        ("PUT", "/api/v1/namespaces/x/finalize", {}, ("update", "", "namespaces", "finalize", "x", "x")),
        ("POST", "/api/v1/namespaces", {}, ("create", "", "namespaces", "", "", "")),
        ("GET", "/apis/rbac.authorization.k8s.io/v1/clusterroles/c", {}, ("get", RBAC, "clusterroles", "", "", "c")),
    ],
)
def test_request_attributes_as_upstream_reads_them(
    method: str, path: str, query: dict[str, str], expected: tuple[str, ...]
) -> None:
    found = requestinfo.attributes(auth.ADMIN, method, path, query)
    assert found.resource_request
    assert (found.verb, found.group, found.resource, found.subresource, found.namespace, found.name) == expected


@pytest.mark.parametrize("path", ["/api", "/apis", "/apis/batch/v1", "/api/v1", "/version", "/openapi/v3"])
def test_discovery_paths_are_non_resource_requests(path: str) -> None:
    found = requestinfo.attributes(auth.ADMIN, "GET", path, {})
    assert (found.resource_request, found.verb, found.path) == (False, "get", path)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_kopf_runs_as_the_service_account_with_exactly_what_it_uses(
    kube_api: KubeApiServer, admin: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    scanning = [  # Kopf lists and watches these even for one namespace
        rule(["apiextensions.k8s.io"], ["customresourcedefinitions"], ["list", "watch"]),
        rule([""], ["namespaces"], ["list", "watch"]),
    ]
    handling = [rule([""], ["configmaps"], ["list", "watch", "patch"]), rule([""], ["events"], ["create"])]
    grant(admin, cluster_role("kopf-scanning", *scanning), binding("kopf-scanning", "ClusterRole", "kopf-scanning"))
    grant(admin, role("operator", NAMESPACE, *handling), binding("operator", "Role", "operator", namespace=NAMESPACE))
    monkeypatch.setenv("KUBECONFIG", str(kube_api.service_account_kubeconfig(NAMESPACE, ACCOUNT)))
    registry = kopf.OperatorRegistry()

    @kopf.on.login(registry=registry)
    def login(**kwargs: Any) -> kopf.ConnectionInfo | None:
        return kopf.login_with_kubeconfig(**kwargs)

    @kopf.on.create("", "v1", "configmaps", registry=registry)
    def created(body: kopf.Body, patch: kopf.Patch, **_: Any) -> None:
        patch.metadata.labels["seen"] = "yes"
        kopf.info(body, reason="Seen", message="labelled")

    with operator(registry, namespaces=(NAMESPACE,)):
        admin.post(f"/api/v1/namespaces/{NAMESPACE}/configmaps", json={"metadata": {"name": "c"}}).raise_for_status()
        events = f"/api/v1/namespaces/{NAMESPACE}/events"
        wait_for(kube_api, "", "configmaps", NAMESPACE, "c", lambda c: c and "seen" in c["metadata"].get("labels", {}))
        wait_until(kube_api, lambda: admin.get(events).json()["items"], what="Kopf's Event")
    assert kube_api.requests.used(USER, allowed=False) == set()
    assert kube_api.requests.used(USER) == rbac.granted(scanning + handling)


def test_block_owner_deletion_needs_update_on_the_owners_finalizers(
    kube_api: KubeApiServer, admin: httpx.Client, account: httpx.Client
) -> None:
    """OwnerReferencesPermissionEnforcement (opt-in, as upstream): a create that sets blockOwnerDeletion on an
    ownerReference is refused unless its author may update the owner's `finalizers`."""
    kube_api.api.enforce_owner_references = True
    widget_uid = admin.get(f"/apis/test.dhg.ai/v1alpha1/namespaces/{NAMESPACE}/widgets/w").json()["metadata"]["uid"]
    grant(admin, cluster_role("maps", rule([""], ["configmaps"], ["create"])), binding("maps", "ClusterRole", "maps"))
    owner = {"apiVersion": "test.dhg.ai/v1alpha1", "kind": "Widget", "name": "w", "uid": widget_uid}
    maps = f"/api/v1/namespaces/{NAMESPACE}/configmaps"

    def create(name: str, block: bool) -> httpx.Response:
        references = [owner | {"controller": True, "blockOwnerDeletion": block}]
        return account.post(maps, json={"metadata": {"name": name, "ownerReferences": references}})

    assert create("free", block=False).status_code == 201  # no blocking reference: nothing more to check
    refused = create("blocking", block=True)
    assert refused.status_code == 403
    assert refused.json()["message"] == (
        'configmaps "blocking" is forbidden: cannot set blockOwnerDeletion if an ownerReference refers to a '
        "resource you can't set finalizers on: "
    )
    assert ("test.dhg.ai", "widgets/finalizers", "update") in kube_api.requests.used(USER, allowed=False)
    grant(
        admin,
        cluster_role("finalizers", rule(["test.dhg.ai"], ["widgets/finalizers"], ["update"])),
        binding("finalizers", "ClusterRole", "finalizers"),
    )
    assert create("blocking", block=True).status_code == 201
    assert ("test.dhg.ai", "widgets/finalizers", "update") in kube_api.requests.used(USER, allowed=True)
