"""Deltas from a growing utterance (local agreement, as whisper_streaming's LocalAgreement-2): the utterance is
decoded again every so often, and only the words that two decodes in a row agree on are emitted. What is emitted
is never taken back: deltas are append-only, and the utterance's final text is their concatenation plus the tail the
last decode adds after them.

Words are compared without case and punctuation (a comma that comes and goes does not hold a word back); the emitted
form is the newer decode's. Each decode covers the utterance from `offset` (seconds into it) on: once the undecided
audio grows long, the offset moves to the end of a segment whose words are all emitted, so a long turn costs a
decode of its last part only."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

_NOT_WORD = re.compile(r"[^\w']+")
_TRAILING = ".,;:!?…"  # what a decode that stops mid-sentence often ends a word with


def normal(word: str) -> str:
    return _NOT_WORD.sub("", word.lower())


@dataclass(frozen=True)
class Heard:
    """One decode of the utterance from `offset`: its words, and the segments they came in (end time, word count)."""

    words: tuple[str, ...]
    segments: tuple[tuple[float, int], ...] = ()  # (end in seconds from the decode's start, words in the segment)

    @classmethod
    def of(cls, texts_and_ends: Sequence[tuple[str, float]]) -> Heard:
        words: list[str] = []
        segments = []
        for text, end in texts_and_ends:
            split = text.split()
            words += split
            segments.append((end, len(split)))
        return cls(tuple(words), tuple(segments))


def _common(a: Sequence[str], b: Sequence[str]) -> int:
    count = 0
    for left, right in zip(a, b, strict=False):
        if normal(left) != normal(right):
            break
        count += 1
    return count


def _tail_start(words: Sequence[str], emitted: Sequence[str]) -> int:
    """Where, in `words`, what comes after the emitted words starts: after them where the decode repeats them, else
    after the last place it repeats the last two emitted words (or the last one), else at the emitted count."""
    if not emitted:
        return 0
    if _common(words, emitted) == len(emitted):
        return len(emitted)
    plain = [normal(w) for w in words]
    for size in (2, 1):
        tail = [normal(w) for w in emitted[-size:]]
        for start in range(len(plain) - len(tail), -1, -1):
            if plain[start : start + len(tail)] == tail:
                return start + len(tail)
    return min(len(emitted), len(words))


@dataclass
class Agreement:
    """The words emitted for one utterance, and the last decode's words after them."""

    window_seconds: float = 20.0  # the undecided audio past which the decodes start later (`offset`)
    offset: float = 0.0
    emitted: list[str] = field(default_factory=list)  # since `offset`
    before: list[str] = field(default_factory=list)  # emitted before `offset`
    previous: tuple[str, ...] | None = None
    deltas: list[str] = field(default_factory=list)
    held: bool = False  # the last emitted word's trailing punctuation was held back

    def _delta(self, words: Sequence[str], decoded: Sequence[str], start: int, *, last: bool = False) -> str:
        """Emit `words`, which are `decoded[start:]`'s first ones (`last`: the decode is final)."""
        punctuation = ""
        if self.held and start > 0 and (words or last):  # the held punctuation, as this decode writes that word
            before = decoded[start - 1]
            punctuation = before[len(before.rstrip(_TRAILING)) :]  # held: a word was emitted
            self.held = False
        words = list(words)
        if words and not last and start + len(words) == len(decoded):
            bare = words[-1].rstrip(_TRAILING)
            if bare and normal(bare):
                self.held = bare != words[-1]
                words[-1] = bare
        text = " ".join(words)
        if not text and not punctuation:
            return ""
        delta = punctuation + (" " + text if text and any(self.deltas) else text)
        self.deltas.append(delta)
        self.emitted += words
        return delta

    def update(self, heard: Heard, duration: float) -> str:
        """A new decode of the utterance's first `duration` seconds (from `offset`): the delta it confirms ('' when
        none)."""
        words = heard.words
        start = _tail_start(words, self.emitted)
        agreed = ""
        if self.previous is not None:
            previous = self.previous[_tail_start(self.previous, self.emitted) :]
            agreed = self._delta(words[start : start + _common(words[start:], previous)], words, start)
        self.previous = words
        self._slide(heard, duration)
        return agreed

    def finish(self, heard: Heard) -> str:
        """The last decode (the utterance is complete): the tail it adds after what was emitted."""
        start = _tail_start(heard.words, self.emitted)
        return self._delta(heard.words[start:], heard.words, start, last=True)

    def _slide(self, heard: Heard, duration: float) -> None:
        if duration - self.offset <= self.window_seconds:
            return
        covered = 0
        cut: tuple[float, int] | None = None
        for end, count in heard.segments:  # the last segment whose words (and all before) were emitted
            if covered + count > len(self.emitted) or end >= duration - self.offset - 1.0:
                break
            covered += count
            cut = (end, covered)
        if cut is None or cut[1] == 0:
            return
        end, count = cut
        self.offset += end
        self.before += self.emitted[:count]
        self.emitted = self.emitted[count:]
        self.previous = None  # the next decode starts elsewhere: nothing to agree with yet

    @property
    def text(self) -> str:
        return "".join(self.deltas)
