"""The languages benchmark's scores (bench/languages/run.py): chrF and the share of reference words found."""

import pytest

from bench.languages import corpus
from bench.languages.run import chrf, word_recall


def test_chrf_is_100_for_the_same_text_and_falls_with_the_characters_shared() -> None:
    reference = "The children played in the park all afternoon."
    assert chrf(reference, reference) == pytest.approx(100.0)
    assert chrf(reference, "the children  played in the park all afternoon.") == pytest.approx(100.0)  # spaces, case
    close = chrf(reference, "The kids played in the park the whole afternoon.")
    far = chrf(reference, "Los niños jugaron en el parque toda la tarde.")
    assert 100 > close > far > 0
    assert chrf(reference, "") == 0.0


def test_word_recall_counts_each_reference_word_as_often_as_it_occurs() -> None:
    assert word_recall("the park, the town", "The park") == pytest.approx(0.5)
    assert word_recall("Good morning", "good morning everyone") == 1.0


def test_every_language_says_the_same_five_sentences_with_a_voice() -> None:
    assert set(corpus.SENTENCES) == set(corpus.VOICES) and len(corpus.SENTENCES) >= 6
    assert all(len(lines) == len(corpus.ENGLISH) for lines in corpus.SENTENCES.values())
    assert sum(voice.neural for voice in corpus.VOICES.values()) >= 5
