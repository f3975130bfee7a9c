"""Live transcription under load: N concurrent sessions over `/v1/realtime` (the official `openai` client), each
streaming the same real speech paced at real time (100 ms chunks on a fixed clock, as a microphone), each session
from a different utterance on (as different speakers: their turns do not all end at the same moment), against one
ASR service (tiny.en, batching on). For every turn the server VAD finds:

- first delta: from the moment the turn's speech started being sent to its first delta;
- completed: from the server's `speech_stopped` to the turn's `completed` (and, for reference, from the end of the
  speech itself, which adds the VAD's `silence_duration_ms`);
- the live WER of each session's completed turns, against the WER of the same audio sent as a file to the same
  service in the same run; and how far behind real time each session ended (its last `completed` after the last
  audio was sent).

`make bench-asr-live` (about 3 minutes); `--markdown` writes bench/results/asr-live.md, `--json` the figures.
"""

from __future__ import annotations

import argparse
import base64
import json
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from asr import audio
from asr.engines.base import SAMPLE_RATE
from asr.evaluation import librivox_set, word_error_rate
from asr.realtime.formats import encode_pcm24
from bench.asr.concurrency import machine
from bench.asr.run import MODEL, SAMPLE, Service, write_wav

CHUNK_SECONDS = 0.1
END_MARK = "bench-end"
PAUSE_SECONDS = 1.0
SILENCE_MS = 500  # the sessions' server VAD silence_duration_ms (OpenAI's default)
PADDING_MS = 300
SAMPLE_REFERENCE = (
    "Mr. John Dashwood had then leisure to consider how much there might be prudently in his power to do for them. "
    "He was not an ill-disposed young man, unless to be rather cold-hearted and rather selfish is to be ill-disposed."
)
TARGETS = (  # (figure, bound, higher is better, description), at the largest level
    ("completed_p95", 1.0, False, "speech stopped → completed, p95 (s)"),
    ("first_delta_p95", 1.5, False, "speech start → first delta, p95 (s)"),
    ("wer_points", 3.0, False, "live WER - file WER (points)"),
    ("lag_max", 2.0, False, "behind real time at the end, max (s)"),
)


@dataclass
class Options:
    levels: tuple[int, ...] = (1, 2, 4)
    repeats: int = 1  # the speech streamed this many times per session


def speech(repeats: int, rotation: int = 0) -> tuple[np.ndarray, str]:
    """The bundled LibriVox sample and pocketsphinx-testdata's LibriVox utterances, a pause after each: real speech
    with turns of 3 to 8 s, and its reference. `rotation` starts it that many pieces later (and wraps round): each
    session is a different speaker's turns at a different time, not the same words ending at the same moments."""
    pause = np.zeros(int(PAUSE_SECONDS * SAMPLE_RATE), np.float32)
    pieces = [(SAMPLE, SAMPLE_REFERENCE), *((u.path, u.reference) for u in librivox_set().utterances)]
    shift = rotation % len(pieces)
    pieces = pieces[shift:] + pieces[:shift]
    chunks, references = [pause], []
    for path, reference in pieces:
        chunks += [audio.read(path, max_seconds=120), pause]
        references.append(reference)
    once = np.concatenate(chunks)
    return np.concatenate([once] * repeats), " ".join(references * repeats)


