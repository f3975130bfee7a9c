"""What decides a window's batch, its fallback and its silence (asr/engines/windows.py), on plain stand-ins of
faster-whisper's options and tokenizer; the decoding itself runs on the real model in
tests/asr/integration/test_batching.py."""

from __future__ import annotations

from dataclasses import replace
from types import SimpleNamespace

import numpy as np
import pytest

from asr.batching import Batcher
from asr.engines.windows import (
    FRAMES,
    Decoded,
    Window,
    WindowDecoder,
    is_silence,
    key_of,
    needs_fallback,
    rest_of,
    token_budget,
    trimmed_frames,
)

THRESHOLDS = SimpleNamespace(compression_ratio_threshold=2.4, log_prob_threshold=-1.0, no_speech_threshold=0.6)


def decoded(avg_logprob: float, no_speech_prob: float = 0.1, compression_ratio: float = 1.2) -> Decoded:
    return Decoded([], avg_logprob, no_speech_prob, compression_ratio)


def options(**overrides: object) -> SimpleNamespace:
    fields: dict[str, object] = {
        "beam_size": 5,
        "best_of": 5,
        "patience": 1.0,
        "length_penalty": 1.0,
        "repetition_penalty": 1.0,
        "no_repeat_ngram_size": 0,
        "initial_prompt": None,
        "hotwords": None,
        "word_timestamps": False,
        "without_timestamps": False,
        "suppress_blank": True,
        "max_new_tokens": None,
        "prepend_punctuations": "'",
        "append_punctuations": ".",
        "suppress_tokens": [-1, 50256],
    }
    return SimpleNamespace(**{**fields, **overrides})


def window(language: str = "en", temperature: float = 0.0, **option_overrides: object) -> Window:
    tokenizer = SimpleNamespace(language_code=language, task="transcribe")
    return Window(np.zeros((80, 3000), np.float32), {}, tokenizer, options(**option_overrides), temperature)


def test_a_window_falls_back_when_too_repetitive_or_too_unlikely_but_not_when_silent() -> None:
    assert not needs_fallback(decoded(-0.3), THRESHOLDS)
    assert needs_fallback(decoded(-0.3, compression_ratio=2.6), THRESHOLDS)
    assert needs_fallback(decoded(-1.4), THRESHOLDS)
    assert not needs_fallback(decoded(-1.4, no_speech_prob=0.9), THRESHOLDS)  # silence: nothing to retry


def test_a_window_is_silence_when_the_model_hears_none_and_wrote_something_unlikely() -> None:
    assert is_silence(decoded(-1.4, no_speech_prob=0.9), THRESHOLDS)
    assert not is_silence(decoded(-0.2, no_speech_prob=0.9), THRESHOLDS)  # a confident transcript is kept
    assert not is_silence(decoded(-1.4, no_speech_prob=0.2), THRESHOLDS)


def test_windows_share_a_key_only_when_everything_that_shapes_their_decoding_matches() -> None:
    batcher: Batcher[Window, Decoded] = Batcher(lambda key, windows: [], max_size=2, max_wait=0.0)
    one, two = batcher.session(), batcher.session()
    same = key_of(window(), one)
    assert key_of(window(), two) == same  # two requests, one batch
    for different in (
        window(language="de"),
        window(temperature=0.2),
        window(beam_size=1),
        window(initial_prompt="Dashwood"),
        window(hotwords="Dashwood"),
        window(suppress_tokens=[-1]),
    ):
        assert key_of(different, one) != same
    # With word timestamps the timing carries from window to window of one request: never another request's batch.
    assert key_of(window(word_timestamps=True), one) != key_of(window(word_timestamps=True), two)
    assert key_of(window(word_timestamps=True), one) == key_of(window(word_timestamps=True), one)


