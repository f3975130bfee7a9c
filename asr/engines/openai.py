"""openai-whisper (PyTorch): the seed's engine, an optional extra. Runs converted CTranslate2 weights
(`python -m asr.convert`) offline; VAD comes from faster-whisper's Silero model."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from asr.devices import torch_name
from asr.engines.base import (
    SAMPLE_RATE,
    Audio,
    Options,
    Segment,
    Transcription,
    TranscriptionInfo,
    Word,
)
from asr.vad import Speech, speech_only
from dhg_core.vocabulary import Device


def _identity(time: float, is_end: bool) -> float:
    return time


def _segment(raw: dict[str, Any], original_time: Callable[[float, bool], float] = _identity) -> Segment:
    words = None
    if "words" in raw:
        words = tuple(
            Word(original_time(w["start"], False), original_time(w["end"], True), w["word"], w["probability"])
            for w in raw["words"]
        )
    return Segment(
        start=original_time(raw["start"], False),
        end=original_time(raw["end"], True),
        text=raw["text"],
        words=words,
        avg_logprob=raw.get("avg_logprob"),
        no_speech_prob=raw.get("no_speech_prob"),
        compression_ratio=raw.get("compression_ratio"),
        temperature=raw.get("temperature"),
    )


class OpenAIWhisperEngine:
    name = "openai-whisper"

    def __init__(self, checkpoint: str, *, model: str, device: Device) -> None:
        import torch
        import whisper

        self.model = model
        self.device = device
        self.compute_type = "float16" if device == "gpu" else "float32"
        self._model = whisper.load_model(checkpoint, device=torch_name(device))
        heads = torch.load(checkpoint, map_location="cpu", weights_only=False).get("alignment_heads")
        if heads is not None:
            self._model.set_alignment_heads(heads)
        self.multilingual = bool(self._model.is_multilingual)

    def transcribe(self, audio: Audio, options: Options) -> Transcription:
        import whisper

        duration = len(audio) / SAMPLE_RATE
        language = options.language or ("en" if not self.multilingual else None)
        speech = speech_only(audio, options.vad_settings) if options.vad else Speech(audio, _identity)
        if speech is None:
            return Transcription(iter(()), TranscriptionInfo(language or "en", 1.0, duration))
        result = whisper.transcribe(
            self._model,
            np.ascontiguousarray(speech.audio, dtype=np.float32),
            task=options.task,
            language=language,
            # openai-whisper has no hotwords: they go before the prompt, which steers its decoder the same way
            initial_prompt=" ".join(part for part in (options.hotwords, options.prompt) if part) or None,
            temperature=tuple(options.temperature),
            beam_size=options.beam_size,
            word_timestamps=options.word_timestamps,
            condition_on_previous_text=options.condition_on_previous_text,
            compression_ratio_threshold=options.compression_ratio_threshold,
            logprob_threshold=options.log_prob_threshold,
            no_speech_threshold=options.no_speech_threshold,
            fp16=self.device == "gpu",
            verbose=None,
        )
        segments = [_segment(s, speech.original_time) for s in result["segments"]]
        info = TranscriptionInfo(result.get("language") or language or "en", 1.0, duration)
        return Transcription(iter(segments), info)

    def prompt_tokens(self, prompt: str) -> int:
        from whisper.tokenizer import get_tokenizer

        return len(get_tokenizer(self.multilingual).encode(" " + prompt.strip()))

    def detect_language(self, audio: Audio) -> list[tuple[str, float]]:
        import whisper

        if not self.multilingual:
            return [("en", 1.0)]
        mel = whisper.log_mel_spectrogram(whisper.pad_or_trim(audio), self._model.dims.n_mels).to(
            torch_name(self.device)
        )
        _, probabilities = self._model.detect_language(mel)
        return sorted(((k, float(v)) for k, v in probabilities.items()), key=lambda kv: -kv[1])
