"""Start and stop the test Kubernetes API: plain HTTP on a free 127.0.0.1 port, in a thread of its own.

Its own thread and event loop let synchronous tests (the `kubernetes` client, kubectl in a subprocess) and
asynchronous ones (Kopf in the test's loop) talk to it alike. The simulated cluster (scheduler, kubelet, Job
controller, garbage collector) runs as tasks in that same loop.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import tempfile
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import yaml
from aiohttp import web

from tests.kube.app import Api
from tests.kube.controllers import Controller, GarbageCollector
from tests.kube.store import Store

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
        self._controllers: list[Controller] = []
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def kubeconfig(self) -> Path:
        return self.workdir / "kubeconfig"

    def start(self) -> KubeApiServer:
        started: concurrent.futures.Future[None] = concurrent.futures.Future()
        self._thread = threading.Thread(target=self._serve, args=(started,), name="kube-api", daemon=True)
        self._thread.start()
        started.result(timeout=30)
        self.api.server_address = f"127.0.0.1:{self.port}"
        self.run_controller(GarbageCollector(self.store))
        self._write_kubeconfig()
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

    def _write_kubeconfig(self) -> None:
        config: dict[str, Any] = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "test", "cluster": {"server": self.url}}],
            "users": [{"name": "test", "user": {"token": "test-kube-api"}}],
            "contexts": [{"name": "test", "context": {"cluster": "test", "user": "test", "namespace": "default"}}],
            "current-context": "test",
        }
        self.kubeconfig.write_text(yaml.safe_dump(config))
