"""Media assets in S3-compatible object storage (a real SeaweedFS on loopback): multipart upload, ranged
download, sha256 de-duplication, delete and its race with a re-upload, bounded memory, and the S3 server's
failures as problems."""

import hashlib
import struct
import time
import uuid

import httpx
import pytest

from bench.registry.s3 import start_s3_server
from registry.storage import key_for
from tests.conftest import start_registry
from tests.registry.integration.media import sine_wav
from tests.registry.integration.test_assets import delete_while_reuploading, registry_process, round_trip_peak, upload

PREFIX = "registry"


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory):
    server = start_s3_server(tmp_path_factory.mktemp("s3"))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def s3_registry(postgres, s3_server, tmp_path_factory):
    """A Registry whose media live in a bucket of their own, under a key prefix."""
    bucket = s3_server.create_bucket("media")
    server = start_registry(
        postgres.create_database(f"s3_{uuid.uuid4().hex[:8]}"),
        tmp_path_factory.mktemp("unused-media"),
        embeddings="off",
        **s3_server.registry_settings(bucket, prefix=PREFIX),
    )
    yield server
    server.stop()


@pytest.fixture
def admin_s3(s3_registry):
    with s3_registry.client(s3_registry.admin_token) as client:
        yield client


def object_key(sha256: str) -> str:
    return f"{PREFIX}/{key_for(sha256)}"


def test_an_upload_is_one_object_under_the_prefix_and_its_metadata_is_kept(admin_s3, s3_server):
    data = sine_wav(0.75, frequency=431.0)
    response = upload(admin_s3, data, filename="tone.wav")
    assert response.status_code == 201, response.text
    asset = response.json()
    assert asset["sha256"] == hashlib.sha256(data).hexdigest() and asset["size_bytes"] == len(data)
    assert object_key(asset["sha256"]) in s3_server.keys("media")
    fetched = admin_s3.get(f"/v1/assets/{asset['id']}").json()
    assert fetched["filename"] == "tone.wav" and fetched["content_type"].startswith("audio/")
    assert fetched["duration_seconds"] == pytest.approx(0.75, abs=0.01)


def test_identical_bytes_are_one_object(admin_s3, s3_server):
    data = sine_wav(0.5, frequency=517.0)
    first, second = upload(admin_s3, data, filename="a.wav"), upload(admin_s3, data, filename="b.wav")
    assert (first.status_code, second.status_code) == (201, 200)
    assert second.headers["location"] == f"/v1/assets/{first.json()['id']}"
    sha = first.json()["sha256"]
    assert [key for key in s3_server.keys("media") if sha in key] == [object_key(sha)]


def test_a_download_streams_the_object_whole_or_by_range(admin_s3):
    data = sine_wav(0.3, frequency=707.0)
    asset = upload(admin_s3, data, filename="range.wav").json()
    url = f"/v1/assets/{asset['id']}/content"
    whole = admin_s3.get(url)
    assert whole.status_code == 200 and whole.content == data
    assert whole.headers["etag"] == f'"{asset["sha256"]}"' and whole.headers["accept-ranges"] == "bytes"
    assert whole.headers["content-length"] == str(len(data)) and "range.wav" in whole.headers["content-disposition"]
    for asked, start, end in [
        ("bytes=10-19", 10, 20),
        ("bytes=-5", len(data) - 5, len(data)),
        ("bytes=100-", 100, None),
    ]:
        part = admin_s3.get(url, headers={"Range": asked})
        assert part.status_code == 206 and part.content == data[start:end], asked
        last = (end or len(data)) - 1
        assert part.headers["content-range"] == f"bytes {start}-{last}/{len(data)}", asked
    past = admin_s3.get(url, headers={"Range": f"bytes={len(data)}-"})
    assert past.status_code == 416 and past.headers["content-range"] == f"bytes */{len(data)}"
    assert past.json()["type"].endswith("range-not-satisfiable")
    assert admin_s3.get(url, headers={"Range": "bytes=0-1,5-9"}).content == data  # several ranges: all of it


def test_a_delete_removes_the_object(admin_s3, s3_server):
    asset = upload(admin_s3, sine_wav(0.2, frequency=809.0)).json()
    assert object_key(asset["sha256"]) in s3_server.keys("media")
    assert admin_s3.delete(f"/v1/assets/{asset['id']}").status_code == 204
    assert object_key(asset["sha256"]) not in s3_server.keys("media")
    assert admin_s3.get(f"/v1/assets/{asset['id']}/content").status_code == 404


def test_an_object_deleted_behind_the_registrys_back_is_a_clear_problem(admin_s3, s3_server):
    asset = upload(admin_s3, sine_wav(0.25, frequency=1013.0)).json()
    s3_server.client().delete_object(Bucket="media", Key=object_key(asset["sha256"]))
    response = admin_s3.get(f"/v1/assets/{asset['id']}/content")
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"].endswith("content-missing")
    assert admin_s3.get(f"/v1/assets/{asset['id']}").status_code == 200


