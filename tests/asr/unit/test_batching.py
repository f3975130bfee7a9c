"""The batcher (asr/batching.py) with a stand-in decode: what goes into one batch, in what order, what never does,
and what a closed session or a failing decode does. Each test makes its batches deterministic by holding the decode
on an event or by a wait long enough that only a full batch starts one; none asserts a duration."""

from __future__ import annotations

import threading
from collections.abc import Hashable, Sequence
from concurrent.futures import CancelledError

import pytest
from prometheus_client import REGISTRY

from asr.batching import Batcher

LONG = 60.0  # a max_wait no test reaches: a batch starts only when full


class Recorder:
    """A decode that records each batch (key, payloads) and answers each payload with (key, payload); `gate`, when
    set, holds every batch until it is released."""

    def __init__(self, gate: threading.Event | None = None) -> None:
        self.batches: list[tuple[Hashable, list[str]]] = []
        self.gate = gate
        self.started = threading.Event()

    def __call__(self, key: Hashable, payloads: Sequence[str]) -> list[tuple[Hashable, str]]:
        self.started.set()
        if self.gate is not None:
            assert self.gate.wait(30)
        self.batches.append((key, list(payloads)))
        return [(key, payload) for payload in payloads]


def test_two_sessions_windows_of_one_key_share_a_batch_and_each_gets_its_own_results_in_order() -> None:
    decode = Recorder()
    batcher = Batcher(decode, max_size=4, max_wait=LONG, model="m", device="cpu")
    with batcher.session() as a, batcher.session() as b:
        futures_a = [a.submit("k", f"a{i}") for i in range(2)]
        futures_b = [b.submit("k", f"b{i}") for i in range(2)]
        assert [f.result(30) for f in futures_a] == [("k", "a0"), ("k", "a1")]
        assert [f.result(30) for f in futures_b] == [("k", "b0"), ("k", "b1")]
    assert decode.batches == [("k", ["a0", "b0", "a1", "b1"])]  # round-robin, each session's windows in order


def test_a_batch_never_exceeds_max_size_nor_mixes_keys() -> None:
    gate = threading.Event()
    decode = Recorder(gate)
    batcher = Batcher(decode, max_size=3, max_wait=0.0)
    with batcher.session() as a, batcher.session() as b:
        first = a.submit("x", "hold")  # decoded alone while the rest queue behind the gate
        assert decode.started.wait(30)
        futures = [a.submit("x", f"x{i}") for i in range(4)] + [b.submit("y", f"y{i}") for i in range(2)]
        gate.set()
        for future in [first, *futures]:
            future.result(30)
    for key, payloads in decode.batches:
        assert len(payloads) <= 3
        assert all(payload.startswith(str(key)) or payload == "hold" for payload in payloads)
    assert sorted(p for _, payloads in decode.batches for p in payloads) == sorted(
        ["hold", "x0", "x1", "x2", "x3", "y0", "y1"]
    )


def test_a_short_request_is_not_starved_by_a_long_one() -> None:
    """A long file's 20 windows are all waiting before a one-window request arrives: that window is in the very next
    batch, and the long file fills the rest of it."""
    gate = threading.Event()
    decode = Recorder(gate)
    batcher = Batcher(decode, max_size=4, max_wait=0.0)
    with batcher.session() as long, batcher.session() as short:
        futures = [long.submit("k", f"long{i}") for i in range(20)]
        assert decode.started.wait(30)  # the first batch is being decoded (held)
        alone = short.submit("k", "short")
        gate.set()
        alone.result(30)
        for future in futures:
            future.result(30)
    after_first = decode.batches[1][1]
    assert "short" in after_first and len(after_first) == 4, decode.batches


def test_a_closed_session_loses_its_waiting_windows_and_they_are_never_decoded() -> None:
    gate = threading.Event()
    decode = Recorder(gate)
    batcher = Batcher(decode, max_size=2, max_wait=0.0)
    keep, gone = batcher.session(), batcher.session()
    first = keep.submit("k", "first")
    assert decode.started.wait(30)
    dropped = [gone.submit("k", f"gone{i}") for i in range(3)]
    kept = keep.submit("k", "kept")
    gone.close()
    gate.set()
    assert kept.result(30) == ("k", "kept") and first.result(30) == ("k", "first")
    for future in dropped:
        with pytest.raises(CancelledError):
            future.result(30)
    assert gone.submit("k", "late").cancelled()  # nothing more is taken from a closed session
    assert not any(p.startswith("gone") or p == "late" for _, payloads in decode.batches for p in payloads)
    keep.close()


