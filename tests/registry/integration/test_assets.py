"""Media assets over real HTTP: streamed upload, sha256 de-duplication, download, delete, refusals."""

import contextlib
import hashlib
import os
import struct
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from dhg.postgres import free_port
from registry.resources import resources_of
from registry.storage import key_for
from tests.conftest import start_registry
from tests.registry.integration.media import sine_wav


def upload(client, data, filename="tone.wav", content_type="audio/wav"):
    return client.post("/v1/assets", files={"file": (filename, data, content_type)})


def test_upload_stores_hash_size_type_and_duration(writer):
    data = sine_wav(1.25, frequency=523.0)
    response = upload(writer, data)
    assert response.status_code == 201, response.text
    asset = response.json()
    assert asset["sha256"] == hashlib.sha256(data).hexdigest()
    assert asset["size_bytes"] == len(data)
    assert asset["content_type"].startswith("audio/")
    assert asset["filename"] == "tone.wav"
    assert asset["duration_seconds"] == pytest.approx(1.25, abs=0.01)


def test_identical_bytes_are_stored_once(writer, reader):
    data = sine_wav(0.5, frequency=611.0)
    first = upload(writer, data, filename="a.wav")
    second = upload(writer, data, filename="b.wav")
    assert (first.status_code, second.status_code) == (201, 200)
    assert second.json()["id"] == first.json()["id"]
    assert second.headers["location"] == f"/v1/assets/{first.json()['id']}"
    sha = first.json()["sha256"]
    listed = reader.get("/v1/assets", params={"limit": 500}).json()["items"]
    assert sum(1 for a in listed if a["sha256"] == sha) == 1


def test_download_returns_the_same_bytes_and_honours_ranges(writer, reader):
    data = sine_wav(0.3, frequency=700.0)
    asset = upload(writer, data).json()
    whole = reader.get(f"/v1/assets/{asset['id']}/content")
    assert whole.status_code == 200 and whole.content == data
    assert whole.headers["etag"] == f'"{asset["sha256"]}"'
    part = reader.get(f"/v1/assets/{asset['id']}/content", headers={"Range": "bytes=10-19"})
    assert part.status_code == 206 and part.content == data[10:20]


def test_delete_removes_metadata_and_bytes(writer, reader):
    asset = upload(writer, sine_wav(0.2, frequency=800.0)).json()
    assert writer.delete(f"/v1/assets/{asset['id']}").status_code == 204
    assert reader.get(f"/v1/assets/{asset['id']}").status_code == 404
    assert reader.get(f"/v1/assets/{asset['id']}/content").status_code == 404
    assert writer.delete(f"/v1/assets/{asset['id']}").status_code == 404
    again = upload(writer, sine_wav(0.2, frequency=800.0))
    assert again.status_code == 201 and again.json()["id"] != asset["id"]
    assert reader.get(f"/v1/assets/{again.json()['id']}/content").status_code == 200


@pytest.mark.parametrize(
    ("files", "status", "slug"),
    [
        ({"file": ("notes.txt", b"just some text, not audio", "text/plain")}, 415, "unsupported-media-type"),
        ({"file": ("empty.wav", b"", "audio/wav")}, 422, "validation"),
        ({"other": ("x.wav", b"RIFF", "audio/wav")}, 422, "validation"),
    ],
)
def test_bad_uploads_get_problem_details(writer, files, status, slug):
    response = writer.post("/v1/assets", files=files)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"].endswith(slug)


def test_a_non_multipart_upload_is_refused(writer):
    response = writer.post("/v1/assets", content=b"raw", headers={"Content-Type": "audio/wav"})
    assert response.status_code == 415
    assert response.json()["type"].endswith("unsupported-media-type")


def test_uploads_over_the_limit_are_refused_and_leave_nothing_behind(postgres, tmp_path):
    server = start_registry(
        postgres.create_database(f"small_{uuid.uuid4().hex[:8]}"),
        tmp_path / "media",
        embeddings="off",
        max_upload_bytes=4000,
    )
    try:
        with server.client(server.admin_token) as admin:
            response = upload(admin, sine_wav(1.0))
            assert response.status_code == 413, response.text
            assert response.json()["type"].endswith("too-large")
            assert admin.get("/v1/assets").json()["total"] == 0
            assert upload(admin, sine_wav(0.05)).status_code == 201
        assert list((tmp_path / "media" / ".staging").iterdir()) == []
    finally:
        server.stop()


