"""Prompt normalisation ``p1``: the template left when the per-request content is masked.

Distillation campaigns send thousands of prompts built from a few scaffolds
whose slots change every time: a number, a quoted passage, a URL, a pasted
code block. Masking those slots makes every prompt of one scaffold normalise
to (nearly) the same text, which is what the exact hash and the near-duplicate
signatures are computed over. The steps, in order (docs/privacy.md lists the
same steps with examples; changing any of them requires a new version):

1. Unicode NFKC (full-width letters and digits, ligatures and compatibility
   forms become their plain equivalents), then remove invisible format
   characters (category Cf: zero-width spaces and joiners, BOM, bidi marks),
   which would otherwise let a sender make every prompt look unique.
2. Lower-case.
3. Fenced code blocks (```...``` or ~~~...~~~, an unterminated fence runs to
   the end) -> ``<code>``: in code-task campaigns the code is the payload.
4. URLs (``scheme://...`` and ``www....``) -> ``<url>``.
5. E-mail addresses -> ``<email>``.
6. Quoted literals -> ``<str>``: "...", `...`, '...' (single quotes only when
   not part of a word, so apostrophes survive, and not across lines), and the
   typographic pairs “...”, «...», „...“, 「...」, 『...』 and the single
   curly quotes U+2018 ... U+2019.
7. Numbers -> ``<num>``: runs of digits with inner separators . , ' _ :
   (``1,000.50``, ``3.14``, ``12:30``, ``1'000``), also inside words (``gpt4``
   -> ``gpt<num>``).
8. A run of the same placeholder joined only by spaces, commas or semicolons
   collapses to one (``<num>, <num>, <num>`` -> ``<num>``): list lengths vary
   per request.
9. Whitespace runs -> one space; strip both ends.

Placeholders are ``<num>``, ``<str>``, ``<url>``, ``<email>``, ``<code>``.
Words for shingling are the placeholders plus runs of letters/digits/underscore
(with inner apostrophes, so "don't" is one word);
Chinese and Japanese characters count as one word each (those scripts do not
separate words with spaces).
"""

from __future__ import annotations

import re
import unicodedata

PROMPT_NORMALISATION_VERSION = "p1"
PLACEHOLDERS = ("<num>", "<str>", "<url>", "<email>", "<code>")

_CODE_FENCE = re.compile(r"```.*?(?:```|\Z)|~~~.*?(?:~~~|\Z)", re.DOTALL)
_URL = re.compile(
    r"(?:\b[a-z][a-z0-9+.-]*://|\bwww\.)"
    r"[^\s<>\"'`“”\u2018\u2019«»]*[^\s<>\"'`“”\u2018\u2019«».,;:!?)\]}]"
)
_EMAIL = re.compile(r"[\w.!#$%&*+/=?^{|}~-]+@[\w-]+(?:\.[\w-]+)+")
_QUOTED = re.compile(
    r'"[^"]*"'
    r"|`[^`\n]+`"
    r"|(?<!\w)'[^'\n]+'(?!\w)"
    r"|“[^”]*”"
    r"|\u2018[^\u2019]*\u2019"
    r"|«[^»]*»"
    r"|„[^“”]*[“”]"
    r"|「[^」]*」"
    r"|『[^』]*』"
)
_NUMBER = re.compile(r"\d+(?:[.,'_:]\d+)*")
_PLACEHOLDER_RUN = re.compile(r"(<(?:num|str|url|email|code)>)(?:[\s,;]+\1)+")
_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_WORD = re.compile(rf"<(?:num|str|url|email|code)>|[{_CJK}]|[^\W{_CJK}]+(?:'[^\W{_CJK}]+)*")


def normalise_prompt(raw: str) -> str:
    """The ``p1`` normalised template of one raw prompt (may be empty)."""
    text = unicodedata.normalize("NFKC", raw)
    if not text.isascii():  # ASCII has no format characters: skip the per-character scan
        text = "".join(ch for ch in text if unicodedata.category(ch) != "Cf")
    text = text.lower()
    # The guards only skip a pattern that cannot match; the result is the same.
    if "```" in text or "~~~" in text:
        text = _CODE_FENCE.sub(" <code> ", text)
    if "://" in text or "www." in text:
        text = _URL.sub("<url>", text)
    if "@" in text:
        text = _EMAIL.sub("<email>", text)
    text = _QUOTED.sub("<str>", text)
    text = _NUMBER.sub("<num>", text)
    if "<" in text:
        text = _PLACEHOLDER_RUN.sub(r"\1", text)
    return " ".join(text.split())  # same whitespace set as \s, and faster


def prompt_words(normalised: str) -> list[str]:
    """The words of a normalised prompt, in order (punctuation dropped)."""
    return _WORD.findall(normalised)
