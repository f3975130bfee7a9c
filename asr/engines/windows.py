"""faster-whisper's windows through the model's batcher: one piece of audio split by VAD into windows of at most
30 s (faster-whisper's batched pipeline prepares them: speech timestamps, features, the language), each window
decoded in whatever batch the batcher puts it (asr/batching.py), with other requests' windows beside it.

Unlike faster-whisper's own batched pipeline, a window keeps Whisper's timestamps (segments of a sentence or so,
not one per window), falls back to the next temperature on its own when it fails the compression-ratio or
log-probability thresholds (in a batch of such windows), and is dropped when the model hears no speech in it;
and a window's result never depends on the batch it was in (the benchmark checks greedy transcripts are the same).

Trimmed (DHG_ASR_BATCH_TRIM), a window shorter than 30 s is encoded from its own frames and a margin only (CTranslate2
takes fewer than 3000), rounded up to 5 s so that windows of about one length share a batch: on a CPU the encoder is
most of a short request's cost and does not get cheaper per window in a batch, so this halves the time of short
requests, at a little accuracy (Whisper learnt on 30 s windows); bench/README.md has the figures."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Hashable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from asr.batching import Batcher, Session

WINDOW_PROMPT_KEYS = (
    "beam_size",
    "best_of",
    "patience",
    "length_penalty",
    "repetition_penalty",
    "no_repeat_ngram_size",
    "initial_prompt",
    "hotwords",
    "word_timestamps",
    "without_timestamps",
    "suppress_blank",
    "max_new_tokens",
    "prepend_punctuations",
    "append_punctuations",
)


FRAMES = 3000  # Whisper's 30 s window, in 10 ms feature frames
TRIM_STEP = 500  # trimmed windows are cut to a multiple of 5 s, so that windows of about one length share a batch
TRIM_MARGIN = 100  # and keep at least 1 s past their audio
# What a trimmed window may generate: speech is at most ~7 tokens a second (fast speech and its timestamps); a decode
# that loops ("th th th ...") stops here rather than at the model's 448 tokens, a second of decoding on 2 cores for
# half a second of audio (a live turn's first decodes loop often).
TRIMMED_TOKENS_PER_SECOND = 12
TRIMMED_TOKENS_MARGIN = 8


def trimmed_frames(duration: float) -> int:
    """The encoder input a window of `duration` seconds of audio needs when trimmed: its frames and a margin, rounded
    up to TRIM_STEP (at most the whole window)."""
    needed = int(np.ceil(duration * 100)) + TRIM_MARGIN
    return min(FRAMES, -(-needed // TRIM_STEP) * TRIM_STEP)


def token_budget(frames: int) -> int | None:
    """The tokens a window encoded from `frames` may generate: None (the model's limit) for a whole window."""
    if frames >= FRAMES:
        return None
    return TRIMMED_TOKENS_MARGIN + -(-frames * TRIMMED_TOKENS_PER_SECOND // 100)


@dataclass
class Words:
    """Where the last word heard ended, carried from window to window of one piece (faster-whisper's word timing
    uses it to trim a first word after a pause)."""

    last_speech_timestamp: float = 0.0


@dataclass(frozen=True)
class Window:
    """One window to decode: its features (80 or 128 mels by 3000 frames), where it lies in the piece, how to decode
    it, and at which temperature."""

    features: np.ndarray
    metadata: dict[str, Any]
    tokenizer: Any
    options: Any  # faster-whisper's TranscriptionOptions
    temperature: float
    words: Words = field(default_factory=Words)
    frames: int = FRAMES  # the encoder's input: all 30 s, or (trimmed) the window's audio and a margin

    def retried(self, temperature: float) -> Window:
        """The same window again at a higher temperature (a fallback)."""
        return replace(self, temperature=temperature)


@dataclass(frozen=True)
class Decoded:
    """A window's outcome: its segments (faster-whisper's dicts) and the scores that decide a fallback."""

    segments: list[dict[str, Any]]
    avg_logprob: float
    no_speech_prob: float
    compression_ratio: float


def key_of(window: Window, session: Session[Window, Decoded]) -> Hashable:
    """What must match for two windows to share a batch: the prompt (language, task, initial prompt, hotwords),
    every decoding option, the temperature; with word timestamps, also the request (word timing carries from one
    window of a piece to the next)."""
    options = window.options
    tokenizer = window.tokenizer
    decoding = tuple(_hashable(getattr(options, name)) for name in WINDOW_PROMPT_KEYS)
    suppress = tuple(options.suppress_tokens or ())
    own = session.number if options.word_timestamps else 0
    return (tokenizer.language_code, tokenizer.task, decoding, suppress, window.temperature, window.frames, own)


def _hashable(value: object) -> Hashable:
    return tuple(value) if isinstance(value, list) else value


class WindowDecoder:
    """The batcher's decode function for one faster-whisper model: encode the stacked windows once, generate them
    together, split each window's tokens into timestamped segments (and words)."""

    def __init__(self, model: Any) -> None:
        self.model = model  # faster_whisper.WhisperModel

    def __call__(self, key: Hashable, windows: Sequence[Window]) -> list[Decoded]:
        from faster_whisper.transcribe import get_compression_ratio

        model = self.model
        first = windows[0]
        tokenizer, options, temperature = first.tokenizer, first.options, first.temperature
        prompt = model.get_prompt(
            tokenizer,
            previous_tokens=tokenizer.encode(options.initial_prompt) if options.initial_prompt is not None else [],
            without_timestamps=options.without_timestamps,
            hotwords=options.hotwords,
        )
        max_length = model.max_length if options.max_new_tokens is None else len(prompt) + options.max_new_tokens
        if (budget := token_budget(first.frames)) is not None:  # all windows of a batch share their frames (key_of)
            max_length = min(max_length, len(prompt) + budget)
        encoder_output = model.encode(np.stack([window.features[:, : window.frames] for window in windows]))
        sampling: dict[str, Any] = {"beam_size": options.beam_size, "patience": options.patience}
        if temperature > 0:  # sampled, best of `best_of`, as faster-whisper's sequential fallback does
            sampling = {"beam_size": 1, "num_hypotheses": options.best_of, "sampling_topk": 0}
        results = model.model.generate(
            encoder_output,
            [list(prompt) for _ in windows],
            length_penalty=options.length_penalty,
            max_length=max_length,
            suppress_blank=options.suppress_blank,
            suppress_tokens=options.suppress_tokens,
            return_scores=True,
            return_no_speech_prob=True,
            sampling_temperature=temperature,
            repetition_penalty=options.repetition_penalty,
            no_repeat_ngram_size=options.no_repeat_ngram_size,
            **sampling,
        )
        decoded: list[Decoded] = []
        sizes: list[int] = []
        for window, result in zip(windows, results, strict=True):
            tokens = result.sequences_ids[0]
            length = len(tokens)
            avg_logprob = result.scores[0] * (length**options.length_penalty) / (length + 1)
            duration = window.metadata["duration"]
            size = int(np.ceil(duration) * model.frames_per_second)
            sizes.append(size)
            pieces, _, _ = model._split_segments_by_timestamps(
                tokenizer=tokenizer,
                tokens=tokens,
                time_offset=window.metadata["offset"],
                segment_size=size,
                segment_duration=duration,
                seek=0,
            )
            seek = int(window.metadata["offset"] * model.frames_per_second)
            segments = []
            for piece in pieces:
                text = tokenizer.decode(piece["tokens"])
                segments.append(
                    {
                        "text": text,
                        "tokens": piece["tokens"],
                        "start": piece["start"],
                        "end": piece["end"],
                        "seek": seek,
                        "compression_ratio": get_compression_ratio(text),
                    }
                )
            text = tokenizer.decode([token for token in tokens if token < tokenizer.eot])
            decoded.append(Decoded(segments, float(avg_logprob), float(result.no_speech_prob), _ratio(text)))
        if options.word_timestamps:  # one request's windows (key_of), in their order
            words = first.words
            words.last_speech_timestamp = (
                model.add_word_timestamps(
                    [item.segments for item in decoded],
                    tokenizer,
                    encoder_output,
                    sizes,
                    options.prepend_punctuations,
                    options.append_punctuations,
                    words.last_speech_timestamp,
                )
                or words.last_speech_timestamp
            )
        return decoded


def _ratio(text: str) -> float:
    from faster_whisper.transcribe import get_compression_ratio

    return float(get_compression_ratio(text)) if text else 0.0


def needs_fallback(decoded: Decoded, options: Any) -> bool:
    """faster-whisper's sequential rule: too repetitive or too unlikely, unless it is silence."""
    failed = (
        options.compression_ratio_threshold is not None
        and decoded.compression_ratio > options.compression_ratio_threshold
    ) or (options.log_prob_threshold is not None and decoded.avg_logprob < options.log_prob_threshold)
    silent = (
        options.no_speech_threshold is not None
        and decoded.no_speech_prob > options.no_speech_threshold
        and options.log_prob_threshold is not None
        and decoded.avg_logprob < options.log_prob_threshold
    )
    return failed and not silent


def is_silence(decoded: Decoded, options: Any) -> bool:
    """faster-whisper's no-speech skip: the model is sure it heard nothing and what it wrote is unlikely."""
    if options.no_speech_threshold is None or decoded.no_speech_prob <= options.no_speech_threshold:
        return False
    return options.log_prob_threshold is None or decoded.avg_logprob <= options.log_prob_threshold


RESEEK_SECONDS = 2.0  # a decode that ends this far before its window's speech does is followed by the rest
MAX_RESEEKS = 4  # rests of one window at most (each starts later than the last)


def rest_of(window: Window, decoded: Decoded) -> Window | None:
    """The part of `window` after its decode's last segment, as a window of its own (its features from there on,
    padded as faster-whisper pads a short window, trimmed), when RESEEK_SECONDS or more of it were left; else None."""
    if not decoded.segments:
        return None
    offset, duration = window.metadata["offset"], window.metadata["duration"]
    covered = float(decoded.segments[-1]["end"]) - offset
    if covered <= 0 or duration - covered < RESEEK_SECONDS:
        return None
    cut = min(round(covered * 100), window.features.shape[-1] - 1)
    features = np.pad(window.features[:, cut:], ((0, 0), (0, cut)))
    left = duration - cut / 100
    metadata = {**window.metadata, "offset": offset + cut / 100, "duration": left}
    # Encoded from its own audio and a margin, with the token budget of that length: a rest is a few seconds, and
    # decoded from all 30 s (mostly padding) it looped to the model's 448 tokens and fell back through every
    # temperature (3 min of speech: RTF 11 -> 3 for four rests).
    return replace(window, features=features, metadata=metadata, frames=trimmed_frames(left))


def submitting_pipeline(
    model: Any,
    batcher: Batcher[Window, Decoded],
    temperatures: Sequence[float],
    *,
    trim: bool = False,
    lead: int = 0,
    priority: int = 0,
    reseek: bool = True,
) -> tuple[Any, Callable[[], None]]:
    """A faster-whisper BatchedInferencePipeline whose windows go to `batcher` (submitted as soon as it has prepared
    them, before its segments are read), and the function that drops those still waiting; with `reseek`, a window
    whose decode ended early has the rest of it decoded (`rest_of`). With `lead` above 0, at
    most that many windows wait ahead of the one being read (a stream's segments then come window by window, each
    window in a batch with other requests' rather than all of a piece in one)."""
    from faster_whisper import BatchedInferencePipeline
    from faster_whisper.transcribe import Segment, Word

    session = batcher.session(priority)
    fallbacks = tuple(temperatures) or (0.0,)

    class Submitting(BatchedInferencePipeline):  # type: ignore[misc]
        def _batched_segments_generator(  # faster-whisper calls it with what it prepared
            self, features: Any, tokenizer: Any, chunks_metadata: Any, batch_size: int, options: Any, progress: Any
        ) -> Iterator[Any]:
            words = Words()
            windows = [
                Window(
                    feature,
                    metadata,
                    tokenizer,
                    options,
                    fallbacks[0],
                    words,
                    trimmed_frames(metadata["duration"]) if trim else FRAMES,
                )
                for feature, metadata in zip(features, chunks_metadata, strict=False)
            ]
            ahead = len(windows) if lead <= 0 else lead
            futures = deque(session.submit(key_of(window, session), window) for window in windows[:ahead])
            return _segments(windows, futures, ahead)

    def _decoded(window: Window, future: Any) -> tuple[Decoded, float]:
        """A window's outcome and its temperature, falling back while it fails the thresholds."""
        decoded, temperature = future.result(), window.temperature
        for next_temperature in fallbacks[1:]:
            if not needs_fallback(decoded, window.options):
                break
            retry = window.retried(next_temperature)
            decoded, temperature = session.submit(key_of(retry, session), retry).result(), next_temperature
        return decoded, temperature

    def _segments(windows: list[Window], futures: deque[Any], ahead: int) -> Iterator[Any]:
        number = 0
        try:
            for index, window in enumerate(windows):
                future = futures.popleft()
                if index + ahead < len(windows):  # keep `ahead` windows queued
                    following = windows[index + ahead]
                    futures.append(session.submit(key_of(following, session), following))
                for decoded, temperature in _with_rest(window, future):
                    for segment in decoded.segments:
                        number += 1
                        yield _segment_object(number, segment, decoded, temperature)
        finally:
            session.close()

    def _with_rest(window: Window, future: Any) -> Iterator[tuple[Decoded, float]]:
        """The window's outcome, then, while a decode ended RESEEK_SECONDS or more before its window's speech did,
        the outcome of the rest of the window from where it ended (as the sequential decode seeks on from its last
        timestamp): a decode that stops early (a fallback's sampled text often does) loses none of the speech."""
        for _ in range(MAX_RESEEKS + 1):
            decoded, temperature = _decoded(window, future)
            if is_silence(decoded, window.options):
                return
            yield decoded, temperature
            rest = rest_of(window, decoded) if reseek else None
            if rest is None:
                return
            window, future = rest, session.submit(key_of(rest, session), rest)

    def _segment_object(number: int, segment: dict[str, Any], decoded: Decoded, temperature: float) -> Any:
        return Segment(
            id=number,
            seek=segment["seek"],
            start=round(segment["start"], 3),
            end=round(segment["end"], 3),
            text=segment["text"],
            tokens=segment["tokens"],
            avg_logprob=decoded.avg_logprob,
            compression_ratio=segment["compression_ratio"],
            no_speech_prob=decoded.no_speech_prob,
            words=[Word(**word) for word in segment["words"]] if "words" in segment else None,
            temperature=temperature,
        )

    return Submitting(model), session.close
