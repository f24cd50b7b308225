"""The category mapping table: every source's labels mapped to 1 = person, 2 = vehicle, or ignore.

Ignored objects are written to the ``gt/ignore.txt`` sidecar, never to ``gt.txt``: they are neither trained as objects
nor counted as misses or false positives at evaluation.

| source     | person (1)               | vehicle (2)                          | ignore                                   |
|------------|--------------------------|--------------------------------------|------------------------------------------|
| DanceTrack | every box                |                                      |                                          |
| BDD100K    | pedestrian, rider        | car, truck, bus, train               | bicycle, motorcycle, other person, other |
|            |                          |                                      | vehicle, trailer, any crowd box          |
| VisDrone   | pedestrian (1), people(2)| car (4), van (5), truck (6), bus (9) | bicycle (3), tricycle (7), awning-tri-   |
|            |                          |                                      | cycle (8), motor (10), ignored region    |
|            |                          |                                      | (0), others (11), any row with score 0   |

BDD100K's legacy names are mapped first, as the bdd100k toolkit maps them (``BDD_ALIASES``): person -> pedestrian,
bike -> bicycle, motor -> motorcycle, van -> car, caravan -> car. A BDD100K category in neither table is written as an
ignore region and counted in the build report (``skipped``), never dropped silently.
"""

from __future__ import annotations

PERSON = 1
VEHICLE = 2
IGNORE = -1
CLASS_NAMES: dict[int, str] = {PERSON: "person", VEHICLE: "vehicle"}

BDD_CATEGORIES: dict[str, int] = {
    "pedestrian": PERSON,
    "rider": PERSON,
    "car": VEHICLE,
    "truck": VEHICLE,
    "bus": VEHICLE,
    "train": VEHICLE,
    "bicycle": IGNORE,
    "motorcycle": IGNORE,
    "other person": IGNORE,
    "other vehicle": IGNORE,
    "trailer": IGNORE,
}

# The bdd100k toolkit's own aliases for legacy category names: the [name_mapping] table of
# bdd100k/configs/box_track.toml (github.com/bdd100k/bdd100k, commit 9ac17c6c7c51d2fc83065fccd707cd5b1882a293),
# applied by bdd100k/label/to_scalabel.py:deal_bdd100k_category before the category lookup. (Its [ignored_mapping]
# -- "other person", "other vehicle", "trailer" -- marks distractors as ignored: BDD_CATEGORIES ignores them too.)
# Facts copied for the tests: tests/data/bdd100k_aliases.md.
BDD_ALIASES: dict[str, str] = {
    "bike": "bicycle",
    "caravan": "car",
    "motor": "motorcycle",
    "person": "pedestrian",
    "van": "car",
}


def bdd_category(name: str) -> int | None:
    """PERSON, VEHICLE or IGNORE for a BDD100K category name (legacy aliases included); None when unknown."""
    return BDD_CATEGORIES.get(BDD_ALIASES.get(name, name))


VISDRONE_CATEGORY_NAMES: dict[int, str] = {
    0: "ignored region", 1: "pedestrian", 2: "people", 3: "bicycle", 4: "car", 5: "van", 6: "truck",
    7: "tricycle", 8: "awning-tricycle", 9: "bus", 10: "motor", 11: "others",
}
VISDRONE_CATEGORIES: dict[int, int] = {
    0: IGNORE, 1: PERSON, 2: PERSON, 3: IGNORE, 4: VEHICLE, 5: VEHICLE, 6: VEHICLE,
    7: IGNORE, 8: IGNORE, 9: VEHICLE, 10: IGNORE, 11: IGNORE,
}
