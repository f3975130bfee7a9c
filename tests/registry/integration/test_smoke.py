import uuid


def test_transcript_roundtrip(writer, reader):
    job = str(uuid.uuid4())
    body = {"job_id": job, "language": "en", "segments": [{"start": 0, "end": 1.5, "text": " Hello world."}]}
    r = writer.post("/v1/transcripts", json=body)
    assert r.status_code == 201, r.text
    tid = r.json()["id"]
    r = reader.get(f"/v1/transcripts/{tid}")
    assert r.status_code == 200, r.text
    assert r.json()["text"] == "Hello world."