def session(url: str, data: bytes, start_at: float) -> dict[str, Any]:
    """One live session: the audio sent on a real-time clock from `start_at`; every event's arrival time kept."""
    from openai import OpenAI

    client = OpenAI(base_url=f"{url}/v1", api_key="bench", max_retries=0)
    step = int(48000 * CHUNK_SECONDS)
    chunks = [data[i : i + step] for i in range(0, len(data), step)]
    events: list[tuple[float, Any]] = []
    with client.realtime.connect() as connection:
        connection.recv()
        connection.session.update(
            session={
                "type": "transcription",
                "audio": {
                    "input": {
                        "format": {"type": "audio/pcm", "rate": 24000},
                        "transcription": {"model": MODEL, "language": "en"},
                        "turn_detection": {
                            "type": "server_vad",
                            "silence_duration_ms": SILENCE_MS,
                            "prefix_padding_ms": PADDING_MS,
                        },
                    }
                },
            }
        )
        connection.recv()

        def speak() -> None:
            for index, chunk in enumerate(chunks):
                time.sleep(max(0.0, start_at + index * CHUNK_SECONDS - time.monotonic()))
                connection.input_audio_buffer.append(audio=base64.b64encode(chunk).decode())
            # Answered (an error: nothing to commit after the closing pause) once all the audio before it is heard.
            connection.input_audio_buffer.commit(event_id=END_MARK)

        speaker = threading.Thread(target=speak, daemon=True)
        speaker.start()
        end_at = start_at + len(chunks) * CHUNK_SECONDS
        heard_all = False
        while True:
            event = connection.recv()
            events.append((time.monotonic(), event))
            if event.type == "error" and event.error.event_id == END_MARK:
                heard_all = True
            elif event.type == "error":
                raise RuntimeError(f"the live session answered an error: {event.error.message}")
            committed = sum(e.type == "input_audio_buffer.committed" for _, e in events)
            ended = sum(e.type.endswith(("transcription.completed", "transcription.failed")) for _, e in events)
            started = sum(e.type == "input_audio_buffer.speech_started" for _, e in events)
            if heard_all and committed == ended == started:
                break
        speaker.join()
    return {"start_at": start_at, "end_at": end_at, "events": events}


def turns(run: dict[str, Any]) -> tuple[list[dict[str, float]], str, float]:
    start_at, events = run["start_at"], run["events"]
    by_item: dict[str, dict[str, Any]] = {}
    for at, event in events:
        item = getattr(event, "item_id", None)
        if item is None:
            continue
        entry = by_item.setdefault(item, {})
        if event.type == "input_audio_buffer.speech_started":
            entry["speech_at"] = start_at + (event.audio_start_ms + PADDING_MS) / 1000
        elif event.type == "input_audio_buffer.speech_stopped":
            entry["stopped_at"], entry["spoken_end"] = at, start_at + (event.audio_end_ms - SILENCE_MS) / 1000
        elif event.type.endswith("transcription.delta"):
            entry.setdefault("first_delta_at", at)
        elif event.type.endswith("transcription.completed"):
            entry["completed_at"], entry["text"] = at, event.transcript
    rows = []
    for entry in by_item.values():
        if "completed_at" not in entry or "stopped_at" not in entry:
            continue
        rows.append(
            {
                "first_delta": entry.get("first_delta_at", entry["completed_at"]) - entry["speech_at"],
                "completed": entry["completed_at"] - entry["stopped_at"],
                "from_speech_end": entry["completed_at"] - entry["spoken_end"],
            }
        )
    text = " ".join(entry.get("text", "") for entry in by_item.values())
    last = max(entry.get("completed_at", 0.0) for entry in by_item.values())
    return rows, text, last - run["end_at"]


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def level(url: str, repeats: int, clients: int) -> dict[str, Any]:
    start_at = time.monotonic() + 2.0
    runs: list[dict[str, Any]] = [{}] * clients
    speeches = [speech(repeats, rotation=index) for index in range(clients)]
    data = [encode_pcm24(samples) for samples, _ in speeches]
    threads = []
    for index in range(clients):

        def one(index: int = index) -> None:
            runs[index] = session(url, data[index], start_at + 0.37 * index)  # staggered

        threads.append(threading.Thread(target=one))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    rows, wers, lags = [], [], []
    for run, (_, reference) in zip(runs, speeches, strict=True):
        found, text, lag = turns(run)
        rows += found
        wers.append(word_error_rate(reference, text))
        lags.append(lag)
    first = [row["first_delta"] for row in rows]
    done = [row["completed"] for row in rows]
    spoken = [row["from_speech_end"] for row in rows]
    return {
        "clients": clients,
        "turns": len(rows),
        "first_delta_p50": statistics.median(first),
        "first_delta_p95": percentile(first, 0.95),
        "completed_p50": statistics.median(done),
        "completed_p95": percentile(done, 0.95),
        "from_speech_end_p95": percentile(spoken, 0.95),
        "wer_live": statistics.mean(wers),
        "lag_max": max(lags),
    }


