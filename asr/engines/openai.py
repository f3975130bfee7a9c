"""openai-whisper (PyTorch): the seed's engine, an optional extra. Runs converted CTranslate2 weights
(`python -m asr.convert`) offline; VAD comes from faster-whisper's Silero model through `clip_timestamps`."""

from __future__ import annotations

from typing import Any

import numpy as np

from asr.engines.base import SAMPLE_RATE, Audio, Options, Segment, Transcription, TranscriptionInfo, Word

MIN_CLIP_SECONDS = 0.1


def speech_clips(audio: Audio) -> list[float]:
    """Start/end times (seconds, flattened) of the speech that Silero VAD finds; empty when there is none."""
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    spans = get_speech_timestamps(audio, VadOptions())
    clips: list[float] = []
    for span in spans:
        start, end = span["start"] / SAMPLE_RATE, span["end"] / SAMPLE_RATE
        if end - start >= MIN_CLIP_SECONDS:
            clips += [round(start, 3), round(end, 3)]
    return clips


def _segment(raw: dict[str, Any]) -> Segment:
    words = None
    if "words" in raw:
        words = tuple(Word(w["start"], w["end"], w["word"], w["probability"]) for w in raw["words"])
    return Segment(
        start=raw["start"],
        end=raw["end"],
        text=raw["text"],
        words=words,
        avg_logprob=raw.get("avg_logprob"),
        no_speech_prob=raw.get("no_speech_prob"),
        compression_ratio=raw.get("compression_ratio"),
        temperature=raw.get("temperature"),
    )


class OpenAIWhisperEngine:
    name = "openai-whisper"

    def __init__(self, checkpoint: str, *, model: str, device: str) -> None:
        import torch
        import whisper

        self.model = model
        self.device = device
        self.compute_type = "float16" if device == "cuda" else "float32"
        self._model = whisper.load_model(checkpoint, device=device)
        heads = torch.load(checkpoint, map_location="cpu", weights_only=False).get("alignment_heads")
        if heads is not None:
            self._model.set_alignment_heads(heads)
        self.multilingual = bool(self._model.is_multilingual)

    def transcribe(self, audio: Audio, options: Options) -> Transcription:
        import whisper

        duration = len(audio) / SAMPLE_RATE
        clips: list[float] | str = "0"
        if options.vad:
            clips = speech_clips(audio)
            if not clips:
                return Transcription(iter(()), TranscriptionInfo(options.language or "en", 1.0, duration))
        language = options.language or ("en" if not self.multilingual else None)
        result = whisper.transcribe(
            self._model,
            np.ascontiguousarray(audio, dtype=np.float32),
            task=options.task,
            language=language,
            initial_prompt=options.prompt,
            temperature=tuple(options.temperature),
            beam_size=options.beam_size,
            word_timestamps=options.word_timestamps,
            condition_on_previous_text=options.condition_on_previous_text,
            compression_ratio_threshold=options.compression_ratio_threshold,
            logprob_threshold=options.log_prob_threshold,
            no_speech_threshold=options.no_speech_threshold,
            clip_timestamps=clips,
            fp16=self.device == "cuda",
            verbose=None,
        )
        segments = [_segment(s) for s in result["segments"]]
        info = TranscriptionInfo(result.get("language") or language or "en", 1.0, duration)
        return Transcription(iter(segments), info)

    def detect_language(self, audio: Audio) -> list[tuple[str, float]]:
        import whisper

        if not self.multilingual:
            return [("en", 1.0)]
        mel = whisper.log_mel_spectrogram(whisper.pad_or_trim(audio), self._model.dims.n_mels).to(self.device)
        _, probabilities = self._model.detect_language(mel)
        return sorted(((k, float(v)) for k, v in probabilities.items()), key=lambda kv: -kv[1])
