"""Random container names in docker's "adjective_surname" style (our own word lists)."""

from __future__ import annotations

import secrets

ADJECTIVES = (
    "agile", "amber", "bold", "brave", "bright", "calm", "clever", "cosmic", "crisp", "curious",
    "daring", "eager", "earnest", "elegant", "fearless", "fervent", "gentle", "glad", "happy",
    "hardy", "honest", "humble", "jolly", "keen", "kind", "lively", "loyal", "lucid", "merry",
    "mighty", "modest", "nimble", "noble", "patient", "peaceful", "placid", "plucky", "polite",
    "proud", "quiet", "quick", "radiant", "rapid", "serene", "sharp", "silent", "sleek", "snappy",
    "steady", "stoic", "sturdy", "swift", "tender", "tidy", "upbeat", "vibrant", "vivid", "warm",
    "wise", "witty", "zealous", "zen",
)

SURNAMES = (
    "agnesi", "babbage", "bardeen", "bell", "boole", "cerf", "curie", "darwin", "dijkstra",
    "einstein", "euler", "faraday", "fermat", "feynman", "franklin", "galileo", "gauss", "goodall",
    "hamilton", "hawking", "hopper", "hypatia", "johnson", "kepler", "knuth", "kowalevski",
    "lamarr", "leakey", "lovelace", "maxwell", "meitner", "mendel", "mirzakhani", "newton",
    "noether", "pascal", "pasteur", "planck", "ritchie", "sammet", "shannon", "sinoussi",
    "thompson", "torvalds", "turing", "wilson", "wozniak", "yalow",
)


def random_name() -> str:
    return f"{secrets.choice(ADJECTIVES)}_{secrets.choice(SURNAMES)}"
