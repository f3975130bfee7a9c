"""The operator's own Kubernetes API calls (Kopf's client covers watching, its finalizer and Events)."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from kubernetes import client as k8s
from kubernetes import config as k8s_config


class Kube:
    """The writes Kopf does not do for us (Jobs, the status), with the `kubernetes` client: one ApiClient (one
    connection pool, kept alive) and its own threads, sized for a burst of jobs (a client per call opened a new
    connection each time, and the default executor has cpu_count + 4 threads)."""

    THREADS = 16

    def __init__(self, api: k8s.ApiClient) -> None:
        self.api = api
        self.batch = k8s.BatchV1Api(api)
        self.objects = k8s.CustomObjectsApi(api)
        self.executor = ThreadPoolExecutor(self.THREADS, thread_name_prefix="kube")

    @classmethod
    def connect(cls, kubeconfig: str | None) -> Kube:
        """In a pod: its service account; elsewhere: `kubeconfig` (the settings' $KUBECONFIG, read when they were:
        the library's own default is $KUBECONFIG as it was when the library was imported)."""
        configuration = k8s.Configuration()
        try:
            k8s_config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
        except k8s_config.ConfigException:
            k8s_config.load_kube_config(  # type: ignore[no-untyped-call]
                config_file=kubeconfig, client_configuration=configuration
            )
        configuration.connection_pool_maxsize = cls.THREADS
        return cls(k8s.ApiClient(configuration))

    async def call(self, function: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        """`function(*args, **kwargs)` on the client's threads, its answer read and dropped: the operator learns
        what it wrote from its watches, so the answer is not decoded into the client's model objects (for a
        created Job, milliseconds of CPU under the GIL each, times every job of a burst). An error status still
        raises ApiException."""
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self.executor, functools.partial(self._drained, function, *args, **kwargs))

    @staticmethod
    def _drained(function: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        response = function(*args, _preload_content=False, **kwargs)
        response.data  # noqa: B018 (read to the end: the connection goes back to the pool)

    def close(self) -> None:
        """After the calls under way (queued ones are dropped): the pool is not closed under a thread using it."""
        self.executor.shutdown(wait=True, cancel_futures=True)
        self.api.close()  # type: ignore[no-untyped-call]
