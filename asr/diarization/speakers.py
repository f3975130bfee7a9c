"""Speakers onto Whisper's output by time overlap: each word takes the speaker who talks most during it (the nearest
turn when none overlaps), and a segment is split where its words change speaker; without words, a segment takes
the speaker with the most overlap. Pure functions over Turns and Segments."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from asr.engines.base import Segment, Word


@dataclass(frozen=True)
class Turn:
    """One speaker talking from `start` to `end` (seconds)."""

    start: float
    end: float
    speaker: str


def speaker_at(turns: Sequence[Turn], start: float, end: float) -> str | None:
    """Who talks most between `start` and `end`; the nearest turn's speaker when nobody does; None without turns."""
    if not turns:
        return None
    talk: dict[str, float] = {}
    for turn in turns:
        overlap = min(end, turn.end) - max(start, turn.start)
        if overlap > 0:
            talk[turn.speaker] = talk.get(turn.speaker, 0.0) + overlap
    if talk:
        return max(talk, key=lambda name: talk[name])
    middle = (start + end) / 2
    nearest = min(turns, key=lambda turn: max(turn.start - middle, middle - turn.end, 0.0))
    return nearest.speaker


def label_segments(segments: Sequence[Segment], turns: Sequence[Turn]) -> list[Segment]:
    """`segments` with their speakers (and their words'), split where the words change speaker."""
    labelled: list[Segment] = []
    for segment in segments:
        if not segment.words:
            labelled.append(replace(segment, speaker=speaker_at(turns, segment.start, segment.end)))
            continue
        words = [replace(word, speaker=speaker_at(turns, word.start, word.end)) for word in segment.words]
        labelled.extend(_split(segment, words))
    return labelled


def _split(segment: Segment, words: list[Word]) -> list[Segment]:
    runs: list[list[Word]] = []
    for word in words:
        if runs and runs[-1][-1].speaker == word.speaker:
            runs[-1].append(word)
        else:
            runs.append([word])
    if len(runs) == 1:
        return [replace(segment, words=tuple(words), speaker=words[0].speaker)]
    return [
        replace(
            segment,
            start=run[0].start if index else segment.start,
            end=run[-1].end if index < len(runs) - 1 else segment.end,
            text="".join(word.word for word in run),
            words=tuple(run),
            speaker=run[0].speaker,
        )
        for index, run in enumerate(runs)
    ]


def talk_time(segments: Sequence[Segment]) -> dict[str, float]:
    """Seconds each speaker talks in `segments`, most first."""
    totals: dict[str, float] = {}
    for segment in segments:
        if segment.speaker:
            totals[segment.speaker] = totals.get(segment.speaker, 0.0) + max(0.0, segment.end - segment.start)
    return dict(sorted(totals.items(), key=lambda item: -item[1]))
