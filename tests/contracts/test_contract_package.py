"""The wire contract (`dhg_contract`: the API's models and its client) stands alone: it imports nothing of the
Registry's server, and both clients are made from its one table of calls, so they offer the same calls."""

from __future__ import annotations

import inspect
import subprocess
import sys

from dhg_contract import calls
from dhg_contract.client import AsyncRegistryClient, RegistryClient
from tests.contracts.test_imports import BLOCKER, DATABASE, HTTP_SERVER, KUBERNETES, WHISPER


def _table() -> set[str]:
    return {
        name
        for name, function in inspect.getmembers(calls, inspect.isfunction)
        if function.__module__ == calls.__name__
        and not name.startswith("_")
        and inspect.signature(function).return_annotation.startswith("Call[")
    }


def test_both_clients_offer_every_call_of_the_table_with_its_signature() -> None:
    table = _table()
    assert {"get_transcript", "push_transcript", "create_job", "search", "upload_asset"} <= table
    for client in (RegistryClient, AsyncRegistryClient):
        missing = [name for name in table if not hasattr(client, name)]
        assert not missing, (client.__name__, missing)
    for name in table - {"upload_asset"}:  # the clients take a path or bytes and make the file part themselves
        expected = inspect.signature(getattr(calls, name))
        for client in (RegistryClient, AsyncRegistryClient):
            made = inspect.signature(getattr(client, name))
            assert list(made.parameters) == list(expected.parameters), (client.__name__, name)
    assert inspect.iscoroutinefunction(AsyncRegistryClient.get_job)
    assert not inspect.iscoroutinefunction(RegistryClient.get_job)


def test_the_contract_imports_without_the_registry_server() -> None:
    blocked = (*DATABASE, *WHISPER, *KUBERNETES, *HTTP_SERVER, "registry", "asr", "controller", "dhg.cli")
    result = subprocess.run(
        [sys.executable, "-c", BLOCKER, "dhg_contract.client,dhg_contract.schemas", ",".join(blocked)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr.strip().splitlines()[-3:]
