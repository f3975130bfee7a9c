"""The search benchmark's labelled query set asks for each fact once by its own words and once in other words."""

import re

from bench.registry.labelled import FACTS, queries

STOP_WORDS = {"after", "with", "from", "that", "this", "once", "more", "over"}


def words(text: str) -> set[str]:
    return {word.lower() for word in re.findall(r"\w+", text)}


def test_each_word_query_uses_only_its_facts_words() -> None:
    for fact in FACTS:
        assert words(fact.by_words) <= words(fact.text), fact


def test_each_meaning_query_shares_no_content_word_with_its_fact() -> None:
    """No word of four letters or more starts like one of the fact's (a crude stemmer: "camera" ~ "cameras")."""
    for fact in FACTS:
        content = {word for word in words(fact.by_meaning) if len(word) >= 4} - STOP_WORDS
        shared = {word for word in content if any(word[:5] == other[:5] for other in words(fact.text))}
        assert not shared, (fact.text, shared)


def test_every_fact_is_asked_both_ways_and_no_two_facts_share_a_text() -> None:
    asked = queries()
    assert len(asked) == 2 * len(FACTS) >= 48
    assert {index for kind, _, index in asked if kind == "by words"} == set(range(len(FACTS)))
    assert {index for kind, _, index in asked if kind == "by meaning"} == set(range(len(FACTS)))
    assert len({fact.text for fact in FACTS}) == len(FACTS)
