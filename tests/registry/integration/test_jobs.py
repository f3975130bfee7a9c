"""Job records: idempotent creation by id, phase transitions, timings, the transcript link."""

import uuid

import pytest


def new_job(client, **extra):
    body = {
        "name": "default/tj-test",
        "source": {"url": "https://media.example.org/talk.wav"},
        "parameters": {"model": "tiny.en", "device": "auto"},
        **extra,
    }
    return client.post("/v1/jobs", json=body)


def test_create_and_read_a_job(writer, reader):
    response = new_job(writer)
    assert response.status_code == 201, response.text
    job = reader.get(response.headers["location"]).json()
    assert job["phase"] == "Pending" and job["attempts"] == 0
    assert job["source"] == {"url": "https://media.example.org/talk.wav"}
    assert job["parameters"]["model"] == "tiny.en"


def test_creating_a_job_with_a_known_id_returns_the_stored_one(writer):
    job_id = str(uuid.uuid4())
    first = new_job(writer, id=job_id)
    second = new_job(writer, id=job_id)  # a retry: the same name, source and parameters
    assert (first.status_code, second.status_code) == (201, 200)
    assert second.json() == first.json()


def test_a_job_can_be_created_where_it_stands_in_one_call(writer, reader):
    running = new_job(writer, phase="Running", device="gpu", attempts=1)
    assert running.status_code == 201, running.text
    job = reader.get(running.headers["location"]).json()
    assert (job["phase"], job["device"], job["attempts"]) == ("Running", "gpu", 1)
    assert job["started_at"] == job["created_at"] and job["finished_at"] is None  # started as it was created
    transcript_id, started = str(uuid.uuid4()), "2026-11-25T07:00:00Z"
    done = new_job(writer, phase="Succeeded", device="cpu", transcript_id=transcript_id, started_at=started).json()
    assert (done["phase"], done["transcript_id"], done["started_at"]) == ("Succeeded", transcript_id, started)
    assert done["finished_at"] == done["created_at"]  # finished as it was created, as an update would stamp it
    reopened = writer.patch(f"/v1/jobs/{done['id']}", json={"phase": "Running"})
    assert reopened.status_code == 409  # created finished, it stays finished
    assert new_job(writer, phase="Exploded").status_code == 422 and new_job(writer, attempts=-1).status_code == 422


def test_creating_a_job_again_in_another_phase_returns_it_unchanged(writer):
    job_id = str(uuid.uuid4())
    first = new_job(writer, id=job_id, phase="Scheduling", device="cpu", attempts=1).json()
    replay = new_job(writer, id=job_id, phase="Running", device="cpu", attempts=1)
    assert replay.status_code == 200 and replay.json() == first and first["phase"] == "Scheduling"


@pytest.mark.parametrize(
    ("change", "differs"),
    [
        ({"name": "another"}, ["name"]),
        ({"source": {"url": "https://example.com/other.wav"}}, ["source"]),
        ({"parameters": {"model": "base"}}, ["parameters"]),
    ],
)
def test_creating_a_job_again_with_other_content_is_refused_and_changes_nothing(writer, reader, change, differs):
    job_id = str(uuid.uuid4())
    first = new_job(writer, id=job_id).json()
    refused = new_job(writer, id=job_id, **change)
    assert refused.status_code == 409, refused.text
    problem = refused.json()
    assert problem["type"].endswith("/idempotency-mismatch") and problem["differs"] == differs
    assert problem["stored"]["href"] == f"/v1/jobs/{job_id}" and job_id in problem["detail"]
    assert reader.get(f"/v1/jobs/{job_id}").json() == first


def test_a_job_created_finished_is_announced_as_finished(admin, writer):
    hook = admin.post("/v1/webhooks", json={"url": "http://127.0.0.1:9/hook", "events": ["job.succeeded"]}).json()
    try:
        job = new_job(writer, phase="Succeeded", device="cpu").json()
        deliveries = admin.get(f"/v1/webhooks/{hook['id']}/deliveries").json()["items"]
        assert [(d["event"], d["payload"]["data"]["id"]) for d in deliveries] == [("job.succeeded", job["id"])]
    finally:
        admin.delete(f"/v1/webhooks/{hook['id']}")


def test_phases_move_forward_and_record_times(writer):
    job = new_job(writer).json()
    running = writer.patch(f"/v1/jobs/{job['id']}", json={"phase": "Running", "device": "gpu", "attempts": 1})
    assert running.status_code == 200
    assert running.json()["started_at"] is not None and running.json()["finished_at"] is None
    done = writer.patch(f"/v1/jobs/{job['id']}", json={"phase": "Succeeded"}).json()
    assert done["finished_at"] >= done["started_at"] and done["device"] == "gpu"
    again = writer.patch(f"/v1/jobs/{job['id']}", json={"phase": "Succeeded"})
    assert again.status_code == 200 and again.json()["updated_at"] == done["updated_at"]


def test_a_finished_job_cannot_be_reopened(writer, reader):
    job = new_job(writer).json()
    writer.patch(f"/v1/jobs/{job['id']}", json={"phase": "Cancelled"})
    response = writer.patch(f"/v1/jobs/{job['id']}", json={"phase": "Running"})
    assert response.status_code == 409
    assert response.json()["type"].endswith("/invalid-transition") and response.json()["current_phase"] == "Cancelled"
    assert reader.get(f"/v1/jobs/{job['id']}").json()["phase"] == "Cancelled"


def test_a_failed_job_keeps_its_error(writer):
    job = new_job(writer).json()
    failed = writer.patch(f"/v1/jobs/{job['id']}", json={"phase": "Failed", "error": "source not found: 404"})
    assert failed.json()["error"] == "source not found: 404"


def test_pushing_the_transcript_links_it_to_its_job(writer, reader):
    job = new_job(writer).json()
    transcript = writer.post(
        "/v1/transcripts", json={"job_id": job["id"], "segments": [{"start": 0, "end": 1, "text": "linked"}]}
    ).json()
    assert reader.get(f"/v1/jobs/{job['id']}").json()["transcript_id"] == transcript["id"]


def test_bad_job_requests_are_problems(writer):
    two_sources = writer.post("/v1/jobs", json={"source": {"url": "https://x.org/a.wav", "path": "/a.wav"}})
    assert two_sources.status_code == 422
    bad_phase = writer.patch(f"/v1/jobs/{uuid.uuid4()}", json={"phase": "Exploded"})
    assert bad_phase.status_code == 422
    missing = writer.patch(f"/v1/jobs/{uuid.uuid4()}", json={"phase": "Running"})
    assert missing.status_code == 404


def test_jobs_list_by_phase(writer, reader):
    name = f"ns/{uuid.uuid4().hex[:8]}"
    ids = [new_job(writer, name=name).json()["id"] for _ in range(3)]
    writer.patch(f"/v1/jobs/{ids[0]}", json={"phase": "Running"})
    running = reader.get("/v1/jobs", params={"name": name, "phase": "Running"}).json()
    assert running["total"] == 1 and running["items"][0]["id"] == ids[0]
    assert reader.get("/v1/jobs", params={"name": name}).json()["total"] == 3
