"""Speakers in the Registry: stored per segment and per word, rendered in every format, listed with their talk time,
and a search filter; a transcript without speakers stays as it was."""

from __future__ import annotations

import uuid

SEGMENTS = [
    {
        "start": 0.0,
        "end": 2.5,
        "text": " Could you send me the report?",
        "speaker": "A",
        "words": [
            {"start": 0.0, "end": 0.4, "word": " Could", "probability": 0.9, "speaker": "A"},
            {"start": 0.4, "end": 2.5, "word": " you", "probability": 0.9, "speaker": "A"},
        ],
    },
    {"start": 3.0, "end": 4.0, "text": " Of course, Alice.", "speaker": "Bob <the & boss>"},
    {"start": 4.5, "end": 9.0, "text": " The quarterly figures are in it.", "speaker": "A"},
]


def push(client, segments=SEGMENTS):
    body = {"job_id": str(uuid.uuid4()), "language": "en", "segments": segments}
    response = client.post("/v1/transcripts", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def test_speakers_are_stored_per_segment_and_word(writer, reader):
    created = push(writer)
    assert [s["speaker"] for s in created["segments"]] == ["A", "Bob <the & boss>", "A"]  # the push's answer
    stored = reader.get(f"/v1/transcripts/{created['id']}").json()  # the database's own rendering
    assert [s["speaker"] for s in stored["segments"]] == ["A", "Bob <the & boss>", "A"]
    assert stored["segments"][0]["words"][0]["speaker"] == "A"


def test_every_format_carries_the_speaker(writer, reader):
    created = push(writer)
    path = f"/v1/transcripts/{created['id']}"
    text = reader.get(path, params={"format": "text"}).text
    assert text.splitlines()[:2] == ["[A] Could you send me the report?", "[Bob <the & boss>] Of course, Alice."]
    srt = reader.get(path, params={"format": "srt"}).text
    assert "00:00:03,000 --> 00:00:04,000\n[Bob <the & boss>] Of course, Alice." in srt
    vtt = reader.get(path, params={"format": "vtt"}).text
    assert "<v A>Could you send me the report?" in vtt
    assert "<v Bob &lt;the &amp; boss&gt;>Of course, Alice." in vtt  # escaped: no tag opened by a name
    tsv = reader.get(path, params={"format": "tsv"}).text.splitlines()
    assert tsv[0] == "start\tend\tspeaker\ttext" and tsv[1] == "0\t2500\tA\tCould you send me the report?"


def test_a_transcript_without_speakers_renders_as_before(writer, reader):
    created = push(writer, [{"start": 0.0, "end": 1.0, "text": " Hello."}])
    path = f"/v1/transcripts/{created['id']}"
    assert reader.get(path).json()["segments"][0]["speaker"] is None
    assert reader.get(path, params={"format": "tsv"}).text == "start\tend\ttext\n0\t1000\tHello.\n"
    assert reader.get(path, params={"format": "text"}).text == "Hello.\n"
    assert reader.get(f"{path}/speakers").json() == {"transcript_id": created["id"], "items": []}


def test_speakers_are_listed_with_their_talk_time(writer, reader):
    created = push(writer)
    listed = reader.get(f"/v1/transcripts/{created['id']}/speakers").json()
    assert listed["items"] == [
        {"speaker": "A", "talk_seconds": 7.0, "segments": 2, "first_start": 0.0},
        {"speaker": "Bob <the & boss>", "talk_seconds": 1.0, "segments": 1, "first_start": 3.0},
    ]
    missing = reader.get(f"/v1/transcripts/{uuid.uuid4()}/speakers")
    assert missing.status_code == 404 and missing.headers["content-type"] == "application/problem+json"


def test_search_filters_by_speaker(writer, reader):
    created = push(writer)
    params = {"q": "report or figures or course", "mode": "fulltext", "transcript_id": created["id"]}
    everyone = reader.get("/v1/search", params=params).json()["items"]
    assert {hit["speaker"] for hit in everyone} == {"A", "Bob <the & boss>"}
    only_a = reader.get("/v1/search", params={**params, "speaker": "A"}).json()
    assert only_a["items"] and {hit["speaker"] for hit in only_a["items"]} == {"A"}


def test_a_speaker_name_is_bounded(writer):
    too_long = [{"start": 0.0, "end": 1.0, "text": "x", "speaker": "x" * 65}]
    response = writer.post("/v1/transcripts", json={"job_id": str(uuid.uuid4()), "segments": too_long})
    assert response.status_code == 422
    empty = [{"start": 0.0, "end": 1.0, "text": "x", "speaker": ""}]
    assert writer.post("/v1/transcripts", json={"job_id": str(uuid.uuid4()), "segments": empty}).status_code == 422
