"""Authorization: system:masters may do anything; everyone else gets what RBAC's Roles, ClusterRoles and their
bindings grant (plugin/pkg/auth/authorizer/rbac), with upstream's default policy for discovery and self-reviews
and its 403 wording (k8s.io/apiserver's responsewriters.Forbidden)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kubesim import errors
from kubesim.auth import MASTERS, User
from kubesim.requestinfo import Attributes

if TYPE_CHECKING:
    from kubesim.store import Store

Object = dict[str, Any]
GROUP = "rbac.authorization.k8s.io"
AUTHORIZATION_GROUP = "authorization.k8s.io"
ROLES, ROLE_BINDINGS = (GROUP, "roles"), (GROUP, "rolebindings")
CLUSTER_ROLES, CLUSTER_ROLE_BINDINGS = (GROUP, "clusterroles"), (GROUP, "clusterrolebindings")
SELF_SUBJECT_ACCESS_REVIEWS = (AUTHORIZATION_GROUP, "selfsubjectaccessreviews")
SELF_SUBJECT_REVIEWS = ("authentication.k8s.io", "selfsubjectreviews")
PUBLIC_INFO_URLS = ["/healthz", "/livez", "/readyz", "/version", "/version/"]
DISCOVERY_URLS = ["/api", "/api/*", "/apis", "/apis/*", "/openapi", "/openapi/*", *PUBLIC_INFO_URLS]


def _bootstrap(name: str, rules: list[Object], groups: list[str]) -> tuple[Object, Object]:
    """A default ClusterRole and its ClusterRoleBinding, as kube-apiserver's RBAC bootstrap creates them."""
    meta = {
        "name": name,
        "labels": {"kubernetes.io/bootstrapping": "rbac-defaults"},
        "annotations": {"rbac.authorization.kubernetes.io/autoupdate": "true"},
    }
    role = {"metadata": meta, "rules": rules}
    subjects = [{"kind": "Group", "apiGroup": GROUP, "name": group} for group in groups]
    binding = {
        "metadata": meta,
        "roleRef": {"apiGroup": GROUP, "kind": "ClusterRole", "name": name},
        "subjects": subjects,
    }
    return role, binding


BOOTSTRAP_POLICY = (
    _bootstrap(
        "cluster-admin",
        [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}, {"nonResourceURLs": ["*"], "verbs": ["*"]}],
        [MASTERS],
    ),
    _bootstrap(
        "system:basic-user",
        [
            {"apiGroups": ["authentication.k8s.io"], "resources": ["selfsubjectreviews"], "verbs": ["create"]},
            {
                "apiGroups": [AUTHORIZATION_GROUP],
                "resources": ["selfsubjectaccessreviews", "selfsubjectrulesreviews"],
                "verbs": ["create"],
            },
        ],
        ["system:authenticated"],
    ),
    _bootstrap(
        "system:discovery",
        [{"nonResourceURLs": DISCOVERY_URLS, "verbs": ["get"]}],
        ["system:authenticated"],
    ),
    _bootstrap(
        "system:public-info-viewer",
        [{"nonResourceURLs": PUBLIC_INFO_URLS, "verbs": ["get"]}],
        ["system:authenticated", "system:unauthenticated"],
    ),
)


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str = ""  # "RBAC: allowed by ..." or the errors met on the way ("RBAC: role... not found")


def rule_allows(attributes: Attributes, rule: Object) -> bool:
    """RBAC's RuleAllows: verbs, then apiGroups, resources (`*`, `x/sub`, `*/sub`) and resourceNames, or URLs."""
    if not _has(rule.get("verbs"), attributes.verb):
        return False
    if not attributes.resource_request:
        return any(
            url in ("*", attributes.path) or (url.endswith("*") and attributes.path.startswith(url.rstrip("*")))
            for url in rule.get("nonResourceURLs") or []
        )
    names = rule.get("resourceNames") or []
    return (
        _has(rule.get("apiGroups"), attributes.group)
        and _resource_matches(rule.get("resources") or [], attributes.resource_path, attributes.subresource)
        and (not names or attributes.name in names)
    )


def _has(values: list[str] | None, wanted: str) -> bool:
    return any(value in ("*", wanted) for value in values or [])


def _resource_matches(resources: list[str], combined: str, subresource: str) -> bool:
    return any(r in ("*", combined) or (bool(subresource) and r == f"*/{subresource}") for r in resources)


def _applies(user: User, subject: Object, namespace: str) -> bool:
    kind, name = subject.get("kind"), subject.get("name")
    if kind == "User":
        return user.name == name
    if kind == "Group":
        return name in user.groups
    if kind == "ServiceAccount":
        account_namespace = subject.get("namespace") or namespace
        return bool(account_namespace) and user.name == f"system:serviceaccount:{account_namespace}:{name}"
    return False


def _describe_subject(subject: Object, namespace: str) -> str:
    if subject.get("kind") == "ServiceAccount":
        return f'ServiceAccount "{subject.get("name")}/{subject.get("namespace") or namespace}"'
    return f'{subject.get("kind")} "{subject.get("name")}"'


