"""Accuracy: word error rate over normalised words (any script's letters), and the evaluation sets we measure on —
real human speech (Debian's pocketsphinx-testdata, LibriVox) and speech synthesised by espeak-ng from
texts of ours, in several voices and speeds. Used by the accuracy tests and by `bench/asr`."""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

WORD = re.compile(r"[\w']+")  # letters and digits of any language ("schön", "días"), apostrophes kept
# Spoken forms of written abbreviations Whisper prints, so "Mr." and "mister" count as the same word.
SPOKEN = {"mr": "mister", "mrs": "missus", "dr": "doctor", "st": "saint"}


def normalise(text: str) -> list[str]:
    """Lower-case words without punctuation: "The fox, jumped." -> ["the", "fox", "jumped"]; "Schön!" -> ["schön"]."""
    return [SPOKEN.get(word, word) for word in WORD.findall(text.lower().replace("-", " "))]


def word_error_rate(reference: str, hypothesis: str) -> float:
    """(substitutions + deletions + insertions) / reference words, over normalised words."""
    expected, actual = normalise(reference), normalise(hypothesis)
    if not expected:
        return float(bool(actual))
    previous = list(range(len(actual) + 1))
    for row, word in enumerate(expected, start=1):
        current = [row]
        for column, other in enumerate(actual, start=1):
            current.append(min(previous[column] + 1, current[column - 1] + 1, previous[column - 1] + (word != other)))
        previous = current
    return previous[-1] / len(expected)


LIBRIVOX_DIR = Path("/usr/share/pocketsphinx/test/data/librivox")  # Debian: pocketsphinx-testdata
ESPEAK_TEXTS = (
    "The quick brown fox jumps over the lazy dog near the river bank.",
    "Every morning the baker opens his small shop and sells fresh bread to the people of the village.",
    "Please send the quarterly report to the finance team before the meeting on Friday afternoon.",
    "The weather forecast says it will rain tomorrow, so remember to bring an umbrella.",
)
# (voice, words per minute, gap between words in 10 ms units): several voices and speeds
ESPEAK_VOICES = (("en-us", 120, 6), ("en-gb", 140, 4), ("en-us+f3", 130, 5))


@dataclass(frozen=True)
class Utterance:
    path: Path
    reference: str


@dataclass(frozen=True)
class EvaluationSet:
    name: str
    utterances: tuple[Utterance, ...]

    @property
    def reference(self) -> str:
        return " ".join(u.reference for u in self.utterances)


def librivox_set(directory: Path = LIBRIVOX_DIR) -> EvaluationSet:
    """Five read utterances (LibriVox, Sense and Sensibility) with LibriSpeech-style references."""
    lines = (directory / "transcription").read_text().splitlines()
    utterances = []
    for line in lines:
        match = re.match(r"<s>\s*(.*?)\s*</s>\s*\((\S+)\)", line)
        if match:
            utterances.append(Utterance(directory / f"{match.group(2)}.wav", match.group(1)))
    if not utterances:
        raise FileNotFoundError(f"no utterances in {directory} (apt-get install pocketsphinx-testdata)")
    return EvaluationSet("librivox", tuple(utterances))


def espeak_set(directory: Path) -> EvaluationSet:
    """ESPEAK_TEXTS spoken by espeak-ng in each of ESPEAK_VOICES, resampled to 16 kHz mono WAV."""
    directory.mkdir(parents=True, exist_ok=True)
    utterances = []
    for voice, speed, gap in ESPEAK_VOICES:
        for index, text in enumerate(ESPEAK_TEXTS):
            raw, wav = directory / f"{voice}-{index}.raw.wav", directory / f"{voice}-{index}.wav"
            if not wav.exists():
                subprocess.run(
                    ["espeak-ng", "-v", voice, "-s", str(speed), "-g", str(gap), "-w", str(raw), text],
                    check=True,
                    capture_output=True,
                )
                subprocess.run(
                    [
                        "ffmpeg",
                        "-nostdin",
                        "-loglevel",
                        "error",
                        "-y",
                        "-i",
                        str(raw),
                        "-ar",
                        "16000",
                        "-ac",
                        "1",
                        str(wav),
                    ],
                    check=True,
                )
                raw.unlink()
            utterances.append(Utterance(wav, text))
    return EvaluationSet("espeak", tuple(utterances))


def set_word_error_rate(evaluation: EvaluationSet, hypotheses: list[str]) -> float:
    """WER over the whole set (errors summed over utterances / reference words summed)."""
    errors = words = 0
    for utterance, hypothesis in zip(evaluation.utterances, hypotheses, strict=True):
        count = len(normalise(utterance.reference))
        errors += round(word_error_rate(utterance.reference, hypothesis) * count)
        words += count
    return errors / words if words else 0.0
