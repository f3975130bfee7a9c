"""Two Registry processes on one database behind one address (a round-robin TCP proxy, as a Service in front of
two pods), both with the embedding worker and the webhook dispatcher:

- started at once on an empty database, they migrate it once (one process runs every revision, the other none);
- segments pushed through the proxy are each embedded once (the two processes' embedding counters add up to
  the segments: the SKIP LOCKED claim holds across processes);
- under the write stream of the fault test, one replica is killed (SIGKILL, a crashed pod) and started again:
  nothing acknowledged is lost, nothing refused is stored, every stored transcript's webhook is delivered, and
  no delivery is sent by both replicas at once (never the same delivery id with the same attempt number twice;
  a delivery the killed replica was sending is sent again by the other, as at-least-once says)."""

from __future__ import annotations

import asyncio
import itertools
import json
import secrets
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from bench.registry.processes import RegistryProcess
from dhg.postgres import free_port
from registry import migrate
from tests.registry.integration.test_faults import Ledger, check_stored, client_loop
from tests.registry.integration.test_webhooks import Receiver, subscribe

CLIENTS = 3
STREAM_SECONDS = 12.0
SEGMENTS_PER_PUSH = 3


class RoundRobin:
    """A TCP proxy on loopback: each connection goes to the next backend that accepts it (one that refuses is
    skipped, as a Service skips a pod that is not ready)."""

    def __init__(self, ports: list[int]) -> None:
        self.ports, self.port, self.connections = ports, free_port(), Counter[int]()
        self._turn = itertools.count()
        self._loop = asyncio.new_event_loop()
        started = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(started,), daemon=True)
        self._thread.start()
        assert started.wait(10)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _run(self, started: threading.Event) -> None:
        asyncio.set_event_loop(self._loop)
        self._server = self._loop.run_until_complete(asyncio.start_server(self._serve, "127.0.0.1", self.port))
        started.set()
        self._loop.run_forever()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        first = next(self._turn)
        for port in (self.ports[(first + n) % len(self.ports)] for n in range(len(self.ports))):
            try:
                upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", port)
            except OSError:
                continue
            self.connections[port] += 1
            await asyncio.gather(self._pipe(reader, upstream_writer), self._pipe(upstream_reader, writer))
            return
        writer.close()

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except OSError:
            pass
        finally:
            writer.close()

    def close(self) -> None:
        self._loop.call_soon_threadsafe(self._server.close)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


def replica(database_url: str, media: Path, log: Path, token: str, sealing: str) -> RegistryProcess:
    return RegistryProcess(
        database_url,
        media,
        log,
        embeddings="on",
        admin_token=token,
        migrate_first=True,
        extra_env={
            "DHG_REGISTRY_LOG_LEVEL": "INFO",  # alembic's "Running upgrade" lines say who migrated
            "DHG_REGISTRY_WEBHOOK_ALLOWED_NETWORKS": '["127.0.0.1/32"]',  # the receiver is on loopback
            "DHG_REGISTRY_WEBHOOK_SECRET_KEY": sealing,  # one key for both: either opens what the other sealed
            "DHG_REGISTRY_WEBHOOK_POLL_SECONDS": "0.2",
            "DHG_REGISTRY_WEBHOOK_BACKOFF_BASE_SECONDS": "0.2",
            "DHG_REGISTRY_WEBHOOK_BACKOFF_MAX_SECONDS": "1",
            "DHG_REGISTRY_WEBHOOK_TIMEOUT_SECONDS": "3",
            "DHG_REGISTRY_EMBEDDING_POLL_SECONDS": "0.2",
            "DHG_REGISTRY_TOKEN_CACHE_SECONDS": "0",
        },
    )


def migrations_run(server: RegistryProcess) -> list[str]:
    lines = [json.loads(line) for line in server.log_path.read_text().splitlines() if line.startswith("{")]
    return [line["msg"] for line in lines if str(line.get("msg", "")).startswith("Running upgrade")]


def embedded(server: RegistryProcess) -> float:
    return server.metric("dhg_registry_embeddings_computed_total") or 0.0


def wait(predicate, what: str, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout:.0f} s")
        time.sleep(0.2)


