"""The address policy (dhg_core/egress.py) over real sockets: what it refuses, what an allow-list opens, redirects
into a refused address, names that resolve to one, and both the sync and async clients."""

from __future__ import annotations

import asyncio
import http.server
import threading
from collections.abc import Iterator

import pytest

from dhg_core.egress import AddressPolicy, Blocked, guarded_async_client, guarded_client

REFUSED = ["127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "100.64.0.1", "0.0.0.0",
           "::1", "fe80::1", "fd00::1", "::ffff:127.0.0.1", "::ffff:169.254.169.254", "224.0.0.1", "::", "fe80::1%eth0",
           "192.0.2.1", "240.0.0.1", "255.255.255.255"]  # fmt: skip
PUBLIC = ["93.184.216.34", "1.1.1.1", "2606:4700:4700::1111", "::ffff:8.8.8.8"]


@pytest.mark.parametrize("address", REFUSED)
def test_internal_addresses_are_refused_by_default(address) -> None:
    assert AddressPolicy().refusal(address) is not None


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_are_allowed(address) -> None:
    assert AddressPolicy().refusal(address) is None


def test_the_allow_list_and_allow_private_open_what_they_name_and_no_more() -> None:
    listed = AddressPolicy.of(allowed_networks=["10.0.0.0/8", "127.0.0.1"])
    assert listed.refusal("10.9.9.9") is None and listed.refusal("127.0.0.1") is None
    assert listed.refusal("127.0.0.2") is not None and listed.refusal("169.254.169.254") is not None
    private = AddressPolicy.of(allow_private=True)
    assert private.refusal("192.168.0.1") is None and private.refusal("::1") is None
    assert private.refusal("0.0.0.0") is not None and private.refusal("224.0.0.1") is not None
    assert private.refusal("169.254.169.254") is not None and private.refusal("fe80::1") is not None  # metadata
    assert AddressPolicy.of(allowed_networks=["169.254.0.0/16"]).refusal("169.254.169.254") is None  # if named
    assert "link-local" in (AddressPolicy().refusal("169.254.169.254") or "")


class Handler(http.server.BaseHTTPRequestHandler):
    redirect_to = ""

    def do_GET(self) -> None:
        if self.path == "/redirect":
            self.send_response(302)
            self.send_header("Location", self.redirect_to)
            self.end_headers()
            return
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"internal secret")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def servers() -> Iterator[tuple[str, str]]:
    """One server on 127.0.0.1 and one on 127.0.0.2 (both loopback; Linux answers the whole 127/8)."""
    started = []
    for host in ("127.0.0.1", "127.0.0.2"):
        server = http.server.ThreadingHTTPServer((host, 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        started.append(server)
    first, second = (f"http://{s.server_address[0]}:{s.server_address[1]}" for s in started)
    Handler.redirect_to = f"{second}/secret"
    yield first, second
    for server in started:
        server.shutdown()


def test_the_client_refuses_internal_targets_names_and_redirects_into_them(servers) -> None:
    first, _ = servers
    with guarded_client(AddressPolicy()) as client, pytest.raises(Blocked, match="loopback"):
        client.get(f"{first}/secret")
    port = first.rsplit(":", 1)[1]
    with guarded_client(AddressPolicy()) as client, pytest.raises(Blocked, match="localhost resolves to"):
        client.get(f"http://localhost:{port}/secret")
    only_first = AddressPolicy.of(allowed_networks=["127.0.0.1/32"])
    with guarded_client(only_first, follow_redirects=True) as client:
        assert client.get(f"{first}/secret").text == "internal secret"  # allowed by the list
        with pytest.raises(Blocked, match=r"127\.0\.0\.2"):
            client.get(f"{first}/redirect")  # the hop into 127.0.0.2 is refused before it connects
    both = AddressPolicy.of(allowed_networks=["127.0.0.0/8"])
    with guarded_client(both, follow_redirects=True) as client:
        assert client.get(f"{first}/redirect").text == "internal secret"  # the same hop, allowed


def test_the_async_client_obeys_the_same_policy(servers) -> None:
    first, _ = servers

    async def fetch(policy: AddressPolicy) -> str:
        async with guarded_async_client(policy, follow_redirects=True) as client:
            return (await client.get(f"{first}/redirect")).text

    with pytest.raises(Blocked):
        asyncio.run(fetch(AddressPolicy()))
    with pytest.raises(Blocked, match=r"127\.0\.0\.2"):
        asyncio.run(fetch(AddressPolicy.of(allowed_networks=["127.0.0.1/32"])))
    assert asyncio.run(fetch(AddressPolicy.of(allow_private=True))) == "internal secret"
