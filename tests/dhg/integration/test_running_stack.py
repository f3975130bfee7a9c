"""A second `dhg up`, serving on the first run's data dir, and the commands that talk to it: status, search,
transcribe, token create/list/revoke; then a killed run cleaned up by the next, and SIGTERM."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx
import numpy as np
import pytest

from asr.diarization import evaluation
from asr.evaluation import word_error_rate
from dhg.datadir import read_asr_api_key, read_state
from dhg.sample import REFERENCE_TEXT, SAMPLE_PATH, sample_job_id
from tests.asr.integration.test_service import wav_bytes
from tests.dhg.integration.conftest import FirstRun, ServingStack
from tests.dhg.runner import (
    MAX_WORD_ERROR_RATE,
    assert_one_line_error,
    assert_sample_transcribed,
    free_ports,
    printed_transcript,
    run_dhg,
    search_hits,
)

DELIVERY_TIMEOUT_SECONDS = 20


def test_a_second_run_keeps_the_token_and_stores_the_transcript_once(
    serving_stack: ServingStack, first_run: FirstRun
) -> None:
    output = serving_stack.output()
    assert "already stored (same sha256)" in output and "stored once" in output
    assert_sample_transcribed(output)
    assert "(fulltext search)" in output  # embeddings off: no waiting for semantic search
    token = serving_stack.admin_token
    assert token in first_run.result.stdout
    job_id = sample_job_id(hashlib.sha256(SAMPLE_PATH.read_bytes()).hexdigest())
    with httpx.Client(base_url=serving_stack.url, headers={"Authorization": f"Bearer {token}"}) as registry:
        stored = registry.get("/v1/transcripts", params={"job_id": str(job_id)}).json()
        job = registry.get(f"/v1/jobs/{job_id}").json()
    assert stored["total"] == 1, stored
    assert job["phase"] == "Succeeded" and job["transcript_id"] == stored["items"][0]["id"]


def test_status_reports_a_ready_stack(serving_stack: ServingStack) -> None:
    result = run_dhg("status", "--data-dir", serving_stack.data_dir.root)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{serving_stack.url}: ready" in result.stdout
    assert f"{serving_stack.asr_url}: ready (base" in result.stdout  # the multilingual default
    assert str(serving_stack.data_dir.root) in result.stdout


def test_models_lists_what_the_local_service_serves(serving_stack: ServingStack) -> None:
    table = run_dhg("models", "--data-dir", serving_stack.data_dir.root)
    assert table.returncode == 0, table.stdout + table.stderr
    rows = {line.split()[0]: line for line in table.stdout.splitlines()[1:] if line.strip()}
    assert set(rows) == {"base", "tiny.en"}, table.stdout
    assert "(default)" in rows["base"] and "99 languages" in rows["base"] and "transcribe, translate" in rows["base"]
    assert "whisper-1" in rows["base"] and "yes (cpu)" in rows["base"]
    assert "English only" in rows["tiny.en"] and "150 MB" in rows["base"]
    listed = run_dhg("models", "-o", "json", "--data-dir", serving_stack.data_dir.root)
    assert [card["id"] for card in json.loads(listed.stdout)] == ["base", "tiny.en"]
    wrong = run_dhg("models", "-o", "yaml", "--data-dir", serving_stack.data_dir.root)
    assert_one_line_error(wrong, "--output is table or json")


def test_search_finds_the_sample_transcript(serving_stack: ServingStack) -> None:
    result = run_dhg("search", "a selfish young man", "--data-dir", serving_stack.data_dir.root)
    assert result.returncode == 0, result.stdout + result.stderr
    hits = search_hits(result.stdout)  # full text: any of the words, the segments with most of them first
    assert any("selfish" in hit for hit in hits[:2]), result.stdout


def _sample_transcripts(stack: ServingStack) -> list[dict[str, object]]:
    """The Registry's transcripts of the sample's asset (the one `dhg up` uploaded)."""
    headers = {"Authorization": f"Bearer {stack.admin_token}"}
    with httpx.Client(base_url=stack.url, headers=headers) as registry:
        assets = registry.get("/v1/assets").json()["items"]
        asset = next(item for item in assets if item["filename"] == SAMPLE_PATH.name)
        items: list[dict[str, object]] = registry.get("/v1/transcripts", params={"asset_id": asset["id"]}).json()[
            "items"
        ]
        return items


def test_transcribe_prints_the_transcript_and_links_it_to_the_stored_asset(serving_stack: ServingStack) -> None:
    before = len(_sample_transcripts(serving_stack))
    result = run_dhg("transcribe", SAMPLE_PATH, "--data-dir", serving_stack.data_dir.root)
    assert result.returncode == 0, result.stdout + result.stderr
    assert word_error_rate(REFERENCE_TEXT, result.stdout) <= MAX_WORD_ERROR_RATE, result.stdout
    assert result.stdout.strip() == printed_transcript(serving_stack.output())
    deadline = time.monotonic() + DELIVERY_TIMEOUT_SECONDS
    while len(_sample_transcripts(serving_stack)) == before:  # the service delivers in the background
        assert time.monotonic() < deadline, "the transcript never reached the Registry"
        time.sleep(0.2)


def test_transcribe_writes_srt_files_to_the_output_dir(serving_stack: ServingStack, tmp_path: Path) -> None:
    out_dir = tmp_path / "out"
    result = run_dhg(
        "transcribe", SAMPLE_PATH, "--format", "srt", "--output-dir", out_dir, "--no-store", "--data-dir",
        serving_stack.data_dir.root,
    )  # fmt: skip
    written = out_dir / "sense-and-sensibility.srt"
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == str(written)
    srt = written.read_text()
    assert srt.startswith("1\n00:00:00,000 --> 00:00:0") and "Dashwood" in srt


def test_transcribe_with_speakers_labels_each_line_and_names_known_voices(
    serving_stack: ServingStack, tmp_path: Path
) -> None:
    """`dhg transcribe --speakers` on two voices (flite's, mixed by the evaluation set's generator): [A] and [B]
    lines; `--speaker NAME=CLIP` puts the names on; the stored transcript lists both speakers."""
    voices = {voice.name: voice for voice in evaluation.voices()}
    awb, slt = voices["flite-awb"].utterances(), voices["flite-slt"].utterances()
    talk = evaluation.converse("talk", [("awb", awb[:8]), ("slt", slt[:8])], seconds=30, seed=5, overlap_chance=0)
    audio, alan, sarah = tmp_path / "talk.wav", tmp_path / "alan.wav", tmp_path / "sarah.wav"
    for path, samples in ((audio, talk.audio), (alan, awb[10]), (sarah, slt[10])):
        path.write_bytes(wav_bytes(samples))
    where = ("--data-dir", str(serving_stack.data_dir.root))
    labelled = run_dhg("transcribe", audio, "--speakers", *where)
    assert labelled.returncode == 0, labelled.stdout + labelled.stderr
    lines = labelled.stdout.splitlines()
    assert {line[:4] for line in lines} == {"[A] ", "[B] "} and lines[0].startswith("[A] "), labelled.stdout
    named = run_dhg("transcribe", audio, "--speaker", f"Alan={alan}", "--speaker", f"Sarah={sarah}", *where)
    assert named.returncode == 0, named.stdout + named.stderr
    assert {line.split("]")[0] for line in named.stdout.splitlines()} == {"[Alan", "[Sarah"}, named.stdout
    assert_one_line_error(run_dhg("transcribe", audio, "--speaker", "Alan", *where), "NAME=CLIP")
    token = serving_stack.admin_token
    with httpx.Client(base_url=serving_stack.url, headers={"Authorization": f"Bearer {token}"}) as registry:
        deadline = time.monotonic() + DELIVERY_TIMEOUT_SECONDS
        words = "report or meet or weather or deadline or brother or figures or trip or client"
        query = {"q": words, "mode": "fulltext", "speaker": "Alan"}
        while not (found := registry.get("/v1/search", params=query).json()["items"]):
            assert time.monotonic() < deadline, "the named transcript never reached the Registry"
            time.sleep(0.2)
        stored = registry.get(f"/v1/transcripts/{found[0]['transcript_id']}/speakers").json()["items"]
    assert {item["speaker"] for item in stored} == {"Alan", "Sarah"}


def test_transcribe_refuses_a_file_that_is_not_audio_in_one_line(serving_stack: ServingStack, tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("not audio at all\n")
    where = ("--data-dir", str(serving_stack.data_dir.root))
    assert_one_line_error(run_dhg("transcribe", notes, *where), "notes.txt", "Registry refused", "415")
    assert_one_line_error(run_dhg("transcribe", notes, "--no-store", *where), "notes.txt", "400", "not audio")


def test_transcribe_refuses_a_missing_file_clashing_outputs_or_no_service_in_one_line(tmp_path: Path) -> None:
    missing = tmp_path / "missing.wav"
    assert_one_line_error(run_dhg("transcribe", missing, "--data-dir", tmp_path), str(missing), "no such file")
    twins = [tmp_path / name / "talk.opus" for name in ("a", "b")]
    for twin in twins:
        twin.parent.mkdir()
        twin.write_bytes(SAMPLE_PATH.read_bytes())
    result = run_dhg("transcribe", *twins, "--output-dir", tmp_path / "out", "--data-dir", tmp_path)
    assert_one_line_error(result, "would both be written to", "talk.txt")
    nowhere = f"http://127.0.0.1:{free_ports(1)[0]}"
    result = run_dhg("transcribe", SAMPLE_PATH, "--asr-url", nowhere, "--data-dir", tmp_path)
    assert_one_line_error(result, nowhere, "not reachable")


def test_a_live_session_is_stored_in_the_registry_with_its_audio(serving_stack: ServingStack) -> None:
    """A live session through `dhg up`'s ASR service, with its key: once it ends, its transcript is in the Registry
    under the job id the session announced, linked to the session's audio (Ogg Opus), timed from the session's
    start."""
    from openai import OpenAI

    from asr.realtime.formats import encode_pcm24
    from tests.asr.integration.test_stream_jobs_language import sample_samples
    from tests.asr.live import COMPLETED, chunks, of_type, received

    key = read_asr_api_key(serving_stack.data_dir)
    live = OpenAI(base_url=f"{serving_stack.asr_url}/v1", api_key=key, max_retries=0)
    speech = np.concatenate([np.zeros(16000, np.float32), sample_samples()[: 6 * 16000]])
    with live.realtime.connect() as connection:
        job_id = connection.recv().session.model_extra["dhg_job_id"]
        connection.session.update(
            session={
                "type": "transcription",
                "audio": {"input": {"transcription": {"model": "tiny.en"}, "turn_detection": None}},
            }
        )
        for piece in chunks(encode_pcm24(speech), 48000):
            connection.input_audio_buffer.append(audio=piece)
        connection.input_audio_buffer.commit()
        (done,) = of_type(received(connection, lambda events: of_type(events, COMPLETED)), COMPLETED)
    headers = {"Authorization": f"Bearer {serving_stack.admin_token}"}
    with httpx.Client(base_url=serving_stack.url, headers=headers) as registry:
        deadline = time.monotonic() + DELIVERY_TIMEOUT_SECONDS
        while not (items := registry.get("/v1/transcripts", params={"job_id": job_id}).json()["items"]):
            assert time.monotonic() < deadline, "the live session's transcript never reached the Registry"
            time.sleep(0.2)
        (summary,) = items
        transcript = registry.get(f"/v1/transcripts/{summary['id']}").json()
        asset = registry.get(f"/v1/assets/{summary['asset_id']}").json()
    assert transcript["text"].strip() == done["transcript"].strip()
    assert transcript["segments"][0]["start"] >= 0.5  # the speech began 1 s into the session
    assert asset["content_type"] == "audio/ogg" and asset["duration_seconds"] == pytest.approx(7.0, abs=0.3)


def test_listen_plays_a_file_live_and_prints_each_finished_turn(serving_stack: ServingStack, tmp_path: Path) -> None:
    result = run_dhg(
        "listen", SAMPLE_PATH, "--speed", "0", "--model", "tiny.en", "--data-dir", serving_stack.data_dir.root
    )
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) >= 2  # the reading's pauses end turns: a line each
    assert word_error_rate(REFERENCE_TEXT, " ".join(lines)) <= MAX_WORD_ERROR_RATE, result.stdout
    assert "stored in the Registry as job" in result.stderr
    missing = run_dhg("listen", tmp_path / "nope.wav", "--data-dir", serving_stack.data_dir.root)
    assert_one_line_error(missing, "no such file")


def test_token_create_list_revoke(serving_stack: ServingStack) -> None:
    where = ("--data-dir", str(serving_stack.data_dir.root))
    created = run_dhg("token", "create", "ci-reader", "--scope", "read", *where)
    assert created.returncode == 0, created.stderr
    secret = created.stdout.strip()
    assert secret.startswith("dhg_")
    token_id = created.stderr.split("created token ")[1].split()[0]
    uuid.UUID(token_id)

    listed = run_dhg("token", "list", *where)
    assert listed.returncode == 0, listed.stderr
    line = next(line for line in listed.stdout.splitlines() if line.startswith(token_id))
    assert "ci-reader" in line and "read" in line and "active" in line
    assert secret not in listed.stdout

    assert run_dhg("search", "selfish", *where, "--token", secret).returncode == 0
    assert_one_line_error(run_dhg("token", "list", *where, "--token", secret), "403", "admin")

    revoked = run_dhg("token", "revoke", token_id, *where)
    assert revoked.returncode == 0, revoked.stderr
    listed = run_dhg("token", "list", *where)
    assert "revoked" in next(line for line in listed.stdout.splitlines() if line.startswith(token_id))
    assert_one_line_error(run_dhg("search", "selfish", *where, "--token", secret), "401")


def test_a_second_up_on_the_same_data_dir_is_refused(serving_stack: ServingStack) -> None:
    registry_port, asr_port = free_ports(2)
    result = run_dhg(
        "up", "--exit-after-sample", "--data-dir", serving_stack.data_dir.root,
        "--registry-port", str(registry_port), "--asr-port", str(asr_port),
    )  # fmt: skip
    assert_one_line_error(result, "another `dhg up`", f"pid {serving_stack.process.pid}")


def test_an_unreachable_registry_is_a_one_line_error(serving_stack: ServingStack) -> None:
    result = run_dhg("search", "x", "--registry-url", f"http://127.0.0.1:{free_ports(1)[0]}", "--token", "t")
    assert_one_line_error(result, "not reachable")


def test_a_killed_run_is_cleaned_up_by_the_next_and_sigterm_stops_all_in_order(
    serving_stack: ServingStack, serving_stack_factory: Callable[..., ServingStack]
) -> None:
    data_dir = serving_stack.data_dir
    killed = read_state(data_dir)
    assert killed is not None and killed.asr_pid is not None
    serving_stack.stop(signal.SIGKILL)  # leaves its services and its Postgres running
    os.kill(killed.registry_pid, 0)
    os.kill(killed.asr_pid, 0)
    assert (data_dir.postgres / "pgdata" / "postmaster.pid").exists()

    third = serving_stack_factory(data_dir.root)

    output = third.output()
    assert f"stopped an ASR service (pid {killed.asr_pid})" in output
    assert f"stopped a Registry (pid {killed.registry_pid})" in output
    assert "stopped a Postgres an earlier `dhg up` left running" in output
    assert_sample_transcribed(output)
    running = read_state(data_dir)
    assert running is not None and running.asr_pid is not None

    assert third.stop(signal.SIGTERM) == 0, third.output()
    output = third.output()
    assert output.index("stopping the ASR service") < output.index("stopping the Registry")
    assert output.index("stopping the Registry") < output.index("stopping Postgres")
    assert not (data_dir.postgres / "pgdata" / "postmaster.pid").exists()
    assert not data_dir.state_file.exists()
    for pid in (killed.asr_pid, killed.registry_pid, running.asr_pid, running.registry_pid):
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    assert run_dhg("status", "--data-dir", data_dir.root).returncode == 1


def test_up_refuses_a_default_model_that_is_not_served_before_starting_anything(tmp_path: Path) -> None:
    result = run_dhg("up", "--model", "large-v9", "--data-dir", tmp_path / "data", "--exit-after-sample")
    assert_one_line_error(result, "--model 'large-v9' is not a model the ASR service serves", "tiny.en, base")
    assert not (tmp_path / "data").exists()