def test_two_replicas_on_one_database_migrate_once_embed_once_and_lose_nothing_when_one_crashes(postgres, tmp_path):
    database = f"replicas_{uuid.uuid4().hex[:8]}"
    database_url = postgres.create_database(database)
    token, sealing = "test-admin-" + secrets.token_hex(16), "test-sealing-" + secrets.token_hex(16)
    servers = [replica(database_url, tmp_path / "media", tmp_path / f"{n}.log", token, sealing) for n in "ab"]
    receiver = Receiver(free_port())
    with ThreadPoolExecutor(2) as pool:  # both at once, each migrating first as the chart's pods do
        list(pool.map(RegistryProcess.start, servers))
    proxy = RoundRobin([server.port for server in servers])

    def sql(statement: str) -> int:
        return int(postgres.psql(statement, database=database).strip())

    try:
        # Migrated once: every revision by one of them, none by the other; the schema at head.
        ran = sorted((migrations_run(server) for server in servers), key=len)
        revisions = len(
            list(migrate.ScriptDirectory.from_config(migrate.alembic_config(database_url)).walk_revisions())
        )
        assert (len(ran[0]), len(ran[1])) == (0, revisions), ran
        assert migrate.current_revision(database_url) == migrate.head_revision()

        # Embedded once: pushes spread over both; each segment embedded by exactly one of them.
        with httpx.Client(base_url=proxy.url, headers={"Authorization": f"Bearer {token}", "Connection": "close"}) as c:
            subscribe(c, receiver.url, ["transcript.created"])
            for n in range(40):
                segments = [
                    {"start": i, "end": i + 1, "text": f"push {n} segment {i}"} for i in range(SEGMENTS_PER_PUSH)
                ]
                response = c.post("/v1/transcripts", json={"job_id": str(uuid.uuid4()), "segments": segments})
                assert response.status_code == 201, response.text
        assert all(proxy.connections[server.port] >= 10 for server in servers), proxy.connections
        wait(lambda: sql("SELECT count(*) FROM segments WHERE embedding IS NULL") == 0, "every segment embedded")
        assert sum(embedded(server) for server in servers) == sql("SELECT count(*) FROM segments") == 120

        # A write stream through the proxy; replica a crashes mid-stream and is started again.
        ledger, stop = Ledger(), threading.Event()
        threads = [
            threading.Thread(target=client_loop, args=(proxy.url, token, ledger, stop, i, True), daemon=True)
            for i in range(CLIENTS)
        ]
        for thread in threads:
            thread.start()
        time.sleep(STREAM_SECONDS / 3)
        crashed = servers[0]
        assert crashed._process is not None
        crashed._process.kill()
        crashed.stop()
        crashed.start()
        time.sleep(STREAM_SECONDS / 3)
        stop.set()
        for thread in threads:
            thread.join(60)
        total = sum(ledger.statuses.values())
        print(
            f"replica stream: {total} requests, statuses {dict(sorted(ledger.statuses.items()))}, "
            f"connections {dict(proxy.connections)}"
        )
        unanswered = [line for line in ledger.bad if "no answer" in line]
        assert ledger.bad == unanswered, ledger.bad[:10]  # no 5xx, no refusal without Retry-After
        assert len(unanswered) <= CLIENTS  # only what was in flight on the crashed replica (one per client)
        assert total >= 100

        with httpx.Client(base_url=proxy.url, headers={"Authorization": f"Bearer {token}"}, timeout=30) as admin:
            transcripts = check_stored(admin, ledger)["push"]

        # Every stored transcript's webhook arrives; no delivery is sent twice with the same attempt number.
        def delivered() -> set[str]:
            return {json.loads(body)["data"]["job_id"] for _, body in receiver.received}

        wait(lambda: transcripts <= delivered(), "every transcript's webhook delivered")
        sends = Counter((headers["DHG-Delivery"], headers["DHG-Attempt"]) for headers, _ in receiver.received)
        assert max(sends.values()) == 1, [key for key, count in sends.items() if count > 1][:5]
        again = Counter(headers["DHG-Delivery"] for headers, _ in receiver.received)
        print(f"{len(again)} deliveries, {sum(1 for c in again.values() if c > 1)} sent again after the crash")
        wait(lambda: sql("SELECT count(*) FROM segments WHERE embedding IS NULL") == 0, "every segment embedded")
    finally:
        proxy.close()
        receiver.close()
        for server in servers:
            server.stop()
