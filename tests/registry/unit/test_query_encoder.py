"""registry.embeddings.QueryEncoder: queries that arrive while the model is busy share its next call, each gets its
own vector back, and a query whose request went away is left out.

The model here is a stand-in that holds its call until the test lets it go (so what arrives meanwhile is known,
not raced) and answers each text with a vector made from it; the real model's batching is shown by the search
integration test (tests/registry/integration/test_search.py).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence

import pytest

from registry import metrics
from registry.embeddings import QueryEncoder


class HeldModel:
    """An embedder whose every call waits for `release`; `calls` holds the texts of each call, in order."""

    dimensions = 2

    def __init__(self, fail_on: str | None = None) -> None:
        self.calls: list[list[str]] = []
        self.started = threading.Semaphore(0)
        self.release = threading.Event()
        self.fail_on = fail_on

    def encode(self, texts: Sequence[str]) -> list[list[float]]:
        self.calls.append(list(texts))
        self.started.release()
        assert self.release.wait(30), "the test never let the model go"
        if self.fail_on in texts:
            raise RuntimeError("the model failed")
        return [[float(len(text)), float(sum(map(ord, text)))] for text in texts]


def vector(text: str) -> list[float]:
    return [float(len(text)), float(sum(map(ord, text)))]


async def started(model: HeldModel) -> None:
    assert await asyncio.to_thread(model.started.acquire, True, 30), "the model was never called"


def batches_observed() -> tuple[float, float]:
    samples = {s.name: s.value for s in metrics.SEARCH_QUERY_BATCH_SIZE.collect()[0].samples if "le" not in s.labels}
    return samples["dhg_registry_search_query_batch_size_count"], samples["dhg_registry_search_query_batch_size_sum"]


async def test_queries_that_wait_share_the_next_call_and_each_gets_its_own_vector():
    model = HeldModel()
    encoder = QueryEncoder(model)
    count, total = batches_observed()
    first = asyncio.create_task(encoder.encode("alpha"))
    await started(model)  # the model is busy with the first query alone: nothing waited to fill a batch
    waiting = [asyncio.create_task(encoder.encode(text)) for text in ("bravo", "charlie two", "delta", "bravo")]
    await asyncio.sleep(0.05)
    model.release.set()
    assert await first == vector("alpha")
    assert [await task for task in waiting] == [vector(t) for t in ("bravo", "charlie two", "delta", "bravo")]
    assert model.calls == [["alpha"], ["bravo", "charlie two", "delta", "bravo"]]
    assert batches_observed() == (count + 2, total + 5)


async def test_a_query_whose_request_went_away_is_left_out_of_its_batch():
    model = HeldModel()
    encoder = QueryEncoder(model)
    first = asyncio.create_task(encoder.encode("alpha"))
    await started(model)
    gone = asyncio.create_task(encoder.encode("gone"))
    kept = asyncio.create_task(encoder.encode("kept"))
    await asyncio.sleep(0.05)
    gone.cancel()
    model.release.set()
    assert await first == vector("alpha") and await kept == vector("kept")
    with pytest.raises(asyncio.CancelledError):
        await gone
    assert model.calls == [["alpha"], ["kept"]]


async def test_a_batch_holds_at_most_max_batch_queries_and_the_rest_go_next():
    model = HeldModel()
    encoder = QueryEncoder(model, max_batch=2)
    first = asyncio.create_task(encoder.encode("a"))
    await started(model)
    rest = [asyncio.create_task(encoder.encode(text)) for text in ("b", "c", "d", "e", "f")]
    await asyncio.sleep(0.05)
    model.release.set()
    assert await first == vector("a") and [await task for task in rest] == [vector(t) for t in "bcdef"]
    assert model.calls == [["a"], ["b", "c"], ["d", "e"], ["f"]]


async def test_a_failed_call_fails_each_query_of_its_batch_and_the_next_batch_runs():
    model = HeldModel(fail_on="bad")
    encoder = QueryEncoder(model)
    first = asyncio.create_task(encoder.encode("alpha"))
    await started(model)
    doomed = [asyncio.create_task(encoder.encode(text)) for text in ("bad", "innocent")]
    await asyncio.sleep(0.05)
    model.release.set()
    assert await first == vector("alpha")
    for task in doomed:
        with pytest.raises(RuntimeError, match="the model failed"):
            await task
    assert await encoder.encode("after") == vector("after")  # the encoder is not stuck
    assert model.calls[-1] == ["after"]
