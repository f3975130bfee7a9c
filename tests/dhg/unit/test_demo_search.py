"""`dhg up`'s search of the sample: it waits for semantic search on the condition itself (the model loaded, the
sample embedded), and says why when it searches full text instead."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from dhg.demo import search_sample
from dhg_contract.client import RegistryAPIError
from dhg_contract.schemas import SearchHit, SearchResult

TRANSCRIPT_ID = uuid.uuid4()


def hit(text: str) -> SearchHit:
    return SearchHit(
        segment_id=uuid.uuid4(), transcript_id=TRANSCRIPT_ID, asset_id=None, position=0, start=0, end=1, text=text,
        language="en", score=0.5,
    )  # fmt: skip


class FakeRegistry:
    """Answers semantic searches from a script (an exception to raise, or hits), full text always with one hit."""

    def __init__(self, semantic: list[Any]) -> None:
        self.semantic = semantic
        self.calls: list[str] = []

    def search(self, query: str, *, transcript_id: uuid.UUID, mode: str) -> SearchResult:
        self.calls.append(mode)
        if mode == "fulltext":
            return SearchResult(query=query, mode="fulltext", items=[hit("young man")])
        answer = self.semantic.pop(0) if len(self.semantic) > 1 else self.semantic[0]
        if isinstance(answer, Exception):
            raise answer
        return SearchResult(query=query, mode="semantic", items=answer)


class Transcript:
    id = TRANSCRIPT_ID


LOADING = RegistryAPIError(503, {}, "loading", retry_after=5)
OFF = RegistryAPIError(503, {}, "off")


def test_it_waits_while_the_model_loads_and_the_sample_is_embedded_then_searches_by_meaning() -> None:
    registry = FakeRegistry([LOADING, LOADING, [], [], [hit("selfish")]])
    slept: list[float] = []
    found, note = search_sample(registry, Transcript(), timeout=3600, sleep=slept.append)  # type: ignore[arg-type]
    assert found.mode == "semantic" and found.items[0].text == "selfish" and note == ""
    assert registry.calls == ["semantic"] * 5 and slept == [1.0, 1.0, 0.2, 0.2]


def test_semantic_search_off_is_full_text_at_once_without_a_note() -> None:
    registry = FakeRegistry([OFF])
    found, note = search_sample(registry, Transcript(), timeout=3600, sleep=pytest.fail)  # type: ignore[arg-type]
    assert found.mode == "fulltext" and note == "" and registry.calls == ["semantic", "fulltext"]


@pytest.mark.parametrize(
    ("semantic", "why"),
    [([LOADING], "the embedding model was still loading"), ([[]], "the sample's segments were not embedded yet")],
)
def test_not_ready_within_the_wait_is_full_text_saying_why(semantic: list[Any], why: str) -> None:
    registry = FakeRegistry(semantic)
    found, note = search_sample(registry, Transcript(), timeout=0, sleep=pytest.fail)  # type: ignore[arg-type]
    assert found.mode == "fulltext" and found.items
    assert note.startswith(f"{why} after 0 s")


def test_other_refusals_are_not_swallowed() -> None:
    registry = FakeRegistry([RegistryAPIError(401, {}, "bad token")])
    with pytest.raises(RegistryAPIError):
        search_sample(registry, Transcript(), timeout=60, sleep=pytest.fail)  # type: ignore[arg-type]
