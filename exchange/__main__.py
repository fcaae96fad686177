"""``python -m exchange`` runs the ``dx`` command line (where the script is not on PATH)."""

from exchange.cli import main

main()
