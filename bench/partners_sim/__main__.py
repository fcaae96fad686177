"""``python3 -m bench.partners_sim``: run the partner simulation (see ``run.py``)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench.partners_sim.run import main

if __name__ == "__main__":
    sys.exit(main())
