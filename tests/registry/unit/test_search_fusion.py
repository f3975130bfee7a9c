"""Reciprocal rank fusion (registry.store.search.fuse), pure."""

import uuid

import pytest

from registry.store.search import fuse

A, B, C, D = (uuid.UUID(int=n) for n in (1, 2, 3, 4))


def ranking(*ids: uuid.UUID) -> list[dict[str, object]]:
    return [{"segment_id": segment, "text": str(segment.int), "score": 0.0} for segment in ids]


def test_a_hit_in_both_rankings_beats_one_first_in_only_one() -> None:
    fused = fuse([ranking(A, B), ranking(B, C)], limit=10)
    assert [hit["segment_id"] for hit in fused] == [B, A, C]
    assert fused[0]["score"] == pytest.approx(1 / 62 + 1 / 61)
    assert fused[1]["score"] == pytest.approx(1 / 61) and fused[2]["score"] == pytest.approx(1 / 62)


def test_ties_are_broken_by_segment_id_whatever_the_input_order() -> None:
    one = fuse([ranking(D, C), ranking(C, D)], limit=10)
    other = fuse([ranking(C, D), ranking(D, C)], limit=10)
    assert [hit["segment_id"] for hit in one] == [hit["segment_id"] for hit in other] == [C, D]


def test_an_empty_side_leaves_the_other_ranking_as_it_is_and_the_limit_holds() -> None:
    assert [hit["segment_id"] for hit in fuse([ranking(), ranking(C, A, B)], limit=2)] == [C, A]
    assert fuse([ranking(), ranking()], limit=5) == []
