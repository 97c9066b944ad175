"""Random container names in Docker's `adjective_surname` style."""

from __future__ import annotations

import os

ADJECTIVES = (
    "agile", "amazing", "awesome", "blissful", "bold", "brave", "busy", "calm", "careful",
    "charming", "cheerful", "clever", "cool", "cosmic", "crisp", "curious", "daring",
    "dazzling", "determined", "eager", "elastic", "elegant", "epic", "fearless", "festive",
    "focused", "friendly", "funny", "gallant", "gentle", "gifted", "glowing", "happy",
    "hardy", "heuristic", "humble", "hungry", "jolly", "keen", "kind", "lively", "loving",
    "lucid", "magical", "merry", "mighty", "modest", "nimble", "noble", "optimistic",
    "patient", "peaceful", "playful", "polite", "proud", "quiet", "quirky", "radiant",
    "relaxed", "resolute", "serene", "sharp", "shiny", "silent", "sleepy", "smart",
    "snappy", "stoic", "sunny", "swift", "tender", "thirsty", "tidy", "trusting", "upbeat",
    "vibrant", "vigilant", "vivid", "wizardly", "youthful", "zealous", "zen",
)

SURNAMES = (
    "agnesi", "archimedes", "babbage", "bardeen", "bell", "bohr", "boole", "cannon",
    "carson", "cerf", "curie", "darwin", "dijkstra", "einstein", "euclid", "euler",
    "faraday", "fermat", "fermi", "feynman", "franklin", "galileo", "gauss", "goldberg",
    "goodall", "hamilton", "hawking", "heisenberg", "hertz", "hodgkin", "hopper", "hypatia",
    "johnson", "joliot", "kepler", "knuth", "kowalevski", "lamarr", "lamport", "leavitt",
    "lovelace", "maxwell", "mcclintock", "meitner", "mendel", "minsky", "morse", "newton",
    "nobel", "noether", "pascal", "pasteur", "perlman", "planck", "poincare", "ramanujan",
    "ritchie", "rosalind", "sammet", "shannon", "sinoussi", "tesla", "thompson", "torvalds",
    "turing", "volta", "wiles", "wozniak", "wright", "yalow", "yonath",
)


def random_name() -> str:
    pick = int.from_bytes(os.urandom(4), "big")
    return f"{ADJECTIVES[pick % len(ADJECTIVES)]}_{SURNAMES[(pick >> 16) % len(SURNAMES)]}"
