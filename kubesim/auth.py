"""Authentication: bearer tokens → users, as kube-apiserver's token authenticators with anonymous auth off.

The kubeconfig the server writes carries ADMIN_TOKEN, a member of system:masters (every request allowed);
service-account tokens are minted by KubeApiServer.service_account_kubeconfig and, like bound tokens, stop
working while their ServiceAccount does not exist. An unknown token is 401 Unauthorized, and so is a missing
one on the HTTPS port; on the plain-HTTP port a request without one is the admin's.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass

from kubesim import errors

ADMIN_TOKEN = "test-kube-api"
MASTERS = "system:masters"
AUTHENTICATED = "system:authenticated"
SERVICE_ACCOUNT_PREFIX = "system:serviceaccount:"


@dataclass(frozen=True)
class User:
    """Who a request is from: user.Info's name and groups."""

    name: str
    groups: tuple[str, ...] = (AUTHENTICATED,)

    @property
    def service_account(self) -> tuple[str, str] | None:
        """(namespace, name) for system:serviceaccount:<namespace>:<name>, else None."""
        if not self.name.startswith(SERVICE_ACCOUNT_PREFIX):
            return None
        namespace, _, name = self.name.removeprefix(SERVICE_ACCOUNT_PREFIX).partition(":")
        return (namespace, name) if namespace and name and ":" not in name else None


ADMIN = User("kubernetes-admin", (MASTERS, AUTHENTICATED))


def service_account_username(namespace: str, name: str) -> str:
    return f"{SERVICE_ACCOUNT_PREFIX}{namespace}:{name}"


def service_account_user(namespace: str, name: str) -> User:
    """The user a ServiceAccount's token authenticates as, with the groups upstream gives it."""
    groups = ("system:serviceaccounts", f"system:serviceaccounts:{namespace}", AUTHENTICATED)
    return User(service_account_username(namespace, name), groups)


class Authenticator:
    """Tokens the server accepts; `exists(namespace, name)` says whether a service account is still there."""

    def __init__(self, service_account_exists: Callable[[str, str], bool]) -> None:
        self._users: dict[str, User] = {ADMIN_TOKEN: ADMIN}
        self._service_account_exists = service_account_exists

    def mint(self, user: User) -> str:
        token = secrets.token_urlsafe(24)
        self._users[token] = user
        return token

    def authenticate(self, authorization: str, *, secure: bool) -> User:
        """The user of an `Authorization: Bearer <token>` header; 401 Unauthorized otherwise. Without a header on
        plain HTTP: the admin (kubectl sends no credentials over HTTP; kube-apiserver's old insecure port)."""
        if not authorization and not secure:
            return ADMIN
        scheme, _, rest = authorization.strip().partition(" ")
        token = rest.split(" ", 1)[0] if scheme.lower() == "bearer" else ""
        user = self._users.get(token) if token else None
        account = user.service_account if user else None
        if user is None or (account is not None and not self._service_account_exists(*account)):
            raise errors.unauthorized()
        return user
