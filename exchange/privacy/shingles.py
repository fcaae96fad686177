"""Word shingles of a normalised prompt: the features both signatures are built from.

A shingle is ``size`` consecutive words joined by one space. Three words is
the default because single words and pairs are shared by most English text
("of the", "step by step"), while longer shingles break too easily when one
slot of a template changes (every changed word spoils ``size`` shingles).
"""

from __future__ import annotations

from collections.abc import Sequence

from exchange.privacy.normalise import prompt_words

DEFAULT_SHINGLE_SIZE = 3


def word_shingles(words: Sequence[str], size: int = DEFAULT_SHINGLE_SIZE) -> list[str]:
    """All shingles in order, repeats kept; fewer than ``size`` words give one shingle."""
    if size < 1:
        raise ValueError("shingle size must be at least 1")
    if not words:
        return []
    if len(words) <= size:
        return [" ".join(words)]
    return [" ".join(words[i : i + size]) for i in range(len(words) - size + 1)]


def prompt_shingles(normalised: str, size: int = DEFAULT_SHINGLE_SIZE) -> list[str]:
    """Shingles of a normalised prompt.

    A prompt with no words at all (only punctuation, say) is one shingle of its
    whole text, so it still gets a signature; an empty prompt is an error.
    """
    if not normalised:
        raise ValueError("the prompt is empty after normalisation")
    shingles = word_shingles(prompt_words(normalised), size)
    return shingles or [normalised]
