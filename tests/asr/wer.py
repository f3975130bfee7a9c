"""Word error rate: Levenshtein distance over normalised words, divided by the reference's word count."""

from __future__ import annotations

import re

WORD = re.compile(r"[a-z0-9']+")


def normalise(text: str) -> list[str]:
    """Lower-case words without punctuation: "The fox, jumped." -> ["the", "fox", "jumped"]."""
    return WORD.findall(text.lower().replace("-", " "))


def word_error_rate(reference: str, hypothesis: str) -> float:
    """(substitutions + deletions + insertions) / reference words, over normalised words."""
    expected, actual = normalise(reference), normalise(hypothesis)
    if not expected:
        return float(bool(actual))
    previous = list(range(len(actual) + 1))
    for row, word in enumerate(expected, start=1):
        current = [row]
        for column, other in enumerate(actual, start=1):
            current.append(min(previous[column] + 1, current[column - 1] + 1, previous[column - 1] + (word != other)))
        previous = current
    return previous[-1] / len(expected)
