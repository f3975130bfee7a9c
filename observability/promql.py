"""The metric names a PromQL expression reads, by a small tokeniser (no parser: promtool and the Prometheus HTTP API
check syntax; this only has to find the names so tests can hold them against what the services export).

What is not a metric name: strings, label matchers inside `{...}`, ranges and subquery steps inside `[...]`, the
label lists of `by`, `without`, `on`, `ignoring`, `group_left` and `group_right`, numbers and durations, keywords,
and any identifier followed by `(` (a function or an aggregation). Grafana's `$variables` are dropped first.
"""

from __future__ import annotations

import re

KEYWORDS = frozenset(
    {"and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring", "group_left", "group_right", "atan2"}
)
NUMBER_WORDS = frozenset({"inf", "nan"})  # PromQL's literals, any case

_COMMENT = re.compile(r"#[^\n]*")
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_VARIABLE = re.compile(r"\$\{[^}]*\}|\$\w+")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_IDENTIFIER = re.compile(r"(?<![\w.:])[A-Za-z_:][\w:]*")
_NAME_MATCHER = re.compile(r'__name__\s*=\s*"([^"]+)"')


def _without_strings(expr: str) -> str:
    """The expression with every string literal emptied (quotes kept, so `{a=""}` stays well formed)."""
    return _STRING.sub('""', expr)


def _strip_brackets(text: str, opening: str, closing: str) -> str:
    """`text` with everything inside `opening`...`closing` removed (these do not nest in PromQL)."""
    return re.sub(re.escape(opening) + r"[^" + re.escape(closing) + r"]*" + re.escape(closing), " ", text)


def metric_names(expr: str) -> set[str]:
    """The metric (and recording rule) names `expr` selects, e.g. {"up", "dhg_asr_queue_depth"}."""
    text = _COMMENT.sub(" ", expr)
    text = _VARIABLE.sub(" ", text)
    names = set(_NAME_MATCHER.findall(text))  # `{__name__="x"}`: the one place a name hides in a string
    text = _without_strings(text)
    text = _strip_brackets(text, "{", "}")
    text = _strip_brackets(text, "[", "]")
    text = _GROUPING.sub(" ", text)
    for match in _IDENTIFIER.finditer(text):
        word = match.group()
        rest = text[match.end() :].lstrip()
        if rest.startswith("(") or word in KEYWORDS or word.lower() in NUMBER_WORDS:
            continue
        names.add(word)
    return names
