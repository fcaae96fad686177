"""Prompt normalisation p1, step by step (docs/privacy.md lists the same steps)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from exchange.privacy import normalise_prompt
from exchange.privacy.normalise import PLACEHOLDERS, prompt_words
from exchange.privacy.shingles import prompt_shingles, word_shingles


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        # 1. NFKC and invisible format characters
        ("\uff26\uff55\uff4c\uff4c \uff57\uff49\uff44\uff54\uff48", "full width"),
        ("ﬁle ligature", "file ligature"),
        ("zero\u200bwidth\u200d join\ufeff", "zerowidth join"),
        # 2. lower-case
        ("MiXeD CaSe", "mixed case"),
        # 3. fenced code blocks, closed or not
        ("fix:\n```py\nx = 1\n```\nthanks", "fix: <code> thanks"),
        ("fix ~~~\nx = 'a'\n~~~ now", "fix <code> now"),
        ("unterminated ```python\nprint('x')", "unterminated <code>"),
        # 4. URLs, without the sentence's final punctuation
        ("see https://example.com/a?b=1.", "see <url>."),
        ("(www.example.org/x), then", "(<url>), then"),
        ("ftp://files.example.net/a b", "<url> b"),
        # 5. e-mail addresses
        ("mail bob.smith+x@example.co.uk now", "mail <email> now"),
        # 6. quoted literals of every kind
        ('say "hello there" now', "say <str> now"),
        ("run `ls -la` here", "run <str> here"),
        ("the word 'apple' here", "the word <str> here"),
        ("don't mask 'this' but keep it's", "don't mask <str> but keep it's"),
        ("“curly” and \u2018single\u2019 here", "<str> and <str> here"),
        ("«guillemets» „low“ 「corner」", "<str>"),
        ('multi "line\nquote" ok', "multi <str> ok"),
        # 7. numbers, also with separators and inside words
        ("pay 1,250.75 or 3.14 at 12:30", "pay <num> or <num> at <num>"),
        ("gpt4 and v2.1", "gpt<num> and v<num>"),
        ("١٢٣ arabic-indic digits", "<num> arabic-indic digits"),
        ("x² squared", "x<num> squared"),
        # 8. runs of one placeholder collapse
        ("sort 3, 1, 2; 9 please", "sort <num> please"),
        ('"a", "b" and "c"', "<str> and <str>"),
        ("between 3 and 5", "between <num> and <num>"),
        # 9. whitespace
        ("  many\t\tspaces\n\nand lines  ", "many spaces and lines"),
        ("", ""),
    ],
)
def test_steps(raw: str, expected: str) -> None:
    assert normalise_prompt(raw) == expected


def test_prompt_vectors_normalise_as_published(vectors: dict[str, Any]) -> None:
    assert vectors["prompt_normalization"] == "p1"
    for vector in vectors["prompt_vectors"]:
        assert normalise_prompt(vector["raw"]) == vector["normalized"]


def test_two_fills_of_one_scaffold_normalise_the_same() -> None:
    first = 'Grade the answer "Paris" to question 7 out of 10. See https://a.example/q7.'
    second = "Grade the answer “Lyon, of course” to question 12 out of 100. See www.b.example."
    assert normalise_prompt(first) == normalise_prompt(second)


def test_words_and_shingles() -> None:
    words = prompt_words("don't stop: <num> items, 中文 ok")
    assert words == ["don't", "stop", "<num>", "items", "中", "文", "ok"]
    assert word_shingles(["a", "b", "c", "d"], 3) == ["a b c", "b c d"]
    assert word_shingles(["a", "b"], 3) == ["a b"]
    assert word_shingles([], 3) == []
    assert prompt_shingles("?!", 3) == ["?!"]
    with pytest.raises(ValueError, match="empty"):
        prompt_shingles("", 3)
    with pytest.raises(ValueError, match="at least 1"):
        word_shingles(["a"], 0)


@given(st.text(max_size=300))
def test_normalised_text_has_no_digits_capitals_or_space_runs(raw: str) -> None:
    once = normalise_prompt(raw)
    assert not any(ch.isdecimal() for ch in once)
    assert once == once.lower()
    assert once == once.strip()
    assert "  " not in once and "\n" not in once


def test_placeholders_are_words() -> None:
    for placeholder in PLACEHOLDERS:
        assert prompt_words(f"a {placeholder} b") == ["a", placeholder, "b"]