def main(options: Options) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="bench-asr-live-"))
    samples, reference = speech(options.repeats)
    wav = workdir / "speech.wav"
    seconds = write_wav(wav, samples)
    print(f"each session streams {seconds:.1f} s of real speech in real time; levels {options.levels}", flush=True)
    largest = max(options.levels)
    service = Service(
        workdir,
        DHG_ASR_REALTIME_SESSIONS=str(largest),
        DHG_ASR_CONCURRENCY=str(largest + 1),
        DHG_ASR_DEFAULT_MODEL=MODEL,
    )
    figures: dict[str, Any] = {"date": time.strftime("%Y-%m-%d"), "machine": machine(), "levels": {}}
    try:
        with wav.open("rb") as handle:
            response = httpx.post(
                f"{service.url}/v1/audio/transcriptions",
                files={"file": (wav.name, handle, "audio/wav")},
                data={"model": MODEL, "language": "en"},
                timeout=600,
            )
        response.raise_for_status()
        figures["wer_file"] = word_error_rate(reference, response.json()["text"])
        print(f"the same audio as a file: WER {figures['wer_file']:.3f}", flush=True)
        for clients in options.levels:
            row = level(service.url, options.repeats, clients)
            figures["levels"][clients] = row
            print(
                f"{clients} sessions: {row['turns']} turns; first delta p50 {row['first_delta_p50']:.2f} / p95 "
                f"{row['first_delta_p95']:.2f} s; completed p50 {row['completed_p50']:.2f} / p95 "
                f"{row['completed_p95']:.2f} s (from the speech's end p95 {row['from_speech_end_p95']:.2f} s); "
                f"WER {row['wer_live']:.3f}; behind real time at the end {row['lag_max']:.2f} s",
                flush=True,
            )
    finally:
        service.stop()
    top = figures["levels"][largest]
    figures |= {
        "completed_p95": top["completed_p95"],
        "first_delta_p95": top["first_delta_p95"],
        "wer_points": 100 * (top["wer_live"] - figures["wer_file"]),
        "lag_max": top["lag_max"],
    }
    for figure, bound, higher, description in TARGETS:
        value = figures[figure]
        met = value >= bound if higher else value <= bound
        verdict = "PASS" if met else "FAIL"
        print(f"{description:<44}{('>= ' if higher else '<= ') + f'{bound:g}':>8}{value:>9.3f}  {verdict}")
    return figures


def markdown(figures: dict[str, Any], options: Options) -> str:
    lines = [
        "# Live transcription under load (`make bench-asr-live`)",
        "",
        f"{figures['date']}, {figures['machine']}.",
        "",
        f"Model {MODEL}; each session streams the same real speech at real time (server VAD, silence "
        f"{SILENCE_MS} ms); the file WER is the same audio through `POST /v1/audio/transcriptions` in the same run: "
        f"{100 * figures['wer_file']:.1f}%.",
        "",
        "| sessions | turns | first delta p50 / p95 | completed p50 / p95 (from speech end p95) | live WER "
        "| behind at end |",
        "|---|---|---|---|---|---|",
    ]
    for clients in options.levels:
        row = figures["levels"][clients]
        lines.append(
            f"| {clients} | {row['turns']} | {row['first_delta_p50']:.2f} / {row['first_delta_p95']:.2f} s | "
            f"{row['completed_p50']:.2f} / {row['completed_p95']:.2f} s ({row['from_speech_end_p95']:.2f} s) | "
            f"{100 * row['wer_live']:.1f}% | {row['lag_max']:.2f} s |"
        )
    lines += ["", f"| target ({max(options.levels)} sessions) | bound | measured | |", "|---|---|---|---|"]
    for figure, bound, higher, description in TARGETS:
        value = figures[figure]
        met = value >= bound if higher else value <= bound
        lines.append(
            f"| {description} | {'≥' if higher else '≤'} {bound:g} | {value:.2f} | {'met' if met else 'missed'} |"
        )
    return "\n".join(lines) + "\n"


def cli(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.asr.live", description=__doc__.split("\n\n")[0])
    parser.add_argument("--levels", default="1,2,4", help="concurrent sessions to measure, e.g. 1,2,4")
    parser.add_argument("--repeats", type=int, default=1, help="the speech streamed this many times per session")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--markdown", type=Path)
    args = parser.parse_args(argv)
    options = Options(tuple(int(n) for n in args.levels.split(",")), args.repeats)
    figures = main(options)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    if args.markdown:
        args.markdown.write_text(markdown(figures, options))
    failed = [f for f, bound, higher, _ in TARGETS if not (figures[f] >= bound if higher else figures[f] <= bound)]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(cli())
