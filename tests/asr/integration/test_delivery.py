"""Results reach the Registry exactly once, even when it is down and the ASR process restarts meanwhile."""

import time
import uuid

import httpx

from tests.asr.service import SAMPLE, start_asr
from tests.conftest import start_registry


def wait_for(predicate, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError("condition not met in time")


def test_registry_down_then_up_gives_exactly_one_transcript(postgres, tmp_path):
    database = postgres.create_database(f"delivery_{uuid.uuid4().hex[:8]}")
    registry = start_registry(database, tmp_path / "media", embeddings="off")
    port, admin_token = int(registry.url.rsplit(":", 1)[1]), registry.admin_token
    registry.stop()

    outbox = tmp_path / "outbox"
    settings = {
        "outbox_dir": outbox,
        "registry_url": registry.url,
        "registry_token": admin_token,
        "outbox_retry_base_seconds": 0.2,
        "outbox_retry_max_seconds": 1.0,
    }
    asr = start_asr(**settings)
    job_id = str(uuid.uuid4())
    try:
        for _ in range(2):  # the client retries too: still one result per job id
            response = httpx.post(
                f"{asr.url}/v1/audio/transcriptions",
                headers={"X-DHG-Job-ID": job_id},
                files={"file": ("s.opus", SAMPLE.read_bytes(), "audio/ogg")},
                timeout=120,
            )
            assert response.status_code == 200 and response.headers["x-dhg-job-id"] == job_id
        time.sleep(1.0)
        assert [p.name for p in outbox.glob("*.json")] == [f"{job_id}.json"]
        metrics = httpx.get(f"{asr.url}/metrics/").text
        assert "dhg_asr_outbox_depth 1.0" in metrics
        assert 'dhg_asr_delivery_failures_total{kind="transient"}' in metrics
    finally:
        asr.stop()

    restarted = start_asr(**settings)  # a new process finds the result on disk
    registry = start_registry(database, tmp_path / "media", port=port, admin_token=admin_token, embeddings="off")
    try:
        wait_for(lambda: not list(outbox.glob("*.json")))
        with registry.client(registry.admin_token) as admin:
            found = admin.get("/v1/transcripts", params={"job_id": job_id}).json()
            assert found["total"] == 1
            transcript = admin.get(f"/v1/transcripts/{found['items'][0]['id']}").json()
        assert "Dashwood" in transcript["text"] and transcript["engine"] == "faster-whisper"
        assert transcript["model"] == "tiny.en" and transcript["device"] == "cpu" and transcript["segments"]
        assert list((outbox / "dead").iterdir()) == []
    finally:
        restarted.stop()
        registry.stop()


def test_a_result_the_registry_rejects_is_set_aside_with_its_reason(tmp_path, registry, admin):
    from asr.outbox import Deliverer, Outbox
    from dhg_contract.client import RegistryClient
    from dhg_contract.schemas import SegmentIn, TranscriptIn

    outbox = Outbox(tmp_path / "outbox")
    bad = TranscriptIn(job_id=uuid.uuid4(), asset_id=uuid.uuid4(), segments=[SegmentIn(start=0, end=1, text="x")])
    outbox.put(bad)
    corrupt = outbox.directory / f"{uuid.uuid4()}.json"
    corrupt.write_text("{not json")
    good = TranscriptIn(job_id=uuid.uuid4(), segments=[SegmentIn(start=0, end=1, text="fine")])
    outbox.put(good)
    deliverer = Deliverer(outbox, lambda: RegistryClient(registry.url, registry.admin_token))
    report = deliverer.deliver_pending()
    assert (report.delivered, report.dead, report.failed) == (1, 2, 0)
    assert outbox.pending() == []
    assert set(deliverer.stored) == {good.job_id} and set(deliverer.refused) == {bad.job_id}
    assert admin.get(f"/v1/transcripts/{deliverer.stored[good.job_id]}").json()["job_id"] == str(good.job_id)
    reason = (outbox.dead_directory / f"{bad.job_id}.reason.txt").read_text()
    assert "422" in reason and "does not exist" in reason
    assert "unreadable" in (outbox.dead_directory / f"{corrupt.stem}.reason.txt").read_text()


def test_a_wrong_token_keeps_results_waiting_instead_of_dropping_them(tmp_path, registry):
    from asr.outbox import Deliverer, Outbox
    from dhg_contract.client import RegistryClient
    from dhg_contract.schemas import TranscriptIn

    outbox = Outbox(tmp_path / "outbox")
    outbox.put(TranscriptIn(job_id=uuid.uuid4(), segments=[]))
    report = Deliverer(outbox, lambda: RegistryClient(registry.url, "dhg_wrong")).deliver_pending()
    assert (report.delivered, report.dead, report.failed) == (0, 0, 1)
    assert len(outbox.pending()) == 1


def test_an_outbox_whose_disk_is_full_answers_503_and_nothing_it_answered_is_lost(registry, tmp_path):
    """The outbox's disk full (issue 17): the kernel's own ENOSPC, from /dev/full behind the entry's temporary
    file. The answer is a 503 with Retry-After saying nothing was kept, no partial entry stays, nothing reaches
    the Registry; once the disk takes writes again, the same request is stored once."""
    import json
    import os
    import subprocess
    import sys

    outbox = tmp_path / "outbox"
    asr = start_asr(outbox_dir=outbox, registry_url=registry.url, registry_token=registry.admin_token)
    job_id = str(uuid.uuid4())
    full = outbox / f"{job_id}.tmp"
    os.symlink("/dev/full", full)
    try:

        def transcribe():
            return httpx.post(
                f"{asr.url}/v1/audio/transcriptions",
                headers={"X-DHG-Job-ID": job_id},
                files={"file": ("s.opus", SAMPLE.read_bytes(), "audio/ogg")},
                timeout=120,
            )

        refused = transcribe()
        assert refused.status_code == 503 and int(refused.headers["retry-after"]) > 0, refused.text
        assert (
            "No space left on device" in refused.json()["detail"] and "nothing was stored" in refused.json()["detail"]
        )
        assert not full.exists() and list(outbox.glob("*.json")) == []
        with registry.client(registry.admin_token) as admin:
            assert admin.get("/v1/transcripts", params={"job_id": job_id}).json()["total"] == 0
        assert 'dhg_asr_delivery_failures_total{kind="outbox"} 1.0' in httpx.get(f"{asr.url}/metrics/").text
        assert transcribe().status_code == 200  # the disk takes writes again
        with registry.client(registry.admin_token) as admin:
            wait_for(lambda: admin.get("/v1/transcripts", params={"job_id": job_id}).json()["total"] == 1)
    finally:
        asr.stop()

    worker_job = str(uuid.uuid4())  # the worker: a transient failure (exit 75), retried by its controller
    os.symlink("/dev/full", outbox / f"{worker_job}.tmp")
    result = subprocess.run(
        [sys.executable, "-m", "asr.worker", "--job-id", worker_job, "--path", str(SAMPLE)],
        env={**os.environ, "DHG_ASR_REGISTRY_URL": registry.url, "DHG_ASR_REGISTRY_TOKEN": registry.admin_token,
             "DHG_ASR_OUTBOX_DIR": str(outbox), "DHG_ASR_WORKER_ALLOWED_ROOTS": json.dumps([str(SAMPLE.parent)]),
             "DHG_ASR_TERMINATION_LOG": str(tmp_path / "termination")},
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert result.returncode == 75 and summary["reason"] == "Transient", (result.returncode, summary)
    assert "No space left on device" in summary["message"]


def test_the_registry_killed_during_a_stream_of_deliveries_gets_each_result_later_and_once(postgres, tmp_path):
    """Issue 17's fault: the Registry process dies with SIGKILL while the ASR service delivers a stream of results.
    Every transcription the ASR service answered 200 for waits in its outbox and reaches the restarted Registry
    exactly once; nothing is set aside."""
    import os
    import signal
    import subprocess
    import sys

    from dhg.postgres import free_port

    port, token = free_port(), "test-admin-" + uuid.uuid4().hex
    env = {
        **os.environ,
        "DHG_REGISTRY_DATABASE_URL": postgres.create_database(f"killed_{uuid.uuid4().hex[:8]}"),
        "DHG_REGISTRY_STORAGE_DIR": str(tmp_path / "media"),
        "DHG_REGISTRY_ADMIN_TOKEN": token,
        "DHG_REGISTRY_EMBEDDINGS": "off",
    }
    url = f"http://127.0.0.1:{port}"

    def start_registry_process() -> subprocess.Popen:
        log = (tmp_path / "registry.log").open("a")
        process = subprocess.Popen(
            [sys.executable, "-m", "registry", "serve", "--port", str(port)], env=env, stdout=log, stderr=log
        )
        wait_for(lambda: _ready(url), timeout=120)
        return process

    registry = start_registry_process()
    outbox = tmp_path / "outbox"
    asr = start_asr(outbox_dir=outbox, registry_url=url, registry_token=token,
                    outbox_retry_base_seconds=0.2, outbox_retry_max_seconds=1.0)  # fmt: skip
    answered: list[str] = []
    try:
        for index in range(6):
            if index == 2:
                registry.send_signal(signal.SIGKILL)  # while the first results are being pushed
                registry.wait(timeout=30)
            job_id = str(uuid.uuid4())
            response = httpx.post(
                f"{asr.url}/v1/audio/transcriptions",
                headers={"X-DHG-Job-ID": job_id},
                files={"file": ("s.opus", SAMPLE.read_bytes(), "audio/ogg")},
                timeout=120,
            )
            assert response.status_code == 200, response.text
            answered.append(job_id)
        assert list(outbox.glob("*.json")), "nothing waited for the Registry: it was not down"
        registry = start_registry_process()
        wait_for(lambda: not list(outbox.glob("*.json")), timeout=120)
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30) as admin:
            counts = {job: admin.get("/v1/transcripts", params={"job_id": job}).json()["total"] for job in answered}
        assert counts == dict.fromkeys(answered, 1), counts
        assert list((outbox / "dead").iterdir()) == []
    finally:
        asr.stop()
        registry.send_signal(signal.SIGTERM)
        registry.wait(timeout=30)


def _ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/readyz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False
