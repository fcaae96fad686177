"""Matching a lab's own traffic against the shared feed, locally.

Public API::

    from exchange.match import MatchInputs, run_match, ColumnSpec
    feed = current_feed(store.current_objects(), now)           # exchange.feed.current
    run = run_match(feed, MatchInputs(prompts=[Path("prompts.txt")]), key)
    for match in run.matches: ...                                 # exchange.match.results.Match
    run = stream_match(feed, inputs, key, sink)   # matches handed to sink batch by batch

``dx match`` (``exchange.commands.match``) streams; ``run_match`` keeps every match.
"""

from exchange.match.accounts import AccountIndex
from exchange.match.inputs import ColumnSpec
from exchange.match.matcher import (
    MatchInputs,
    MatchRun,
    MissingKeyError,
    run_match,
    stream_match,
)
from exchange.match.prompts import PromptIndex, build_prompt_index, match_prompts
from exchange.match.ranges import RangeIndex
from exchange.match.results import RULES, Match, jsonl, match_confidence, table

__all__ = [
    "RULES",
    "AccountIndex",
    "ColumnSpec",
    "Match",
    "MatchInputs",
    "MatchRun",
    "MissingKeyError",
    "PromptIndex",
    "RangeIndex",
    "build_prompt_index",
    "jsonl",
    "match_confidence",
    "match_prompts",
    "run_match",
    "stream_match",
    "table",
]
