"""Unicode facts the ``p2`` prompt normalisation needs and ``unicodedata`` lacks.

* **Default_Ignorable_Code_Point.** Python's ``unicodedata`` has no property
  lookup, and the category ``Cf`` misses many invisible characters a sender
  can sprinkle into a prompt (U+034F COMBINING GRAPHEME JOINER is ``Mn``,
  U+3164 HANGUL FILLER is ``Lo``, variation selectors are ``Mn``...). The
  ranges below are the property as listed in the Unicode Character Database,
  ``DerivedCoreProperties.txt`` (Unicode 15.1; the list has been stable since
  Unicode 9 apart from no new entries): every code point a renderer may show
  as nothing.
* **Confusable look-alikes.** UTS #39 publishes ``confusables.txt``: which
  characters look like which. The data comes from the ``confusable-homoglyphs``
  package (a maintained copy of that file); from it we keep, for each
  non-ASCII character, the ASCII letter or digit it is confusable with, so
  that Cyrillic U+0430 and Greek U+03BF fold to Latin ``a`` and ``o``. This is the
  skeleton mapping restricted to targets in ASCII, applied after lower-casing:
  enough to undo look-alike substitution in Latin-script prompts, while text
  in other scripts stays readable as itself (a Russian prompt keeps its
  letters that have no Latin twin, on both sides of a comparison alike).

The fold table is built once per process from the package's data file; its
SHA-256 is exposed so a deployment can tell two labs apart whose package
versions would normalise differently (the figures in docs/privacy.md were
made with ``confusable-homoglyphs`` 3.3.1).
"""

from __future__ import annotations

import hashlib
import json
import re
from functools import lru_cache
from importlib import resources

# DerivedCoreProperties.txt, Default_Ignorable_Code_Point (Unicode 15.1).
DEFAULT_IGNORABLE_RANGES: tuple[tuple[int, int], ...] = (
    (0x00AD, 0x00AD),  # SOFT HYPHEN
    (0x034F, 0x034F),  # COMBINING GRAPHEME JOINER
    (0x061C, 0x061C),  # ARABIC LETTER MARK
    (0x115F, 0x1160),  # HANGUL CHOSEONG FILLER, HANGUL JUNGSEONG FILLER
    (0x17B4, 0x17B5),  # KHMER VOWEL INHERENT AQ, AA
    (0x180B, 0x180F),  # MONGOLIAN FREE VARIATION SELECTORS, VOWEL SEPARATOR
    (0x200B, 0x200F),  # ZERO WIDTH SPACE .. RIGHT-TO-LEFT MARK
    (0x202A, 0x202E),  # bidi embeddings and overrides
    (0x2060, 0x206F),  # WORD JOINER .. NOMINAL DIGIT SHAPES (incl. reserved)
    (0x3164, 0x3164),  # HANGUL FILLER
    (0xFE00, 0xFE0F),  # VARIATION SELECTOR-1..16
    (0xFEFF, 0xFEFF),  # ZERO WIDTH NO-BREAK SPACE (BOM)
    (0xFFA0, 0xFFA0),  # HALFWIDTH HANGUL FILLER
    (0xFFF0, 0xFFF8),  # reserved
    (0x1BCA0, 0x1BCA3),  # SHORTHAND FORMAT CONTROLS
    (0x1D173, 0x1D17A),  # MUSICAL SYMBOL BEGIN BEAM .. END PHRASE
    (0xE0000, 0xE0FFF),  # TAG characters, VARIATION SELECTOR-17..256, reserved
)

DEFAULT_IGNORABLE = re.compile(
    "["
    + "".join(
        re.escape(chr(low)) + ("-" + re.escape(chr(high)) if high != low else "")
        for low, high in DEFAULT_IGNORABLE_RANGES
    )
    + "]+"
)
"""Matches runs of Default_Ignorable_Code_Point characters."""


def is_default_ignorable(char: str) -> bool:
    code = ord(char)
    return any(low <= code <= high for low, high in DEFAULT_IGNORABLE_RANGES)


def _confusables_bytes() -> bytes:
    return resources.files("confusable_homoglyphs").joinpath("confusables.json").read_bytes()


@lru_cache(maxsize=1)
def confusable_fold_table() -> dict[int, str]:
    """``str.translate`` table: non-ASCII character -> the ASCII letter/digit it looks like.

    Preference when a character is confusable with several ASCII characters:
    a lower-case letter, then an upper-case letter (lower-cased), then a digit;
    within each, the smallest. Characters whose only ASCII look-alikes are
    punctuation are left alone (punctuation is not part of a word anyway).
    """
    data = json.loads(_confusables_bytes())
    table: dict[int, str] = {}
    for source, entries in data.items():
        if len(source) != 1 or source.isascii():
            continue
        targets = {entry["c"] for entry in entries if len(entry["c"]) == 1 and entry["c"].isascii()}
        lower = sorted(t for t in targets if t.islower())
        upper = sorted(t for t in targets if t.isupper())
        digits = sorted(t for t in targets if t.isdigit())
        if lower:
            table[ord(source)] = lower[0]
        elif upper:
            table[ord(source)] = upper[0].lower()
        elif digits:
            table[ord(source)] = digits[0]
    return table


@lru_cache(maxsize=1)
def confusables_data_sha256() -> str:
    """SHA-256 of the confusables data file in use (for comparing deployments)."""
    return hashlib.sha256(_confusables_bytes()).hexdigest()
