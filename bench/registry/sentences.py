"""Varied English sentences like those in meeting and lecture transcripts, and search queries about them.

Deterministic for a seed, so two runs store and search the same texts.
"""

from __future__ import annotations

import random

SPEAKERS = [
    "I",
    "we",
    "the team",
    "our manager",
    "the client",
    "Maria",
    "David",
    "the board",
    "the vendor",
    "the new hire",
    "engineering",
    "marketing",
    "the support desk",
    "finance",
    "the committee",
]
VERBS = [
    "need to review",
    "decided to postpone",
    "agreed to move forward with",
    "are still waiting on",
    "should double-check",
    "want to simplify",
    "can't sign off on",
    "finally shipped",
    "reopened",
    "are worried about",
    "will present",
    "asked for more detail on",
    "underestimated",
    "cut back",
    "started measuring",
    "would like to automate",
    "forgot to update",
    "are rewriting",
]
OBJECTS = [
    "the quarterly budget",
    "the hiring plan",
    "the database migration",
    "the marketing campaign",
    "the onboarding checklist",
    "the customer survey results",
    "the security audit",
    "the release notes",
    "the office move",
    "the pricing page",
    "the support backlog",
    "the mobile app redesign",
    "the travel policy",
    "the data retention rules",
    "the vendor contract",
    "the training schedule",
    "the energy bill",
    "the conference talk",
    "the search feature",
    "the accessibility review",
    "the load test",
    "the annual report",
    "the warehouse inventory",
    "the delivery routes",
    "the lab results",
    "the grant application",
    "the patient intake form",
    "the course syllabus",
]
WHEN = [
    "before Friday",
    "next week",
    "by the end of the month",
    "after the holidays",
    "this morning",
    "in the next sprint",
    "before the board meeting",
    "as soon as possible",
    "later today",
    "in March",
    "once legal approves it",
    "when the numbers come in",
]
REASONS = [
    "because the costs went up",
    "since the deadline moved",
    "because customers complained",
    "so that nobody is blocked",
    "because the test failed twice",
    "since the audit is coming",
    "because the old system is too slow",
    "so we can hire two more people",
    "because of the outage",
    "since the weather delayed shipping",
    "because the numbers did not add up",
    "to keep things simple",
]
FILLERS = ["", "", "", "So, ", "Okay, ", "Right, ", "Um, ", "Honestly, ", "As I said, ", "Just to be clear, "]
LECTURE = [
    "The {topic} is easier to understand if you start from {idea}.",
    "Remember that {idea} only holds when {condition}.",
    "In the next example we apply {idea} to {topic}.",
    "Most students confuse {topic} with {idea} at first.",
    "The exam will cover {topic} and {idea}.",
]
TOPICS = [
    "photosynthesis",
    "supply and demand",
    "the French revolution",
    "linear regression",
    "plate tectonics",
    "the immune system",
    "binary search",
    "compound interest",
    "the water cycle",
    "Newton's laws",
    "protein folding",
    "the printing press",
    "climate feedback loops",
    "game theory",
    "neural networks",
]
IDEAS = [
    "conservation of energy",
    "opportunity cost",
    "natural selection",
    "the central limit theorem",
    "feedback control",
    "the scientific method",
    "recursion",
    "entropy",
    "marginal utility",
    "cause and effect",
    "the chain rule",
    "division of labour",
]
CONDITIONS = [
    "the system is closed",
    "prices are free to move",
    "the sample is large enough",
    "the input is sorted",
    "nothing else changes",
    "the temperature stays constant",
]
QUERIES = [
    "who is responsible for {object}",
    "what did we decide about {object}",
    "delays to {object}",
    "{object} deadline",
    "problems with {object}",
    "why was {object} postponed",
    "explain {topic}",
    "how does {idea} relate to {topic}",
    "{topic} exam",
    "cost overruns",
    "customer complaints about {object}",
    "plan for {object} {when}",
    "did {speaker} approve {object}",
    "status update on {object}",
]


def sentence(rng: random.Random) -> str:
    """One sentence, meeting-style (most) or lecture-style."""
    if rng.random() < 0.25:
        return rng.choice(LECTURE).format(
            topic=rng.choice(TOPICS), idea=rng.choice(IDEAS), condition=rng.choice(CONDITIONS)
        )
    text = f"{rng.choice(FILLERS)}{rng.choice(SPEAKERS)} {rng.choice(VERBS)} {rng.choice(OBJECTS)}"
    if rng.random() < 0.6:
        text += f" {rng.choice(WHEN)}"
    if rng.random() < 0.5:
        text += f" {rng.choice(REASONS)}"
    text += rng.choice([".", ".", ".", "?", "!"])
    return text[0].upper() + text[1:]


def distinct_sentences(count: int, seed: int = 1) -> list[str]:
    """`count` different sentences (the grammar holds millions, so this ends quickly)."""
    rng = random.Random(seed)
    seen: dict[str, None] = {}
    for _ in range(count * 50):
        seen.setdefault(sentence(rng), None)
        if len(seen) == count:
            return list(seen)
    raise ValueError(f"could not make {count} distinct sentences")


def queries(count: int, seed: int = 2) -> list[str]:
    """`count` different search queries about the same subjects, worded unlike the stored sentences."""
    rng = random.Random(seed)
    seen: dict[str, None] = {}
    for _ in range(count * 50):
        query = rng.choice(QUERIES).format(
            object=rng.choice(OBJECTS),
            topic=rng.choice(TOPICS),
            idea=rng.choice(IDEAS),
            when=rng.choice(WHEN),
            speaker=rng.choice(SPEAKERS),
        )
        seen.setdefault(query, None)
        if len(seen) == count:
            return list(seen)
    raise ValueError(f"could not make {count} distinct queries")
