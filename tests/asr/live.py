"""What the live-transcription tests share: speech in the formats a Realtime client sends, and the events it gets,
each validated strictly against the `openai` package's types (its own parser is lenient)."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
from openai.types.realtime import RealtimeServerEvent
from pydantic import TypeAdapter

from asr.realtime.formats import G711

STRICT = TypeAdapter(RealtimeServerEvent)
CHUNK_SECONDS = 0.1
COMPLETED = "conversation.item.input_audio_transcription.completed"
DELTA = "conversation.item.input_audio_transcription.delta"


def g711(samples: np.ndarray, kind: str) -> bytes:
    """8 kHz G.711 of 16 kHz audio: every other sample, each the nearest code of the format's table."""
    table = G711[kind]
    narrow = samples[::2]
    codes = np.concatenate([np.abs(table[None, :] - part[:, None]).argmin(1) for part in np.array_split(narrow, 64)])
    return codes.astype(np.uint8).tobytes()


def chunks(data: bytes, bytes_per_second: int) -> Iterator[str]:
    step = int(bytes_per_second * CHUNK_SECONDS) // 2 * 2
    for start in range(0, len(data), step):
        yield base64.b64encode(data[start : start + step]).decode()


def received(
    connection: Any, until: Callable[[list[dict[str, Any]]], Any], *, timeout: float = 120
) -> list[dict[str, Any]]:
    """Raw events, each validated strictly against the package's types, until `until(events)` holds."""
    events: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while not until(events):
        assert time.monotonic() < deadline, [e["type"] if e["type"] != "error" else e for e in events]
        raw = connection.recv_bytes()
        parsed = STRICT.validate_json(raw)
        event = json.loads(raw)
        assert parsed.type == event["type"]
        events.append(event)
    return events


def of_type(events: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [event for event in events if event["type"] == kind]


COMPLETED = "conversation.item.input_audio_transcription.completed"
DELTA = "conversation.item.input_audio_transcription.delta"
