"""The CPU images, built once per session with buildah (python -m images.build's own code), and working containers
of them. Building needs root (buildah's vfs storage) and the Debian base (mmdebstrap, kept in .cache/images)."""

from __future__ import annotations

import os
import secrets
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from dhg.postgres import EmbeddedPostgres, free_port
from images import build
from tests.images.buildah import Container

UID = 10001  # the chart's runAsUser, runAsGroup and fsGroup


@pytest.fixture(scope="session")
def built_images() -> dict[str, build.Built]:
    if os.geteuid() != 0 or shutil.which("buildah") is None or shutil.which("mmdebstrap") is None:
        pytest.fail("building images needs root, buildah and mmdebstrap (make system-packages installs them)")
    built = build.build_images(build.DEFAULT_IMAGES)
    report = build.report(built)
    (build.CACHE / "sizes.txt").write_text(report + "\n")
    print("\n" + report)
    return {item.image.name: item for item in built}


@pytest.fixture(scope="session")
def containers(built_images: dict[str, build.Built]) -> Iterator[dict[str, Container]]:
    made = {name: Container.create(item.tag) for name, item in built_images.items()}
    yield made
    for container in made.values():
        container.remove()


@dataclass
class ImageRegistry:
    url: str
    admin_token: str
    worker_token: str


@pytest.fixture(scope="session")
def registry_from_image(
    containers: dict[str, Container], postgres: EmbeddedPostgres, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ImageRegistry]:
    """The Registry image migrated (as the chart's init container does) and serving, on the test PostgreSQL."""
    container = containers["registry"]
    database = postgres.create_database("image_registry")
    admin_token, worker_token = secrets.token_hex(16), secrets.token_hex(16)
    env = {
        "DHG_REGISTRY_DATABASE_URL": database,
        "DHG_REGISTRY_ADMIN_TOKEN": admin_token,
        "DHG_REGISTRY_SERVICE_TOKENS__WORKER": worker_token,
        "DHG_REGISTRY_WEBHOOK_ALLOW_PRIVATE": "false",
    }
    migrated = container.run("dhg-registry", "migrate", env=env)
    assert migrated.returncode == 0, migrated.stderr
    assert "schema at" in migrated.stdout
    port = free_port()
    log = tmp_path_factory.mktemp("registry-image") / "serve.log"
    command = ("dhg-registry", "serve", "--host", "127.0.0.1", "--port", str(port), "--no-migrate-first")
    process = container.start(*command, env=env, log=log)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    try:
        while True:
            assert process.poll() is None, f"the Registry image exited: {log.read_text()}"
            try:
                if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, f"/readyz never answered 200: {log.read_text()}"
            time.sleep(0.5)
        yield ImageRegistry(url, admin_token, worker_token)
    finally:
        Container.stop(process)


@pytest.fixture(scope="session")
def samples() -> Path:
    return Path(__file__).resolve().parents[2] / "dhg" / "samples"