class StorageGate:
    """A storage whose `method` waits (blocking its server, as a slow disk or network would) until the test opens
    the gate."""

    def __init__(self, storage, method):
        self._storage = storage
        self._method = method
        self.entered = threading.Event()
        self.gate = threading.Event()

    def _paused(self, *args):
        self.entered.set()
        assert self.gate.wait(30), "the test never opened the gate"
        return getattr(self._storage, self._method)(*args)

    def __getattr__(self, name):
        return self._paused if name == self._method else getattr(self._storage, name)


def delete_while_reuploading(deleting, uploading, data):
    """`deleting` deletes the asset of `data` while `uploading` receives the same bytes again (the delete paused
    inside the storage meanwhile); the new asset must keep its bytes. Returns (the first asset, the second)."""
    resources = resources_of(deleting.app)
    gate = StorageGate(resources.storage, "delete")
    resources.storage = gate
    try:
        with deleting.client(deleting.admin_token) as a, uploading.client(uploading.admin_token) as b:
            first = upload(a, data).json()
            with ThreadPoolExecutor(2) as pool:
                deleted = pool.submit(a.delete, f"/v1/assets/{first['id']}")
                assert gate.entered.wait(30)
                again = pool.submit(upload, b, data)
                time.sleep(1.0)  # the upload has had its chance to run to the end
                gate.gate.set()
                assert deleted.result(30).status_code == 204
                second = again.result(30)
            assert second.status_code == 201, second.text
            content = b.get(f"/v1/assets/{second.json()['id']}/content")
            assert content.status_code == 200 and content.content == data
            return first, second.json()
    finally:
        gate.gate.set()


def test_an_upload_during_a_delete_of_the_same_bytes_keeps_its_bytes(postgres, tmp_path):
    """Two Registry processes on one database and one media store: while one deletes an asset's bytes, the other
    receives the same bytes again. The new asset must keep them (the delete must not remove what was re-stored)."""
    database_url = postgres.create_database(f"race_{uuid.uuid4().hex[:8]}")
    deleting = start_registry(database_url, tmp_path / "media", embeddings="off")
    uploading = start_registry(database_url, tmp_path / "media", embeddings="off", admin_token=deleting.admin_token)
    data = sine_wav(0.4, frequency=915.0)
    try:
        first, second = delete_while_reuploading(deleting, uploading, data)
        assert second["id"] != first["id"]
    finally:
        uploading.stop()
        deleting.stop()


def test_an_upload_holds_no_database_connection_while_its_bytes_are_stored(postgres, tmp_path):
    """The bytes go to the storage before the transaction that records them: on a pool of one connection, while an
    upload's bytes are being stored (paused inside the storage), no connection is checked out and other requests
    that need the database are answered; once stored, the upload completes."""
    database_url = postgres.create_database(f"pool_{uuid.uuid4().hex[:8]}")
    server = start_registry(database_url, tmp_path / "media", embeddings="off", db_pool_size=1, db_max_overflow=0)
    resources = resources_of(server.app)
    gate = StorageGate(resources.storage, "put_file")
    resources.storage = gate
    data = sine_wav(0.6, frequency=389.0)
    threading_pool = ThreadPoolExecutor(1)
    try:
        with server.client(server.admin_token) as uploader, server.client(server.admin_token) as client:
            uploaded = threading_pool.submit(upload, uploader, data)
            assert gate.entered.wait(30)
            # The Registry's background loops (gauges, webhooks) take the one connection now and then, briefly; an
            # upload holding it would hold it until its bytes are stored (the gate stays shut meanwhile).
            deadline = time.monotonic() + 15
            while resources.engine.pool.checkedout():
                assert time.monotonic() < deadline, "a connection stayed checked out while the bytes were stored"
                time.sleep(0.01)
            listed = client.get("/v1/assets", timeout=15)
            assert listed.status_code == 200 and listed.json()["total"] == 0  # not recorded before it is stored
            gate.gate.set()
            response = uploaded.result(30)
            assert response.status_code == 201, response.text
            content = client.get(f"/v1/assets/{response.json()['id']}/content")
            assert content.status_code == 200 and content.content == data
    finally:
        gate.gate.set()
        threading_pool.shutdown()
        server.stop()


def test_bytes_lost_behind_the_registrys_back_are_a_clear_problem(registry, writer, reader):
    asset = upload(writer, sine_wav(0.25, frequency=1015.0)).json()
    (registry.settings.storage_dir / key_for(asset["sha256"])).unlink()
    response = reader.get(f"/v1/assets/{asset['id']}/content")
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"].endswith("content-missing")
    assert reader.get(f"/v1/assets/{asset['id']}").status_code == 200  # the metadata is still there