def test_a_failed_decode_fails_its_batch_only_and_the_batcher_goes_on() -> None:
    calls: list[list[str]] = []

    def decode(key: Hashable, payloads: Sequence[str]) -> list[str]:
        calls.append(list(payloads))
        if "bad" in payloads:
            raise RuntimeError("the model failed")
        return [payload.upper() for payload in payloads]

    batcher = Batcher(decode, max_size=2, max_wait=LONG)
    with batcher.session() as a, batcher.session() as b:
        failing = [a.submit("k", "bad"), b.submit("k", "fine")]
        for future in failing:
            with pytest.raises(RuntimeError, match="the model failed"):
                future.result(30)
        later = [a.submit("k", "next"), b.submit("k", "one")]
        assert [f.result(30) for f in later] == ["NEXT", "ONE"]


def test_a_decode_that_answers_too_few_results_fails_the_batch() -> None:
    batcher = Batcher(lambda key, payloads: list(payloads)[:1], max_size=2, max_wait=LONG)
    with batcher.session() as a:
        futures = [a.submit("k", "one"), a.submit("k", "two")]
        for future in futures:
            with pytest.raises(RuntimeError, match="2 windows was decoded into 1"):
                future.result(30)


def test_without_batching_across_sessions_a_batch_holds_one_sessions_windows() -> None:
    gate = threading.Event()
    decode = Recorder(gate)
    batcher = Batcher(decode, max_size=8, max_wait=0.0, across_sessions=False)
    with batcher.session() as a, batcher.session() as b:
        first = a.submit("k", "a-hold")
        assert decode.started.wait(30)
        futures = [a.submit("k", "a1"), b.submit("k", "b1"), a.submit("k", "a2"), b.submit("k", "b2")]
        gate.set()
        for future in [first, *futures]:
            future.result(30)
    for _, payloads in decode.batches:
        assert len({payload[0] for payload in payloads}) == 1, decode.batches
    assert [payloads for _, payloads in decode.batches][1:] in (
        [["a1", "a2"], ["b1", "b2"]],
        [["b1", "b2"], ["a1", "a2"]],
    )


def test_a_lone_window_is_decoded_after_the_wait_even_though_its_batch_is_not_full() -> None:
    batcher = Batcher(Recorder(), max_size=8, max_wait=0.01)
    with batcher.session() as a:
        assert a.submit("k", "alone").result(30) == ("k", "alone")


def test_the_batch_size_and_wait_are_measured() -> None:
    labels = {"model": "metrics-test", "device": "cpu"}

    def sample(name: str) -> float:
        return REGISTRY.get_sample_value(name, labels) or 0.0

    before = (
        sample("dhg_asr_batch_size_count"),
        sample("dhg_asr_batch_size_sum"),
        sample("dhg_asr_batch_wait_seconds_count"),
    )
    batcher = Batcher(Recorder(), max_size=3, max_wait=LONG, model="metrics-test", device="cpu")
    with batcher.session() as a, batcher.session() as b:
        futures = [a.submit("k", "1"), b.submit("k", "2"), a.submit("k", "3")]
        for future in futures:
            future.result(30)
    after = (
        sample("dhg_asr_batch_size_count"),
        sample("dhg_asr_batch_size_sum"),
        sample("dhg_asr_batch_wait_seconds_count"),
    )
    assert (after[0] - before[0], after[1] - before[1], after[2] - before[2]) == (1, 3, 3)
    assert batcher.batches == 1


def test_a_batch_holds_at_least_one_window() -> None:
    with pytest.raises(ValueError, match="at least one"):
        Batcher(Recorder(), max_size=0, max_wait=0.0)


def test_the_settings_say_how_many_windows_a_model_batches_and_how_many_requests_run() -> None:
    from asr.settings import Settings

    batched = Settings()
    assert (batched.window_batch, batched.decoders) == (8, 8)  # on by default: as many requests as a batch holds
    assert (Settings(batch_size=1).window_batch, Settings(batch_size=1).decoders) == (1, 1)  # off: in sequence
    assert Settings(batch_size=8, concurrency=2).decoders == 2
    assert Settings(batch_size=8, engine="openai-whisper").window_batch == 1  # that engine decodes unbatched


def test_a_session_of_a_higher_priority_has_its_turn_before_any_waiting_window_of_a_lower_one() -> None:
    """A file's windows wait behind a held batch; a live turn's last decode (priority 2) and a turn's first-words
    decode (1) arrive after them: they are decoded next, the higher first, and the file goes on after."""
    gate = threading.Event()
    decode = Recorder(gate)
    batcher = Batcher(decode, max_size=1, max_wait=0.0)
    with batcher.session() as file, batcher.session(priority=1) as first, batcher.session(priority=2) as final:
        futures = [file.submit("k", f"file{i}") for i in range(4)]
        assert decode.started.wait(30)  # file0 is being decoded (held)
        words = first.submit("k", "first-words")
        last = final.submit("k", "final")
        gate.set()
        for future in [*futures, words, last]:
            future.result(30)
    order = [payloads[0] for _, payloads in decode.batches]
    assert order == ["file0", "final", "first-words", "file1", "file2", "file3"], order
