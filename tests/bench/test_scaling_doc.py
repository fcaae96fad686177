"""docs/scaling.md quotes bench/capacity.py exactly: the capacity model's numbers are reproducible.

Every block of the page between ``<!-- output of: python3 bench/capacity.py ARGS -->``
and ``<!-- end of output -->`` must be, line for line, what that command prints
now (from the committed costs file). Changing the model or re-measuring the
costs without updating the page fails here, so the page never drifts from the
command a reader would run to check it.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PAGE = REPO / "docs" / "scaling.md"
BLOCK = re.compile(
    r"<!-- output of: python3 (bench/capacity\.py[^>]*?) -->\n(.*?)<!-- end of output -->",
    re.DOTALL,
)


def test_every_quoted_model_output_is_what_the_command_prints() -> None:
    blocks = BLOCK.findall(PAGE.read_text(encoding="utf-8"))
    assert len(blocks) >= 3, "docs/scaling.md quotes fewer capacity.py outputs than expected"
    for command, quoted in blocks:
        printed = subprocess.run(
            [sys.executable, *shlex.split(command)],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        ).stdout
        assert quoted.strip() == printed.strip(), f"docs/scaling.md is stale for: {command}"