def test_a_trimmed_window_keeps_its_audio_and_a_margin_in_steps_of_five_seconds() -> None:
    assert trimmed_frames(3.0) == 500  # 300 frames and 100 of margin, up to 5 s
    assert trimmed_frames(4.2) == 1000  # 420 + 100 is over 5 s
    assert trimmed_frames(12.0) == 1500
    assert trimmed_frames(29.5) == FRAMES == trimmed_frames(30.0)  # never more than the whole window
    batcher: Batcher[Window, Decoded] = Batcher(lambda key, windows: [], max_size=2, max_wait=0.0)
    session = batcher.session()
    short, longer = window(), window()
    assert key_of(replace(short, frames=500), session) != key_of(replace(longer, frames=1000), session)


class _Generated(Exception):
    pass


class _Model:
    """faster-whisper's WhisperModel as far as the decoder reaches before generating: what it asks to generate."""

    max_length = 448

    def __init__(self) -> None:
        self.asked: dict[str, object] = {}
        self.model = SimpleNamespace(generate=self._generate)

    def get_prompt(self, tokenizer: object, **_: object) -> list[int]:
        return [50257, 50362]

    def encode(self, features: np.ndarray) -> np.ndarray:
        return features

    def _generate(self, encoder_output: object, prompts: object, **kwargs: object) -> None:
        self.asked = kwargs
        raise _Generated


def test_a_trimmed_window_generates_at_most_what_its_audio_could_say_so_a_looping_decode_stops_early() -> None:
    model = _Model()
    decode = WindowDecoder(model)
    for frames, limit in ((500, 2 + token_budget(500)), (1000, 2 + token_budget(1000)), (FRAMES, 448)):
        with pytest.raises(_Generated):
            decode("k", [replace(window(), frames=frames)])
        assert model.asked["max_length"] == limit
    assert token_budget(FRAMES) is None
    assert 40 <= token_budget(500) <= 80  # 5 s of even fast speech is ~35 tokens; a loop runs to 448
    assert token_budget(1000) > token_budget(500)


def spoken(offset: float, duration: float, frames: int = FRAMES) -> Window:
    """A window of `duration` s of speech at `offset`, its features numbered by frame (to see where a rest starts)."""
    features = np.tile(np.arange(1, FRAMES + 1, dtype=np.float32), (80, 1))
    features[:, round(duration * 100) :] = 0.0  # padding past its speech, as faster-whisper pads a short window
    return replace(window(), features=features, metadata={"offset": offset, "duration": duration}, frames=frames)


def ending_at(*ends: float) -> Decoded:
    return Decoded([{"start": end - 1.0, "end": end} for end in ends], -0.2, 0.1, 1.2)


def test_the_rest_of_a_window_whose_decode_ended_early_starts_where_it_ended() -> None:
    whole = spoken(offset=40.0, duration=28.0)
    rest = rest_of(whole, ending_at(45.0, 52.5))  # 12.5 s of its 28 s covered
    assert rest is not None
    assert rest.metadata == {"offset": 52.5, "duration": 15.5}
    assert rest.features.shape == whole.features.shape
    assert rest.features[0, 0] == 1251 and rest.features[0, 1549] == 2800  # its frames from 12.5 s on, in order
    assert not rest.features[:, 1550:].any()  # then padding
    assert rest.frames == trimmed_frames(15.5)  # encoded from its own audio and a margin
    assert rest.temperature == whole.temperature and rest.tokenizer is whole.tokenizer


def test_no_rest_when_the_decode_reached_the_end_or_said_nothing() -> None:
    whole = spoken(offset=40.0, duration=28.0)
    assert rest_of(whole, ending_at(50.0, 66.5)) is None  # 1.5 s short of the end: the speech's padding
    assert rest_of(whole, ending_at(68.0)) is None
    assert rest_of(whole, Decoded([], -0.2, 0.1, 1.2)) is None  # nothing decoded: no progress to seek from
    assert rest_of(whole, ending_at(39.0)) is None  # before its start: no progress either


def test_the_rest_of_a_trimmed_window_is_trimmed_to_its_own_length_too() -> None:
    whole = spoken(offset=0.0, duration=20.0, frames=trimmed_frames(20.0))
    rest = rest_of(whole, ending_at(4.0))
    assert rest is not None and rest.metadata["duration"] == 16.0 and rest.frames == trimmed_frames(16.0)
