"""A labelled query set for search: facts planted among the corpus' segments, each asked for twice — once by its own
rare words (names, numbers: what full text is for) and once in other words (what semantic search is for). A query
is answered right when its fact is among the first 10 hits; each mode's recall@10 is the share answered right.

Written by hand for this benchmark (no data set is fetched); the corpus around them is meeting talk
(bench/registry/sentences.py), which none of these facts is about."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Fact:
    text: str  # the planted segment
    by_words: str  # its rare words, as someone who remembers them would type
    by_meaning: str  # the same thing asked in other words, sharing no content word with the text


FACTS = (
    Fact(
        "Okonkwo paid invoice 4471 for the walnut bookshelves on Friday.",
        "Okonkwo invoice 4471",
        "who settled the bill for the wooden shelving",
    ),
    Fact(
        "The ferry to Vlieland was cancelled because of the storm.",
        "Vlieland ferry",
        "boat trip to the island called off due to bad weather",
    ),
    Fact(
        "Dr. Farouk prescribed amoxicillin for the ear infection.",
        "Farouk amoxicillin",
        "antibiotic given by the physician for an earache",
    ),
    Fact(
        "Our sourdough starter died while Ingrid was in Reykjavik.",
        "sourdough Ingrid Reykjavik",
        "the bread yeast culture perished during a trip to Iceland",
    ),
    Fact(
        "The Kessler quartet rehearses Dvorak every Tuesday evening.",
        "Kessler quartet Dvorak",
        "string ensemble practising Czech chamber music weekly",
    ),
    Fact(
        "Mbeki's tortoise escaped through the hedge again.",
        "Mbeki tortoise hedge",
        "a pet reptile got out of the garden once more",
    ),
    Fact(
        "The glacier near Chamonix retreated forty metres last summer.",
        "Chamonix glacier forty metres",
        "ice sheet in the French Alps shrinking in warm months",
    ),
    Fact(
        "Ravi's kayak capsized at the Lachine rapids.",
        "Ravi kayak Lachine",
        "small boat overturned in fast river water",
    ),
    Fact(
        "Grandma Zofia's pierogi recipe uses farmer's cheese and dill.",
        "Zofia pierogi",
        "polish dumplings filled with curd and herbs from an old family cookbook",
    ),
    Fact(
        "The observatory on Mauna Kea spotted a comet at dawn.",
        "Mauna Kea comet",
        "telescope on a Hawaiian volcano saw an icy visitor in the morning sky",
    ),
    Fact(
        "Tomasz repaired the harpsichord's broken quill with a crow feather.",
        "Tomasz harpsichord quill",
        "fixing an antique keyboard instrument using part of a bird",
    ),
    Fact(
        "The beekeepers in Ljubljana lost half their hives to mites.",
        "Ljubljana beekeepers mites",
        "honey farmers in Slovenia saw colonies die from parasites",
    ),
    Fact(
        "Esperanza trained her parrot to whistle the national anthem.",
        "Esperanza parrot anthem",
        "teaching a bird to sing a patriotic song",
    ),
    Fact(
        "A landslide closed the Karakoram highway for nine days.",
        "Karakoram landslide",
        "mountain road in Pakistan blocked by falling rocks",
    ),
    Fact(
        "The lighthouse keeper on Skellig logged sixty gannets.",
        "Skellig lighthouse gannets",
        "counting seabirds from a coastal tower off Ireland",
    ),
    Fact(
        "Hiroshi's bonsai juniper is older than his grandfather.",
        "Hiroshi bonsai juniper",
        "a miniature tree kept for generations",
    ),
    Fact(
        "The choir sang Hildegard von Bingen in the crypt at Speyer.",
        "Hildegard Bingen Speyer",
        "medieval sacred chants performed under a German cathedral",
    ),
    Fact(
        "Amara's camel refused to cross the wadi after the flash flood.",
        "Amara camel wadi",
        "a desert animal would not walk through the dry riverbed following sudden rain",
    ),
    Fact(
        "The cobbler in Fes stitched the babouches by hand.",
        "Fes cobbler babouches",
        "Moroccan slippers sewn by a shoemaker without machines",
    ),
    Fact(
        "Lars found a Viking coin while metal detecting near Uppsala.",
        "Lars Viking coin Uppsala",
        "old Norse money dug up by a hobbyist in Sweden",
    ),
    Fact(
        "The trebuchet at the museum hurled a pumpkin ninety metres.",
        "trebuchet pumpkin ninety",
        "medieval siege engine throwing a squash far",
    ),
    Fact(
        "Nkechi won the regional chess final with the Sicilian defence.",
        "Nkechi chess Sicilian",
        "she took the board game championship using a sharp opening",
    ),
    Fact(
        "Snow leopards were photographed by camera traps in Hemis.",
        "snow leopards Hemis camera traps",
        "big cats of the Himalaya seen by remote wildlife sensors",
    ),
    Fact(
        "The glassblower in Murano cracked a chandelier arm at the kiln.",
        "Murano glassblower chandelier",
        "Venetian artisan broke part of a hanging light while working the furnace",
    ),
)


def queries() -> list[tuple[str, str, int]]:
    """Every labelled query: (kind, text, index of its fact), the word queries first."""
    return [("by words", fact.by_words, index) for index, fact in enumerate(FACTS)] + [
        ("by meaning", fact.by_meaning, index) for index, fact in enumerate(FACTS)
    ]
