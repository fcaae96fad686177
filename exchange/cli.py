"""The ``dx`` command line: one program for everything a lab does with the exchange.

Sub-commands live one module per command (or group) in ``exchange.commands``;
this module only assembles them, so ``dx --help`` is the table of contents.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

import click

from exchange.commands.act import act
from exchange.commands.convert import convert
from exchange.commands.correlate import correlate_command
from exchange.commands.export import export
from exchange.commands.failures import DxGroup
from exchange.commands.feedback import feedback
from exchange.commands.fingerprint import fingerprint
from exchange.commands.match import match
from exchange.commands.poll import poll
from exchange.commands.pseudonymise import pseudonymise_command
from exchange.commands.publish import publish
from exchange.commands.server import server


def _version() -> str:
    try:
        return version("distill-exchange")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "unknown"


@click.group(
    "dx",
    cls=DxGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    epilog="Run `dx COMMAND --help` for a command's options and an example.",
)
@click.version_option(_version(), prog_name="dx")
def main() -> None:
    """Share model-distillation detections between AI labs (STIX 2.1 over TAXII 2.1).

    Raw identifiers and prompts stay in your lab: `pseudonymise` and
    `fingerprint` turn them into keyed hashes and fingerprints locally,
    `convert` turns detection records into a validated STIX bundle and
    `publish` sends them to the exchange. `poll` syncs partners' indicators,
    `act` writes enforcement artifacts, `match` checks your own traffic
    against them, `feedback` reports sightings and opinions, `export` writes
    filtered bundles, and `server` runs the TAXII exchange.
    """


main.add_command(convert)
main.add_command(fingerprint)
main.add_command(pseudonymise_command)
main.add_command(publish)
main.add_command(poll)
main.add_command(act)
main.add_command(export)
main.add_command(match)
main.add_command(feedback)
main.add_command(correlate_command)
main.add_command(server)
