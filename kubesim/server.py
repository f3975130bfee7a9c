"""Start and stop the test Kubernetes API: plain HTTP on a free 127.0.0.1 port, in a thread of its own.

Its own thread and event loop let synchronous tests (the `kubernetes` client, kubectl in a subprocess) and
asynchronous ones (Kopf in the test's loop) talk to it alike. The simulated cluster (scheduler, kubelet, Job
controller, garbage collector) runs as tasks in that same loop.
"""

from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import tempfile
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import yaml
from aiohttp import web

from kubesim import auth, tls
from kubesim.app import Api
from kubesim.audit import RequestLog
from kubesim.controllers import Controller, GarbageCollector
from kubesim.store import Store

T = TypeVar("T")


class KubeApiServer:
    """The API stand-in. Use as a context manager, or `start()` / `stop()`."""

    def __init__(
        self,
        *,
        bookmark_interval: float = 60.0,
        watch_timeout: float = 1800.0,
        history_size: int = 10_000,
        workdir: Path | None = None,
    ) -> None:
        self.store = Store(history_size=history_size)
        self._logs: dict[tuple[str, str], Callable[[], str]] = {}
        self.api = Api(
            self.store, bookmark_interval=bookmark_interval, watch_timeout=watch_timeout, log_source=self._log
        )
        self._own_workdir = None if workdir else tempfile.TemporaryDirectory(prefix="kube-api-")
        self.workdir = workdir or Path(self._own_workdir.name)  # type: ignore[union-attr]
        self.loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self.port = 0
        self.secure_port = 0  # the HTTPS listener starts with the first kubeconfig or token minted
        self._secure_lock = threading.Lock()
        self._controllers: list[Controller] = []
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def url(self) -> str:
        """Plain HTTP: a request without a token is the cluster admin's (kubectl sends none over HTTP)."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def secure_url(self) -> str:
        """HTTPS (trust `tls.certificate()[0]`): every request needs a token the server knows, else 401."""
        with self._secure_lock:
            if not self.secure_port:
                self.call(self._listen_secure())
        return f"https://127.0.0.1:{self.secure_port}"

    @property
    def kubeconfig(self) -> Path:
        """The cluster admin's kubeconfig (plain HTTP, token `test-kube-api`, group system:masters)."""
        return self.workdir / "kubeconfig"

    @property
    def requests(self) -> RequestLog:
        """Every authenticated request: user, verb, group, resource, subresource, namespace, name, allowed."""
        return self.api.requests

    def service_account_kubeconfig(self, namespace: str, name: str) -> Path:
        """A kubeconfig that authenticates as system:serviceaccount:<namespace>:<name> (context namespace
        `namespace`); its token is refused (401) while that ServiceAccount does not exist."""
        return self.user_kubeconfig(auth.service_account_user(namespace, name), namespace=namespace)

    def user_kubeconfig(self, user: auth.User, namespace: str = "default") -> Path:
        """A kubeconfig for the HTTPS URL with a fresh token for `user` (whose name and groups RBAC sees)."""
        path = self.workdir / f"kubeconfig-{user.name.replace(':', '-')}"
        self._write_kubeconfig(path, self.mint_token(user), namespace, secure=True)
        return path

    def mint_token(self, user: auth.User) -> str:
        """A bearer token that authenticates as `user` (send it to `secure_url`)."""
        return self.api.authenticator.mint(user)

    def start(self) -> KubeApiServer:
        started: concurrent.futures.Future[None] = concurrent.futures.Future()
        self._thread = threading.Thread(target=self._serve, args=(started,), name="kube-api", daemon=True)
        self._thread.start()
        started.result(timeout=30)
        self.api.server_address = f"127.0.0.1:{self.port}"
        self.run_controller(GarbageCollector(self.store))
        self._write_kubeconfig(self.kubeconfig, auth.ADMIN_TOKEN, "default")
        return self

    def stop(self) -> None:
        if self.loop and self._thread:
            self.call(self._shutdown())
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(timeout=30)
        if self._own_workdir:
            self._own_workdir.cleanup()

    def __enter__(self) -> KubeApiServer:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def call(self, coroutine: Awaitable[T]) -> T:
        """Run a coroutine in the server's loop and wait for its result (from any other thread)."""
        assert self.loop is not None
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout=60)  # type: ignore[arg-type]

    def run_controller(self, controller: Controller) -> None:
        """Run a controller as a task in the server's loop until the server stops."""
        assert self.loop is not None
        self._controllers.append(controller)
        self.loop.call_soon_threadsafe(lambda: self._tasks.append(self.loop.create_task(controller.run())))  # type: ignore[union-attr]

    def register_log(self, namespace: str, pod: str, read: Callable[[], str]) -> None:
        """Where `kubectl logs` finds a pod's output (the simulated kubelet registers its processes)."""
        self._logs[(namespace, pod)] = read

    def _log(self, namespace: str, pod: str) -> str | None:
        read = self._logs.get((namespace, pod))
        return read() if read else None

    def _serve(self, started: concurrent.futures.Future[None]) -> None:
        self.loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_until_complete(self._listen())
        except BaseException as error:
            started.set_exception(error)
            return
        started.set_result(None)
        self.loop.run_forever()
        self.loop.close()

    async def _listen(self) -> None:
        self._runner = web.AppRunner(self.api.application(), access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        sockets = site._server.sockets  # type: ignore[union-attr]
        self.port = sockets[0].getsockname()[1]

    async def _listen_secure(self) -> None:
        site = web.TCPSite(self._runner, "127.0.0.1", 0, ssl_context=tls.server_context())  # type: ignore[arg-type]
        await site.start()
        self.secure_port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def _shutdown(self) -> None:
        self.api.stop_watches()
        for controller in self._controllers:
            stop = getattr(controller, "stop", None)
            if stop:
                await stop()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._runner:
            await self._runner.cleanup()

    def _write_kubeconfig(self, path: Path, token: str, namespace: str, secure: bool = False) -> None:
        cluster: dict[str, Any] = {"server": self.url}
        if secure:
            authority = base64.b64encode(tls.certificate()[0].read_bytes()).decode()
            cluster = {"server": self.secure_url, "certificate-authority-data": authority}
        config: dict[str, Any] = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "test", "cluster": cluster}],
            "users": [{"name": "test", "user": {"token": token}}],
            "contexts": [{"name": "test", "context": {"cluster": "test", "user": "test", "namespace": namespace}}],
            "current-context": "test",
        }
        path.write_text(yaml.safe_dump(config))
