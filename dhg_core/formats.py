"""Transcript writers: json, text, srt, vtt, tsv (pure functions over plain data). A segment's `speaker`, when it has
one, is written as `[A] ` before its text (text, srt), as a WebVTT voice span `<v A>` (vtt) and as a column (tsv,
only in transcripts that have speakers, so that openai-whisper's three columns stay as they are otherwise)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import orjson

Segment = Mapping[str, Any]
Writer = Callable[[Mapping[str, Any]], str]

MEDIA_TYPES = {
    "json": "application/json",
    "text": "text/plain; charset=utf-8",
    "srt": "application/x-subrip; charset=utf-8",
    "vtt": "text/vtt; charset=utf-8",
    "tsv": "text/tab-separated-values; charset=utf-8",
}


def timestamp(seconds: float, *, decimal: str = ".", always_hours: bool = True) -> str:
    """`HH:MM:SS.mmm` (VTT) or `HH:MM:SS,mmm` (SRT) for a non-negative time in seconds."""
    total_ms = round(max(seconds, 0.0) * 1000)
    hours, rest = divmod(total_ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, millis = divmod(rest, 1000)
    head = f"{hours:02d}:" if always_hours or hours else ""
    return f"{head}{minutes:02d}:{secs:02d}{decimal}{millis:03d}"


def _cue_text(segment: Segment) -> str:
    """The text on one line, or on the lines a subtitle layout gave it (`subtitle_cues`)."""
    lines = (" ".join(line.split()) for line in str(segment["text"]).split("\n"))
    return "\n".join(line for line in lines if line)


def _flat(segment: Segment) -> str:
    return " ".join(str(segment["text"]).split())


def subtitle_cues(
    segments: Sequence[Segment],
    *,
    max_line_width: int | None = None,
    max_line_count: int | None = None,
    max_words_per_line: int | None = None,
) -> list[dict[str, Any]]:
    """Cues laid out from the segments' words (openai-whisper's writer options): words fill a line until one more
    would pass `max_line_width` characters or `max_words_per_line` words, and a cue takes up to `max_line_count`
    lines. A cue never spans two segments (so never two speakers); a segment without words stays one cue."""
    cues: list[dict[str, Any]] = []
    for segment in segments:
        words = [w for w in segment.get("words") or () if str(w["word"]).strip()]
        if not words:
            cues.append(dict(segment))
            continue
        lines: list[list[Mapping[str, Any]]] = [[]]
        for word in words:
            line = lines[-1]
            width = len(" ".join(str(w["word"]).strip() for w in [*line, word]))
            full = (max_line_width is not None and width > max_line_width) or (
                max_words_per_line is not None and len(line) >= max_words_per_line
            )
            if line and full:
                lines.append([word])
            else:
                line.append(word)
        per_cue = max_line_count or len(lines)
        for first in range(0, len(lines), per_cue):
            group = lines[first : first + per_cue]
            text = "\n".join(" ".join(str(w["word"]).strip() for w in line) for line in group)
            cues.append(
                {
                    "start": group[0][0]["start"],
                    "end": group[-1][-1]["end"],
                    "text": text,
                    "speaker": segment.get("speaker"),
                }
            )
    return cues


def _speaker(segment: Segment) -> str | None:
    speaker = segment.get("speaker")
    return " ".join(str(speaker).split()) or None if speaker is not None else None


def _spoken(segment: Segment, text: str | None = None) -> str:
    """The cue text, after `[speaker] ` when the segment has one."""
    text = _cue_text(segment) if text is None else text
    speaker = _speaker(segment)
    return f"[{speaker}] {text}" if speaker else text


def _vtt_escaped(text: str) -> str:
    """WebVTT cue text: `&`, `<` and `>` as character references (a raw `<` would open a tag)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def write_text(transcript: Mapping[str, Any]) -> str:
    segments: Sequence[Segment] = transcript["segments"]
    if not segments:
        return str(transcript.get("text", "")).strip() + "\n"
    return "".join(_spoken(s, _flat(s)) + "\n" for s in segments)


def write_srt(transcript: Mapping[str, Any]) -> str:
    cues = []
    for index, segment in enumerate(transcript["segments"], start=1):
        start = timestamp(segment["start"], decimal=",")
        end = timestamp(segment["end"], decimal=",")
        cues.append(f"{index}\n{start} --> {end}\n{_spoken(segment)}\n")
    return "\n".join(cues)


def _vtt_cue(segment: Segment) -> str:
    text = _vtt_escaped(_cue_text(segment))
    speaker = _speaker(segment)
    return f"<v {_vtt_escaped(speaker)}>{text}" if speaker else text


def write_vtt(transcript: Mapping[str, Any]) -> str:
    cues = [f"{timestamp(s['start'])} --> {timestamp(s['end'])}\n{_vtt_cue(s)}\n" for s in transcript["segments"]]
    return "WEBVTT\n\n" + "\n".join(cues)


def write_tsv(transcript: Mapping[str, Any]) -> str:
    """openai-whisper's TSV: integer milliseconds, tabs in the text replaced by spaces; a `speaker` column between
    `end` and `text` when the transcript has speakers."""
    segments: Sequence[Segment] = transcript["segments"]
    with_speakers = any(_speaker(segment) for segment in segments)
    rows = ["start\tend\tspeaker\ttext" if with_speakers else "start\tend\ttext"]
    for segment in segments:
        text = _flat(segment).replace("\t", " ")
        times = f"{round(segment['start'] * 1000)}\t{round(segment['end'] * 1000)}"
        rows.append(f"{times}\t{_speaker(segment) or ''}\t{text}" if with_speakers else f"{times}\t{text}")
    return "\n".join(rows) + "\n"


def write_json(transcript: Mapping[str, Any]) -> str:
    return orjson.dumps(transcript, default=str).decode()


WRITERS: dict[str, Writer] = {
    "json": write_json,
    "text": write_text,
    "srt": write_srt,
    "vtt": write_vtt,
    "tsv": write_tsv,
}


def render(transcript: Mapping[str, Any], fmt: str) -> tuple[str, str]:
    """The transcript in `fmt` and its media type; KeyError for an unknown format."""
    return WRITERS[fmt](transcript), MEDIA_TYPES[fmt]