def _memory_kib(pid, field):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} in /proc/{pid}/status")


@contextlib.contextmanager
def registry_process(database_url, storage_dir):
    """`dhg-registry serve` in a process of its own (embeddings off), so its memory is the Registry's alone."""
    port, token = free_port(), "test-admin-" + uuid.uuid4().hex
    environment = {
        **os.environ,
        "DHG_REGISTRY_DATABASE_URL": database_url,
        "DHG_REGISTRY_STORAGE_DIR": str(storage_dir),
        "DHG_REGISTRY_ADMIN_TOKEN": token,
        "DHG_REGISTRY_EMBEDDINGS": "off",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "registry", "serve", "--port", str(port)],
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, "the Registry exited"
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                    break
            assert time.monotonic() < deadline, "the Registry did not get ready"
            time.sleep(0.1)
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=120) as client:
            yield process.pid, client
    finally:
        process.terminate()
        process.wait(timeout=30)


def round_trip_peak(pid, client, path):
    """Upload `path`, download it back; returns (the asset, the downloaded bytes' sha256, MiB the Registry process
    `pid` grew by at its peak meanwhile)."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")  # reset the peak (VmHWM) to the current size
    before = _memory_kib(pid, "VmRSS")
    with path.open("rb") as handle:
        response = client.post("/v1/assets", files={"file": (path.name, handle, "audio/wav")})
    assert response.status_code == 201, response.text
    asset = response.json()
    digest = hashlib.sha256()
    with client.stream("GET", f"/v1/assets/{asset['id']}/content") as download:
        for chunk in download.iter_bytes():
            digest.update(chunk)
    return asset, digest.hexdigest(), (_memory_kib(pid, "VmHWM") - before) / 1024


def test_a_large_upload_and_its_download_are_streamed_not_held_in_memory(postgres, tmp_path):
    """256 MiB up and down through a Registry process: its peak memory grows by far less than the file."""
    size = 256 * 1024**2
    header = sine_wav(0.0)[:44]  # a WAV header; the samples that follow are silence
    path = tmp_path / "long.wav"
    with path.open("wb") as handle:
        handle.write(header[:40] + struct.pack("<I", size - 44))
        handle.truncate(size)
    database_url = postgres.create_database(f"big_{uuid.uuid4().hex[:8]}")
    with registry_process(database_url, tmp_path / "media") as (pid, client):
        asset, sha256, grown_mib = round_trip_peak(pid, client, path)
    assert asset["size_bytes"] == size and sha256 == asset["sha256"]
    assert grown_mib < 64, f"peak memory grew by {grown_mib:.0f} MiB for a {size // 1024**2} MiB file"


def test_bytes_an_upload_is_storing_are_not_removed_as_unclaimed_until_it_records_them(registry):
    """The claim an upload takes before storing its bytes outside any transaction: while it lives, a delete of the
    same bytes (or a failed upload of them) keeps them; a claim older than CLAIM_SECONDS (its upload died) does not."""
    import asyncio
    from datetime import timedelta

    from sqlalchemy import func, update

    from registry.db import make_engine, make_sessionmaker
    from registry.models import AssetUpload
    from registry.store import assets

    sha256 = hashlib.sha256(uuid.uuid4().bytes).hexdigest()

    async def check():
        engine = make_engine(registry.settings)
        sessions = make_sessionmaker(engine)
        try:
            async with sessions() as session, session.begin():
                assert await assets.unclaimed(session, sha256=sha256)
                claim = await assets.claim_bytes(session, sha256=sha256)
            async with sessions() as session, session.begin():
                assert not await assets.unclaimed(session, sha256=sha256)
                dead = func.now() - timedelta(seconds=assets.CLAIM_SECONDS + 60)
                await session.execute(update(AssetUpload).where(AssetUpload.id == claim).values(started_at=dead))
                assert await assets.unclaimed(session, sha256=sha256)
                other = await assets.claim_bytes(session, sha256=sha256)  # and the dead claim goes
                assert not await assets.unclaimed(session, sha256=sha256)
                await assets.release_claim(session, claim=other)
                assert await assets.unclaimed(session, sha256=sha256)
                assert await session.get(AssetUpload, claim) is None
        finally:
            await engine.dispose()

    asyncio.run(check())
