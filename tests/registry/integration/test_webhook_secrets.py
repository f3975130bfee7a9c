"""Webhook signing secrets at rest (issue 17, class 7): sealed under the Registry's key, never in the database in
clear; rows from before sealing, and rows sealed under a key being rotated out, are re-sealed at start; deliveries
are signed with the secret all along; a secret no configured key opens fails its delivery, saying why."""

from __future__ import annotations

import uuid

import psycopg

from dhg.postgres import free_port
from registry.pg import conninfo
from registry.webhooks.signing import verify
from tests.conftest import start_registry
from tests.registry.integration.test_webhooks import Receiver, wait_for

SECRET = "a-subscribers-own-signing-secret-" + uuid.uuid4().hex


def stored_secrets(database_url: str) -> list[str]:
    with psycopg.connect(conninfo(database_url)) as connection:
        return [row[0] for row in connection.execute("SELECT secret FROM webhooks")]


def deliver_one(server, receiver: Receiver) -> bytes:
    """A job created now: the receiver's next delivery, its signature checked against SECRET."""
    before = len(receiver.received)
    with server.client(server.admin_token) as admin:
        admin.post("/v1/jobs", json={"source": {"url": "https://example.org/a.wav"}})
    wait_for(lambda: len(receiver.received) > before)
    headers, body = receiver.received[-1]
    assert verify(SECRET, headers["DHG-Signature"], body), "the delivery is not signed with the subscriber's secret"
    return body


def test_secrets_are_sealed_at_rest_resealed_on_rotation_and_still_sign(postgres, tmp_path) -> None:
    database = postgres.create_database(f"sealing_{uuid.uuid4().hex[:8]}")
    receiver = Receiver(free_port())
    port = free_port()
    settings = {"embeddings": "off", "port": port}
    try:
        clear = start_registry(database, tmp_path / "m", webhook_secret_key=None, **settings)  # no key yet
        try:
            with clear.client(clear.admin_token) as admin:
                body = {"url": receiver.url, "events": ["job.created"], "secret": SECRET}
                created = admin.post("/v1/webhooks", json=body)
                assert created.status_code == 201 and created.json()["secret"] == SECRET
            assert stored_secrets(database) == [SECRET]  # in clear: what a deployment without a key gets
            deliver_one(clear, receiver)
        finally:
            clear.stop()

        first = start_registry(database, tmp_path / "m", webhook_secret_key="key-one-" + "1" * 40, **settings)
        try:
            (sealed,) = stored_secrets(database)
            assert sealed.startswith("fernet:") and SECRET not in sealed  # sealed at start
            deliver_one(first, receiver)
            with first.client(first.admin_token) as admin:
                other = admin.post("/v1/webhooks", json={"url": receiver.url, "events": ["asset.created"]}).json()
            assert other["secret"] not in " ".join(stored_secrets(database))  # new ones sealed from the start
        finally:
            first.stop()

        rotated = start_registry(
            database, tmp_path / "m", webhook_secret_key="key-two-" + "2" * 40,
            webhook_previous_secret_keys=["key-one-" + "1" * 40], **settings,
        )  # fmt: skip
        try:
            resealed = stored_secrets(database)
            assert sealed not in resealed and all(value.startswith("fernet:") for value in resealed)
            deliver_one(rotated, receiver)
        finally:
            rotated.stop()

        lost = start_registry(database, tmp_path / "m", webhook_secret_key="key-three-" + "3" * 40, **settings)
        try:
            with lost.client(lost.admin_token) as admin:
                hook_id = next(
                    h["id"] for h in admin.get("/v1/webhooks").json()["items"] if h["events"] == ["job.created"]
                )
                before = len(receiver.received)
                admin.post("/v1/jobs", json={"source": {"url": "https://example.org/a.wav"}})

                def failed_attempt():
                    items = admin.get(f"/v1/webhooks/{hook_id}/deliveries", params={"limit": 500}).json()["items"]
                    return any("cannot be opened" in (d.get("last_error") or "") for d in items)

                wait_for(failed_attempt)
            assert len(receiver.received) == before  # nothing unsigned or wrongly signed went out
        finally:
            lost.stop()
    finally:
        receiver.close()
