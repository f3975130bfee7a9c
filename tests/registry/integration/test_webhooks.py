"""Webhooks: signed deliveries to a real HTTP receiver, retried from the durable outbox until it is up."""

import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from dhg.postgres import free_port
from registry.webhooks.signing import verify


class Receiver:
    """A real subscriber on loopback that records what it gets; `fail_next` makes it answer 500."""

    def __init__(self, port):
        self.port, self.received, self.fail_next = port, [], 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if receiver.fail_next:
                    receiver.fail_next -= 1
                    self.send_response(500)
                else:
                    receiver.received.append((dict(self.headers), body))
                    self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}/hook"


def wait_for(predicate, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def subscribe(admin, url, events):
    response = admin.post("/v1/webhooks", json={"url": url, "events": events})
    assert response.status_code == 201, response.text
    return response.json()


@pytest.fixture
def receiver():
    r = Receiver(free_port())
    yield r
    r.close()


def test_deliveries_are_signed_and_carry_event_and_delivery_ids(admin, writer, receiver):
    hook = subscribe(admin, receiver.url, ["transcript.created"])
    assert len(hook["secret"]) >= 32
    assert "secret" not in admin.get(f"/v1/webhooks/{hook['id']}").json()
    job_id = str(uuid.uuid4())
    created = writer.post(
        "/v1/transcripts", json={"job_id": job_id, "segments": [{"start": 0, "end": 1, "text": "hi"}]}
    ).json()
    wait_for(lambda: any(json.loads(b)["data"]["job_id"] == job_id for _, b in receiver.received))
    headers, body = next((h, b) for h, b in receiver.received if json.loads(b)["data"]["job_id"] == job_id)
    assert headers["DHG-Event"] == "transcript.created"
    assert verify(hook["secret"], headers["DHG-Signature"], body)
    assert not verify("wrong-secret-wrong-secret", headers["DHG-Signature"], body)
    payload = json.loads(body)
    assert payload["type"] == "transcript.created" and payload["id"] == headers["DHG-Delivery"]
    assert payload["data"] == {"transcript_id": created["id"], "job_id": job_id, "asset_id": None}
    admin.delete(f"/v1/webhooks/{hook['id']}")


def test_only_subscribed_events_are_delivered(admin, writer, receiver):
    hook = subscribe(admin, receiver.url, ["job.failed"])
    job = writer.post("/v1/jobs", json={"source": {"path": "/a.wav"}}).json()
    writer.patch(f"/v1/jobs/{job['id']}", json={"phase": "Running"})
    writer.patch(f"/v1/jobs/{job['id']}", json={"phase": "Failed", "error": "bad audio"})
    wait_for(lambda: len(receiver.received) >= 1)
    time.sleep(0.5)
    events = [h["DHG-Event"] for h, _ in receiver.received]
    assert events == ["job.failed"]
    assert json.loads(receiver.received[0][1])["data"]["error"] == "bad audio"
    admin.delete(f"/v1/webhooks/{hook['id']}")


def test_a_subscriber_that_is_down_misses_nothing(admin, writer):
    port = free_port()
    hook = subscribe(admin, f"http://127.0.0.1:{port}/hook", ["transcript.created"])
    job_ids = [str(uuid.uuid4()) for _ in range(5)]
    for job_id in job_ids:
        writer.post("/v1/transcripts", json={"job_id": job_id, "segments": []})

    def failed_attempts():
        deliveries = admin.get(f"/v1/webhooks/{hook['id']}/deliveries").json()["items"]
        return len(deliveries) == 5 and all(d["attempts"] >= 2 and d["state"] == "pending" for d in deliveries)

    wait_for(failed_attempts)
    delivery = admin.get(f"/v1/webhooks/{hook['id']}/deliveries").json()["items"][0]
    attempts = admin.get(f"/v1/webhooks/{hook['id']}/deliveries/{delivery['id']}/attempts").json()
    assert attempts[0]["attempt"] == 1 and attempts[0]["status_code"] is None and "Connect" in attempts[0]["error"]

    receiver = Receiver(port)
    receiver.fail_next = 2  # it comes back unhealthy at first: 500s are retried too
    try:
        wait_for(lambda: len(receiver.received) == 5, timeout=60)
        got = sorted(json.loads(b)["data"]["job_id"] for _, b in receiver.received)
        assert got == sorted(job_ids)
        wait_for(
            lambda: (
                admin.get(f"/v1/webhooks/{hook['id']}/deliveries", params={"state": "delivered"}).json()["total"] == 5
            )
        )
        statuses = [
            a["status_code"]
            for d in admin.get(f"/v1/webhooks/{hook['id']}/deliveries").json()["items"]
            for a in admin.get(f"/v1/webhooks/{hook['id']}/deliveries/{d['id']}/attempts").json()
        ]
        assert statuses.count(500) == 2 and statuses.count(204) == 5
    finally:
        receiver.close()
        admin.delete(f"/v1/webhooks/{hook['id']}")


def test_webhook_urls_and_events_are_validated(admin):
    assert admin.post("/v1/webhooks", json={"url": "not a url", "events": ["job.failed"]}).status_code == 422
    assert admin.post("/v1/webhooks", json={"url": "http://127.0.0.1/x", "events": ["job.exploded"]}).status_code == 422
    assert admin.post("/v1/webhooks", json={"url": "http://127.0.0.1/x", "events": []}).status_code == 422
    assert admin.delete(f"/v1/webhooks/{uuid.uuid4()}").status_code == 404


def test_a_delivery_that_keeps_failing_ends_dead_after_the_last_attempt(postgres, tmp_path):
    from tests.conftest import start_registry

    server = start_registry(
        postgres.create_database(f"dead_{uuid.uuid4().hex[:8]}"), tmp_path, embeddings="off", webhook_max_attempts=3
    )
    try:
        with server.client(server.admin_token) as admin:
            hook = subscribe(admin, f"http://127.0.0.1:{free_port()}/gone", ["job.created"])
            admin.post("/v1/jobs", json={"source": {"path": "/a.wav"}})
            wait_for(
                lambda: (
                    admin.get(f"/v1/webhooks/{hook['id']}/deliveries", params={"state": "dead"}).json()["total"] == 1
                )
            )
            delivery = admin.get(f"/v1/webhooks/{hook['id']}/deliveries").json()["items"][0]
            assert delivery["attempts"] == 3 and delivery["last_error"]
            attempts = admin.get(f"/v1/webhooks/{hook['id']}/deliveries/{delivery['id']}/attempts").json()
            assert [a["attempt"] for a in attempts] == [1, 2, 3]
    finally:
        server.stop()


def test_a_change_that_queues_deliveries_wakes_the_dispatcher_before_its_poll(postgres, tmp_path, receiver):
    """With a one-minute poll, deliveries of a push (one statement) and of a job (the ORM path) arrive in
    seconds: the request that queued them woke the dispatcher."""
    from tests.conftest import start_registry

    server = start_registry(
        postgres.create_database(f"wake_{uuid.uuid4().hex[:8]}"), tmp_path, embeddings="off", webhook_poll_seconds=60
    )
    try:
        with server.client(server.admin_token) as admin:
            time.sleep(0.5)  # the dispatcher's first round (at start) is over: it now waits for its poll
            subscribe(admin, receiver.url, ["transcript.created", "job.created"])
            started = time.monotonic()
            job_id = str(uuid.uuid4())
            admin.post("/v1/transcripts", json={"job_id": job_id, "segments": [{"start": 0, "end": 1, "text": "hi"}]})
            wait_for(lambda: len(receiver.received) == 1, timeout=20)
            admin.post("/v1/jobs", json={"source": {"path": "/a.wav"}})
            wait_for(lambda: len(receiver.received) == 2, timeout=20)
            assert time.monotonic() - started < 20
            assert [json.loads(body)["type"] for _, body in receiver.received] == ["transcript.created", "job.created"]
    finally:
        server.stop()


async def test_a_push_asks_to_wake_the_dispatcher_only_when_it_queued_deliveries(registry, admin, receiver):
    """Every write used to wake the dispatcher, which then ran a locking claim query for nothing."""
    import psycopg

    from dhg_contract.schemas import TranscriptIn
    from registry import pg, wakeup
    from registry.store import transcripts

    async def push_and_collect(connection):
        wanted, token = wakeup.collect()
        try:
            body = TranscriptIn(job_id=uuid.uuid4(), segments=[{"start": 0, "end": 1, "text": "hello"}])
            await transcripts.push(connection, body=body, actor="t", request_id=None, method="POST", path="/")
        finally:
            wakeup.reset(token)
        return wanted

    for hook in admin.get("/v1/webhooks", params={"limit": 500}).json()["items"]:
        admin.delete(f"/v1/webhooks/{hook['id']}")
    async with await psycopg.AsyncConnection.connect(
        pg.conninfo(registry.settings.database_url), autocommit=True
    ) as connection:
        assert await push_and_collect(connection) == {"embeddings"}
        hook = subscribe(admin, receiver.url, ["transcript.created"])
        try:
            assert await push_and_collect(connection) == {"embeddings", "webhooks"}
        finally:
            admin.delete(f"/v1/webhooks/{hook['id']}")
