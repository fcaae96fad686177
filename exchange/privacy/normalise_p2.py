"""Prompt normalisation ``p2``: ``p1``'s masking, hardened against evasion.

A campaign that knows prompts are fingerprinted can make each one look new
without changing what a reader sees: look-alike letters from other scripts,
invisible characters, full-width forms, a pair of quotation marks around the
whole prompt. ``p2`` undoes those, then keeps only the words. Steps, in order
(docs/privacy.md lists them with examples; any change is a new version):

1. Drop every Default_Ignorable_Code_Point, then NFKC, then drop them again
   (NFKC maps U+3164 HANGUL FILLER to U+1160, itself ignorable).
2. Lower-case, then fold confusable look-alikes to the ASCII letter or digit
   they imitate (UTS #39 confusables data; ``unicode_folding``).
3. Quotation marks around the whole prompt are removed (repeatedly): they
   are packaging, not a slot.
4. As ``p1``: fenced code -> ``<code>``, URLs -> ``<url>``, e-mail addresses
   -> ``<email>``.
5. A quoted literal -> ``<str>`` only when it is a slot: at most
   ``MAX_QUOTED_SLOT`` characters inside the quotes and at most half of the
   prompt. A long quoted passage stays text (its words are per-request and
   simply do not occur in the template signature).
6. Numbers -> ``<num>``; runs of one placeholder collapse (as ``p1``).
7. The normalised form is the prompt's **words** joined by one space:
   placeholders, runs of letters/digits/underscore with apostrophes removed
   (``don't`` -> ``dont``), and each Chinese or Japanese character.
   Punctuation and layout are dropped, so a changed comma is no change.
"""

# ruff: noqa: RUF001  (quotation marks of several scripts, on purpose)
from __future__ import annotations

import re
import unicodedata

from exchange.privacy.normalise import (
    _CJK,
    _CODE_FENCE,
    _EMAIL,
    _NUMBER,
    _PLACEHOLDER_RUN,
    _QUOTED,
    _URL,
)
from exchange.privacy.unicode_folding import DEFAULT_IGNORABLE, confusable_fold_table

PROMPT_NORMALISATION_P2 = "p2"
MAX_QUOTED_SLOT = 200
"""Longest quoted literal (characters between the quotes) masked as a slot."""

_ENCLOSING = {
    '"': '"',
    "'": "'",
    "`": "`",
    "“": "”",
    "”": "”",
    "„": "“”",
    "‘": "’",
    "«": "»",
    "»": "«",
    "「": "」",
    "『": "』",
    "‹": "›",
}
_WORD_P2 = re.compile(rf"<(?:num|str|url|email|code)>|[{_CJK}]|[^\W{_CJK}]+(?:['’][^\W{_CJK}]+)*")

_APOSTROPHES = re.compile("['’]")


def _strip_enclosing_quotes(text: str) -> str:
    while len(text) >= 2:
        closing = _ENCLOSING.get(text[0])
        if closing is None or text[-1] not in closing:
            break
        text = text[1:-1].strip()
    return text


def _mask_quoted_slots(text: str) -> str:
    limit = max(1, len(text) // 2)

    def mask(match: re.Match[str]) -> str:
        span = match.group(0)
        if len(span) - 2 <= MAX_QUOTED_SLOT and len(span) <= limit:
            return "<str>"
        return span[0] + " " + span[1:-1] + " " + span[-1]

    return _QUOTED.sub(mask, text)


def normalise_prompt_p2(raw: str) -> str:
    """The ``p2`` normal form: the prompt's words, masked and folded, joined by spaces."""
    text = raw
    if not text.isascii():
        text = DEFAULT_IGNORABLE.sub("", text)
        text = unicodedata.normalize("NFKC", text)
        text = DEFAULT_IGNORABLE.sub("", text)
        text = text.lower()
        if not text.isascii():
            text = text.translate(confusable_fold_table()).lower()
    else:
        text = text.lower()
    text = _strip_enclosing_quotes(text.strip())
    if "```" in text or "~~~" in text:
        text = _CODE_FENCE.sub(" <code> ", text)
    if "://" in text or "www." in text:
        text = _URL.sub("<url>", text)
    if "@" in text:
        text = _EMAIL.sub("<email>", text)
    text = _mask_quoted_slots(text)
    text = _NUMBER.sub("<num>", text)
    if "<" in text:
        text = _PLACEHOLDER_RUN.sub(r"\1", text)
    return " ".join(_APOSTROPHES.sub("", word) for word in _WORD_P2.findall(text))