class Authorizer:
    """Decides each request from the Roles and bindings in the store at that moment (no cache to go stale)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def authorize(self, attributes: Attributes) -> Decision:
        if MASTERS in attributes.user.groups:
            return Decision(True)
        problems: list[str] = []
        bindings = [(b, "") for b in self._objects(CLUSTER_ROLE_BINDINGS, None)]
        if attributes.namespace:
            bindings += [(b, attributes.namespace) for b in self._objects(ROLE_BINDINGS, attributes.namespace)]
        for binding, namespace in bindings:
            subject = next((s for s in binding.get("subjects") or [] if _applies(attributes.user, s, namespace)), None)
            if subject is None:
                continue
            rules = self._rules(binding.get("roleRef") or {}, namespace, problems)
            if any(rule_allows(attributes, rule) for rule in rules):
                return Decision(True, "RBAC: allowed by " + _describe_binding(binding, subject, namespace))
        return Decision(False, "RBAC: " + _aggregate(problems) if problems else "")

    def _objects(self, key: tuple[str, str], namespace: str | None) -> list[Object]:
        resource = self.store.registry.get(*key)
        return self.store.list(resource, namespace)[0] if resource else []

    def _rules(self, ref: Object, namespace: str, problems: list[str]) -> list[Object]:
        kind, name = ref.get("kind"), ref.get("name", "")
        key = ROLES if kind == "Role" else CLUSTER_ROLES if kind == "ClusterRole" else None
        resource = self.store.registry.get(*key) if key else None
        if resource is None:
            problems.append(f'unsupported role reference kind: "{kind}"')
            return []
        role = self.store.find(resource, namespace if kind == "Role" else None, name)
        if role is None:
            problems.append(f'{str(kind).lower()}.{GROUP} "{name}" not found')
            return []
        return role.get("rules") or []


def _describe_binding(binding: Object, subject: Object, namespace: str) -> str:
    ref, name = binding.get("roleRef") or {}, binding["metadata"]["name"]
    kind, described = ("RoleBinding", f"{name}/{namespace}") if namespace else ("ClusterRoleBinding", name)
    return f'{kind} "{described}" of {ref.get("kind")} "{ref.get("name")}" to {_describe_subject(subject, namespace)}'


def _aggregate(messages: list[str]) -> str:
    """utilerrors.NewAggregate(...).Error(): one message as itself, several deduplicated in brackets."""
    unique = list(dict.fromkeys(messages))
    return unique[0] if len(unique) == 1 else "[" + ", ".join(unique) + "]"


def forbidden(attributes: Attributes, reason: str) -> errors.ApiError:
    """403 with the message kube-apiserver writes, plus the authorizer's reason when it gave one."""
    user = attributes.user.name
    if not attributes.resource_request:
        message = f'User "{user}" cannot {attributes.verb} path "{attributes.path}"'
    elif attributes.namespace:
        message = (
            f'User "{user}" cannot {attributes.verb} resource "{attributes.resource_path}" in API group '
            f'"{attributes.group}" in the namespace "{attributes.namespace}"'
        )
    else:
        message = (
            f'User "{user}" cannot {attributes.verb} resource "{attributes.resource_path}" in API group '
            f'"{attributes.group}" at the cluster scope'
        )
    message = message.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    why = f"{message}: {reason}" if reason else message
    return errors.forbidden(attributes.resource, attributes.group, attributes.name, why)


def review(authorizer: Authorizer, user: User, body: Any) -> Object:
    """A SelfSubjectAccessReview (`kubectl auth can-i`): the spec's attributes, decided for the caller."""
    spec = (body.get("spec") if isinstance(body, dict) else None) or {}
    decision = authorizer.authorize(_review_attributes(user, spec))
    status: Object = {"allowed": decision.allowed}
    if decision.reason:
        status["reason"] = decision.reason
    return {
        "kind": "SelfSubjectAccessReview",
        "apiVersion": f"{AUTHORIZATION_GROUP}/v1",
        "metadata": {"creationTimestamp": None},
        "spec": spec,
        "status": status,
    }


def whoami(user: User) -> Object:
    """A SelfSubjectReview (`kubectl auth whoami`): the caller's user info."""
    return {
        "kind": "SelfSubjectReview",
        "apiVersion": "authentication.k8s.io/v1",
        "metadata": {"creationTimestamp": None},
        "status": {"userInfo": {"username": user.name, "groups": list(user.groups)}},
    }


def _review_attributes(user: User, spec: Object) -> Attributes:
    resource, non_resource = spec.get("resourceAttributes"), spec.get("nonResourceAttributes")
    if resource is not None and non_resource is None:
        return Attributes(
            user,
            resource.get("verb", ""),
            True,
            group=resource.get("group", ""),
            version=resource.get("version", ""),
            resource=resource.get("resource", ""),
            subresource=resource.get("subresource", ""),
            namespace=resource.get("namespace", ""),
            name=resource.get("name", ""),
        )
    if non_resource is not None and resource is None:
        return Attributes(user, non_resource.get("verb", ""), False, non_resource.get("path", ""))
    if resource is not None:
        cause = errors.cause(
            "spec.nonResourceAttributes", "Invalid value: cannot be specified in combination with resourceAttributes"
        )
    else:
        message = "exactly one of nonResourceAttributes or resourceAttributes must be specified"
        cause = errors.cause("spec.resourceAttributes", f'Invalid value: "null": {message}')
    raise errors.invalid("SelfSubjectAccessReview", AUTHORIZATION_GROUP, "", [cause])


def granted(rules: Iterable[Object]) -> set[tuple[str, str, str]]:
    """(apiGroup, resource, verb) for each combination a Role's rules list (wildcards kept as "*"), to compare
    with RequestLog.used(...); resourceNames and nonResourceURLs rules are left out."""
    return {
        (group, resource, verb)
        for rule in rules
        for group in rule.get("apiGroups") or []
        for resource in rule.get("resources") or []
        for verb in rule.get("verbs") or []
    }
