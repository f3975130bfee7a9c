"""Local agreement: only words two decodes in a row agree on are emitted, never taken back, and the final text is
the deltas' concatenation."""

from __future__ import annotations

from asr.realtime.agreement import Agreement, Heard


def heard(*texts: str) -> Heard:
    return Heard.of([(text, 5.0 * (i + 1)) for i, text in enumerate(texts)])


def test_a_word_is_emitted_once_two_decodes_agree_on_it() -> None:
    agreement = Agreement()
    assert agreement.update(heard("Mister John"), 1.0) == ""  # nothing to agree with yet
    assert agreement.update(heard("Mr. John Dash"), 1.7) == ""  # "Mister" and "Mr." differ
    assert agreement.update(heard("Mr. John Dashwood had"), 2.4) == "Mr. John"
    assert agreement.update(heard("Mr. John Dashwood had then"), 3.1) == " Dashwood had"
    assert agreement.finish(heard("Mr. John Dashwood had then leisure.")) == " then leisure."
    assert agreement.text == "Mr. John Dashwood had then leisure."
    assert agreement.deltas == ["Mr. John", " Dashwood had", " then leisure."]


def test_case_and_punctuation_do_not_hold_a_word_back() -> None:
    agreement = Agreement()
    agreement.update(heard("he was not"), 1.0)
    assert agreement.update(heard("He was, not an"), 1.7) == "He was, not"


def test_what_was_emitted_is_never_taken_back_when_the_model_changes_its_mind() -> None:
    agreement = Agreement()
    agreement.update(heard("the cat sat"), 1.0)
    assert agreement.update(heard("the cat sat on"), 1.7) == "the cat sat"
    # The next decodes hear "the hat sat": the emitted "cat" stays, and what follows is still agreed on after it.
    assert agreement.update(heard("the hat sat on the"), 2.4) == " on"
    assert agreement.update(heard("the hat sat on the mat"), 3.1) == " the"
    assert agreement.finish(heard("the hat sat on the mat.")) == " mat."
    assert agreement.text == "the cat sat on the mat."


def test_a_final_decode_that_drops_a_word_still_only_appends() -> None:
    agreement = Agreement()
    agreement.update(heard("one two three four"), 1.0)
    agreement.update(heard("one two three four five"), 1.7)
    assert agreement.text == "one two three four"
    assert agreement.finish(heard("one two four five six")) == " five six"  # aligned after the last emitted words
    assert agreement.text == "one two three four five six"


def test_a_long_turn_is_decoded_from_a_later_offset_once_its_start_is_emitted() -> None:
    agreement = Agreement(window_seconds=10.0)
    first = Heard.of([("alpha beta gamma.", 4.0), ("delta epsilon.", 9.0), ("zeta eta", 12.0)])
    agreement.update(first, 12.0)
    agreement.update(first, 12.7)
    assert agreement.text == "alpha beta gamma. delta epsilon. zeta eta"
    # Past 10 s, the decodes start at the end of the last segment all emitted that does not run to the end.
    assert agreement.offset == 9.0 and agreement.emitted == ["zeta", "eta"]
    assert agreement.update(Heard.of([("zeta eta theta", 3.0)]), 13.4) == ""
    assert agreement.update(Heard.of([("zeta eta theta iota", 4.0)]), 14.1) == " theta"
    assert agreement.finish(Heard.of([("zeta eta theta iota.", 4.5)])) == " iota."
    assert agreement.text == "alpha beta gamma. delta epsilon. zeta eta theta iota."


def test_a_full_stop_where_a_decode_stopped_is_held_back_until_the_next_decode_says_it() -> None:
    agreement = Agreement()
    agreement.update(heard("He was not."), 1.0)
    assert agreement.update(heard("He was not."), 1.3) == "He was not"  # the decode stopped there: no stop yet
    agreement.update(heard("He was not an ill"), 1.6)
    assert agreement.update(heard("He was not an ill disposed"), 1.9) == " an ill"  # it was not a sentence's end
    assert agreement.finish(heard("He was not an ill disposed young man.")) == " disposed young man."
    assert agreement.text == "He was not an ill disposed young man."


def test_a_sentence_that_does_end_where_a_decode_stopped_keeps_its_stop() -> None:
    agreement = Agreement()
    agreement.update(heard("for them."), 1.0)
    assert agreement.update(heard("for them."), 1.3) == "for them"
    agreement.update(heard("for them. He was"), 1.6)
    assert agreement.update(heard("for them. He was not"), 1.9) == ". He was"
    assert agreement.finish(heard("for them. He was not.")) == " not."
    assert agreement.text == "for them. He was not."
    # A last decode that adds nothing still gives the stop held back.
    other = Agreement()
    other.update(heard("the end."), 1.0)
    assert other.update(heard("the end."), 1.3) == "the end"
    assert other.finish(heard("the end.")) == "."
    assert other.text == "the end."
