"""`dhg-registry token ...` works straight against the database; tokens it makes work over HTTP."""

import os
import subprocess
import sys


def registry_cli(registry, *args):
    env = {**os.environ, "DHG_REGISTRY_DATABASE_URL": registry.settings.database_url}
    return subprocess.run(
        [sys.executable, "-m", "registry", *args], env=env, capture_output=True, text=True, timeout=120
    )


def test_token_create_use_and_revoke_from_the_command_line(registry, admin):
    created = registry_cli(registry, "token", "create", "ci-bot", "--scope", "read")
    assert created.returncode == 0, created.stderr
    token = created.stdout.strip()
    token_id = created.stderr.split("id:")[1].split()[0]
    with registry.client(token) as client:
        assert client.get("/v1/transcripts").status_code == 200
        assert client.post("/v1/jobs", json={"source": {"path": "/a.wav"}}).status_code == 403
    listed = registry_cli(registry, "token", "list")
    assert token_id in listed.stdout and "ci-bot" in listed.stdout and token not in listed.stdout
    assert registry_cli(registry, "token", "revoke", token_id).returncode == 0
    with registry.client(token) as client:
        assert client.get("/v1/transcripts").status_code == 401
    entries = admin.get("/v1/audit", params={"entity_id": token_id}).json()["items"]
    assert [e["action"] for e in entries] == ["token.revoke", "token.create"]
    assert all(e["actor"].startswith("cli:") and e["method"] == "CLI" for e in entries)


def test_bad_cli_input_is_a_one_line_error(registry):
    result = registry_cli(registry, "token", "create", "x", "--scope", "superuser")
    assert result.returncode == 2 and result.stderr.strip().splitlines() == [
        "error: unknown scope superuser; choose from read, ingest, write, admin"
    ]
    result = registry_cli(registry, "token", "revoke", "not-an-id")
    assert result.returncode == 2 and result.stderr.strip() == "error: not a token id: 'not-an-id'"
