"""Procedural product and experience reviews: the text counterpart of procedural dSprites.

Every sentence is built from templates and word lists with known ground truth: topic (food,
travel, electronics, books, sport), sentiment polarity and intensity (the adjective's tier and
its adverb), and formality (the template family). Nuisance choices (noun, adjective, template,
detail) vary too. The grid of all choices is topic(5) x polarity(2) x intensity(3) x
formality(2) x noun(8) x adjective(3) x template(4) x detail(6) = 34,560 sentences;
``item_id`` is the flat C-order index into it, so factors and text follow from the id alone,
and ``n_items`` picks the first n of one seeded order of the grid (nested, like dsprites).
"""

from __future__ import annotations

import numpy as np

from latentops.data._fingerprint import params_fingerprint
from latentops.data.dsprites import _check_int
from latentops.data.text import TextDataset

_VERSION = 1  # bump whenever a sentence could change

TOPICS = ("food", "travel", "electronics", "books", "sport")
FORMALITY = ("informal", "formal")
NOUNS = {
    "food": ("pizza", "pasta", "soup", "burger", "sushi", "curry", "salad", "dessert"),
    "travel": (
        "flight", "hotel", "train ride", "beach resort", "city tour", "cruise", "hostel",
        "road trip",
    ),
    "electronics": (
        "laptop", "phone", "headset", "camera", "tablet", "monitor", "keyboard", "speaker",
    ),
    "books": (
        "novel", "biography", "memoir", "thriller", "poetry collection", "mystery novel",
        "fantasy saga", "short story collection",
    ),
    "sport": (
        "football match", "tennis final", "marathon", "basketball game", "ski lesson",
        "cycling race", "yoga class", "rugby season",
    ),
}  # fmt: skip
DETAILS = {
    "food": (
        "at the new bistro", "we ordered for dinner", "from the corner cafe",
        "at the food market", "served for lunch", "from the takeaway menu",
    ),
    "travel": (
        "to Lisbon", "we booked for the holidays", "through the Alps", "on our honeymoon",
        "to the coast", "for the business trip",
    ),
    "electronics": (
        "I bought last month", "with the new firmware", "from the online store",
        "for my home office", "with the wireless charger", "after the software update",
    ),
    "books": (
        "I read on vacation", "by the award-winning author", "from the library",
        "in the new translation", "for our book club", "in paperback",
    ),
    "sport": (
        "we watched on Sunday", "at the city stadium", "in the final round",
        "of the local team", "during the championship", "at the club",
    ),
}  # fmt: skip
# [polarity][intensity]: three adjectives per tier; intensity also picks the adverb
ADJECTIVES = (
    (
        ("mediocre", "dull", "disappointing"),
        ("bad", "poor", "unpleasant"),
        ("terrible", "awful", "horrible"),
    ),
    (
        ("decent", "pleasant", "fine"),
        ("good", "nice", "enjoyable"),
        ("excellent", "wonderful", "fantastic"),
    ),
)
ADVERBS = ("somewhat", "really", "absolutely")
TEMPLATES = (
    (
        "honestly the {noun} {detail} was {adv} {adj} lol",
        "omg, that {noun} {detail}? {adv} {adj}",
        "the {noun} {detail} was {adv} {adj} tbh",
        "so yeah, the {noun} {detail}: {adv} {adj}",
    ),
    (
        "In my assessment, the {noun} {detail} was {adv} {adj}.",
        "I must report that the {noun} {detail} proved {adv} {adj}.",
        "Overall, the {noun} {detail} was {adv} {adj}.",
        "The {noun} {detail} may be described as {adv} {adj}.",
    ),
)
FACTOR_NAMES = ("topic", "polarity", "intensity", "formality")
GRID_SHAPE = (5, 2, 3, 2, 8, 3, 4, 6)  # factors above, then noun, adjective, template, detail
N_GRID = int(np.prod(GRID_SHAPE))  # 34,560


def sentence(item_id: int) -> tuple[str, dict[str, object]]:
    """The sentence of one grid index and its ground-truth factors."""
    t, pol, inten, form, noun, adj, tmpl, det = np.unravel_index(int(item_id), GRID_SHAPE)
    topic = TOPICS[t]
    text = TEMPLATES[form][tmpl].format(
        noun=NOUNS[topic][noun],
        detail=DETAILS[topic][det],
        adv=ADVERBS[inten],
        adj=ADJECTIVES[pol][inten][adj],
    )
    factors = {
        "topic": topic,
        "polarity": int(pol),  # 0 negative, 1 positive
        "intensity": int(inten) + 1,  # 1 mild .. 3 strong
        "sentiment": (2 * int(pol) - 1) * (int(inten) + 1),  # -3 .. 3, never 0
        "formality": FORMALITY[form],
    }
    return text, factors


class Reviews(TextDataset):
    """``n_items`` review sentences (default 2,000; None: all 34,560) with ground-truth factors."""

    def __init__(self, n_items: int | None = 2000, seed: int = 0) -> None:
        seed = _check_int(seed, "seed", 0, 2**63 - 1, "pass a non-negative integer seed")
        if n_items is None:
            ids = np.arange(N_GRID, dtype=np.int64)
        else:
            n_items = _check_int(
                n_items, "n_items", 1, N_GRID, f"pass None for all {N_GRID:,} sentences"
            )
            order = np.random.default_rng(seed).permutation(N_GRID)
            ids = np.sort(order[:n_items]).astype(np.int64)
        rows = [sentence(i) for i in ids]
        labels = {
            k: np.array([f[k] for _, f in rows])
            for k in ("topic", "polarity", "intensity", "sentiment", "formality")
        }
        subset = None if n_items is None else {"n_items": n_items, "seed": seed}
        fingerprint = params_fingerprint("reviews", _VERSION, {"subset": subset})
        super().__init__(
            [s for s, _ in rows], labels, "reviews", item_ids=ids, fingerprint=fingerprint
        )
        self.seed = seed
