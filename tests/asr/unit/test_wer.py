from asr.evaluation import normalise, word_error_rate


def test_normalise_drops_case_and_punctuation() -> None:
    assert normalise("The quick, brown fox-cub jumped.") == ["the", "quick", "brown", "fox", "cub", "jumped"]


def test_identical_text_after_normalisation_has_no_errors() -> None:
    assert word_error_rate("The lazy dog.", " the LAZY dog") == 0.0


def test_substitution_deletion_and_insertion_each_count_once() -> None:
    assert word_error_rate("a b c d", "a x c d") == 0.25
    assert word_error_rate("a b c d", "a c d") == 0.25
    assert word_error_rate("a b c d", "a b c d e") == 0.25


def test_empty_reference() -> None:
    assert word_error_rate("", "") == 0.0
    assert word_error_rate("", "word") == 1.0