def test_an_upload_during_a_delete_of_the_same_bytes_keeps_its_object(postgres, s3_server, tmp_path):
    """The S3 twin of the local race test: two Registries on one database and one bucket; while one deletes an
    asset's object, the other receives the same bytes again. The new asset must keep its object."""
    bucket = s3_server.create_bucket(f"race-{uuid.uuid4().hex[:8]}")
    database_url = postgres.create_database(f"s3race_{uuid.uuid4().hex[:8]}")
    settings = s3_server.registry_settings(bucket) | {"embeddings": "off"}
    deleting = start_registry(database_url, tmp_path / "a", **settings)
    uploading = start_registry(database_url, tmp_path / "b", admin_token=deleting.admin_token, **settings)
    data = sine_wav(0.4, frequency=919.0)
    try:
        first, _ = delete_while_reuploading(deleting, uploading, data)
        assert s3_server.keys(bucket) == [key_for(first["sha256"])]
    finally:
        uploading.stop()
        deleting.stop()


def test_a_large_upload_is_a_multipart_upload_and_memory_stays_bounded(postgres, s3_server, tmp_path, monkeypatch):
    """64 MiB up (in parts) and down through a Registry process: its peak memory grows by far less."""
    size = 64 * 1024**2
    header = sine_wav(0.0)[:44]
    path = tmp_path / "long.wav"
    with path.open("wb") as handle:
        handle.write(header[:40] + struct.pack("<I", size - 44))
        handle.truncate(size)
    bucket = s3_server.create_bucket(f"big-{uuid.uuid4().hex[:8]}")
    for name, value in s3_server.registry_settings(bucket).items():
        monkeypatch.setenv(f"DHG_REGISTRY_{name.upper()}", str(value))  # read by the Registry process
    with registry_process(postgres.create_database(f"s3big_{uuid.uuid4().hex[:8]}"), tmp_path / "media") as (
        pid,
        client,
    ):
        asset, sha256, grown_mib = round_trip_peak(pid, client, path)
    assert asset["size_bytes"] == size and sha256 == asset["sha256"]
    assert grown_mib < 32, f"peak memory grew by {grown_mib:.0f} MiB for a {size // 1024**2} MiB file"
    etag = s3_server.client().head_object(Bucket=bucket, Key=key_for(asset["sha256"]))["ETag"]
    assert etag.strip('"').endswith("-8"), f"not an upload in 8 parts of 8 MiB: ETag {etag}"
    assert not list((tmp_path / "media").glob("**/*"))  # nothing staged in the (unused) media folder


def test_readiness_reports_the_bucket(postgres, s3_server, tmp_path):
    s3_server.create_bucket("ready")
    database_url = postgres.create_database(f"s3ready_{uuid.uuid4().hex[:8]}")
    settings = s3_server.registry_settings("ready") | {"embeddings": "off"}
    wrong = {"s3_bucket": "no-such-bucket"}, {"s3_secret_access_key": "not-the-secret"}
    for overrides, status in [({}, 200), *((each, 503) for each in wrong)]:
        server = start_registry(database_url, tmp_path, **(settings | overrides))
        try:
            response = httpx.get(f"{server.url}/readyz")
            assert response.status_code == status, (overrides, response.text)
            if status == 503:
                assert response.json()["type"].endswith("/unavailable")
        finally:
            server.stop()


def test_a_stopped_s3_server_is_a_503_problem_not_a_crash(postgres, tmp_path):
    """The S3 server goes away: downloads, uploads and readiness answer 503 problems, and no asset is half made."""
    own = start_s3_server(tmp_path / "s3")
    try:
        bucket = own.create_bucket("media")
        server = start_registry(
            postgres.create_database(f"s3gone_{uuid.uuid4().hex[:8]}"),
            tmp_path / "media",
            embeddings="off",
            **own.registry_settings(bucket),
        )
    except BaseException:
        own.stop()
        raise
    try:
        with server.client(server.admin_token) as client:
            asset = upload(client, sine_wav(0.2, frequency=1201.0)).json()
            own.stop()
            started = time.monotonic()
            for response in (
                client.get(f"/v1/assets/{asset['id']}/content"),
                upload(client, sine_wav(0.2, frequency=1301.0)),
                client.get("/readyz"),
            ):
                assert response.status_code == 503, response.text
                assert response.headers["content-type"] == "application/problem+json"
                assert response.json()["type"].endswith("/unavailable")
            assert time.monotonic() - started < 30, "the S3 client waited too long on a dead server"
            assert client.get("/v1/assets").json()["total"] == 1
    finally:
        server.stop()
