"""`known_speaker_names[]` with `known_speaker_references[]`, as OpenAI takes them: up to four names, each with a
short clip of that person (2-10 s) as a data URL; decoded here into 16 kHz mono audio for the diarizer, or refused
with the reason."""

from __future__ import annotations

import base64
import binascii
import io
import re

import numpy as np

from asr import audio
from asr.engines.base import SAMPLE_RATE, Audio
from asr.errors import AsrError, InvalidRequest

MAX_KNOWN_SPEAKERS = 4
MAX_NAME_CHARACTERS = 64
MIN_REFERENCE_SECONDS = 1.0
MAX_REFERENCE_SECONDS = 30.0
MAX_REFERENCE_BYTES = 4 * 1024 * 1024  # of one decoded clip
DATA_URL = re.compile(r"data:(?P<type>[\w.+-]+/[\w.+-]+)?(?:;[\w.+-]+=[\w.+-]+)*;base64,(?P<data>.*)", re.DOTALL)


def parse(names: list[str], references: list[str]) -> dict[str, Audio]:
    """Name → audio of that speaker; InvalidRequest naming the first entry that is wrong."""
    if len(names) != len(references):
        raise InvalidRequest(
            f"known_speaker_names[] has {len(names)} entries and known_speaker_references[] {len(references)}: "
            "give one reference clip per name"
        )
    if len(names) > MAX_KNOWN_SPEAKERS:
        raise InvalidRequest(f"at most {MAX_KNOWN_SPEAKERS} known speakers are taken, not {len(names)}")
    speakers: dict[str, Audio] = {}
    for index, (name, reference) in enumerate(zip(names, references, strict=True)):
        name = name.strip()
        if not name or len(name) > MAX_NAME_CHARACTERS or not name.isprintable():
            raise InvalidRequest(f"known_speaker_names[{index}] must be 1-{MAX_NAME_CHARACTERS} printable characters")
        if name in speakers:
            raise InvalidRequest(f"known_speaker_names[{index}] repeats {name!r}")
        speakers[name] = _clip(index, reference)
    return speakers


def _clip(index: int, reference: str) -> Audio:
    where = f"known_speaker_references[{index}]"
    match = DATA_URL.fullmatch(reference.strip())
    if match is None:
        raise InvalidRequest(f"{where} must be a data URL (data:audio/wav;base64,...)")
    if len(match["data"]) > MAX_REFERENCE_BYTES * 4 // 3 + 4:
        raise InvalidRequest(f"{where} is larger than {MAX_REFERENCE_BYTES // (1024 * 1024)} MiB")
    try:
        raw = base64.b64decode(match["data"], validate=True)
    except (binascii.Error, ValueError) as error:
        raise InvalidRequest(f"{where} is not valid base64") from error
    try:
        decoded = audio.chunks(io.BytesIO(raw), chunk_seconds=60, max_seconds=MAX_REFERENCE_SECONDS)
        pieces = [samples for _, samples in decoded]
    except AsrError as error:
        raise InvalidRequest(f"{where}: {error.detail}") from error
    clip = np.concatenate(pieces) if pieces else np.zeros(0, np.float32)
    seconds = len(clip) / SAMPLE_RATE
    if not MIN_REFERENCE_SECONDS <= seconds <= MAX_REFERENCE_SECONDS:
        taken = f"{MIN_REFERENCE_SECONDS:.0f}-{MAX_REFERENCE_SECONDS:.0f} s"
        raise InvalidRequest(f"{where} holds {seconds:.1f} s of audio; {taken} are taken")
    return clip
