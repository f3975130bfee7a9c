"""Webhooks under the address policy (issue 17, class 3): subscriptions to loopback, private, link-local (cloud
metadata) targets and names resolving to them are refused unless the settings allow their network, and the
dispatcher checks again when it delivers, never connecting to a refused address."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from dhg.postgres import free_port
from dhg_core.egress import AddressPolicy, guarded_async_client
from registry.webhooks.dispatcher import Claimed, send
from tests.conftest import start_registry
from tests.registry.integration.test_webhooks import Receiver, subscribe, wait_for

INTERNAL = [
    "http://127.0.0.2:8080/hook",  # loopback outside the tests' allow-list (127.0.0.1/32)
    "http://10.0.0.7/hook",
    "http://192.168.1.1/hook",
    "http://172.20.0.1/hook",
    "http://169.254.169.254/latest/meta-data/",
    "http://[::1]/hook",
    "http://[fd00::1]/hook",
    "http://[::ffff:169.254.169.254]/hook",
    "http://0.0.0.0/hook",
    "http://100.100.100.200/latest/meta-data/",  # a cloud's metadata in carrier-grade NAT space
]


@pytest.mark.parametrize("url", INTERNAL)
def test_a_subscription_to_an_internal_address_is_refused_and_not_stored(admin, url) -> None:
    before = admin.get("/v1/webhooks").json()["total"]
    response = admin.post("/v1/webhooks", json={"url": url, "events": ["job.created"]})
    assert response.status_code == 422, response.text
    assert "address policy" in response.json()["detail"]
    assert admin.get("/v1/webhooks").json()["total"] == before


def test_names_are_resolved_and_the_settings_open_what_they_name(postgres, tmp_path) -> None:
    strict = start_registry(
        postgres.create_database(f"egress_{uuid.uuid4().hex[:8]}"), tmp_path / "a", embeddings="off",
        webhook_allowed_networks=[],
    )  # fmt: skip
    try:
        with strict.client(strict.admin_token) as admin:
            for url in ("http://localhost:9/hook", "http://127.0.0.1:9/hook"):
                assert admin.post("/v1/webhooks", json={"url": url, "events": ["job.created"]}).status_code == 422
    finally:
        strict.stop()
    private = start_registry(
        postgres.create_database(f"egress_{uuid.uuid4().hex[:8]}"), tmp_path / "b", embeddings="off",
        webhook_allow_private=True,
    )  # fmt: skip
    try:
        with private.client(private.admin_token) as admin:
            opened = admin.post("/v1/webhooks", json={"url": "http://10.0.0.7/hook", "events": ["job.created"]})
            assert opened.status_code == 201, opened.text
            metadata = {"url": "http://169.254.169.254/", "events": ["job.created"]}
            assert admin.post("/v1/webhooks", json=metadata).status_code == 422  # never, short of naming it
    finally:
        private.stop()


def test_the_dispatcher_never_connects_to_a_refused_address() -> None:
    receiver = Receiver(free_port())
    claimed = Claimed(uuid.uuid4(), 1, "job.created", {"event": "job.created"}, receiver.url, "k" * 32)

    async def deliver(policy: AddressPolicy):
        async with guarded_async_client(policy, timeout=5) as client:
            return await send(client, claimed)

    try:
        status, error, _ = asyncio.run(deliver(AddressPolicy()))
        assert status is None and error is not None and "address policy" in error and "loopback" in error
        assert receiver.received == []
        status, error, _ = asyncio.run(deliver(AddressPolicy.of(allowed_networks=["127.0.0.1/32"])))
        assert (status, error) == (204, None)
        wait_for(lambda: len(receiver.received) == 1)
    finally:
        receiver.close()


def test_an_allowed_subscriber_still_gets_its_deliveries(admin, writer) -> None:
    receiver = Receiver(free_port())
    try:
        subscribe(admin, receiver.url, ["job.created"])
        writer.post("/v1/jobs", json={"source": {"url": "https://example.org/a.wav"}})
        wait_for(lambda: len(receiver.received) >= 1)
    finally:
        receiver.close()
