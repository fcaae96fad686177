"""Every ``dx`` command's ``--help`` shows an example of itself, as the README promises.

An example is a line of the help that runs the command: ``dx act --config
lab.toml``. A command of a group (``dx server grant``) may have its example
in its own help or in its group's, which lists one for each of them.
"""

from __future__ import annotations

import re

import click
import pytest
from click.testing import CliRunner

from exchange.cli import main


def _commands(group: click.Group, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = []
    for name, command in sorted(group.commands.items()):
        found.append((*path, name))
        if isinstance(command, click.Group):
            found += _commands(command, (*path, name))
    return found


COMMANDS = _commands(main)


def _help(path: tuple[str, ...]) -> str:
    result = CliRunner().invoke(main, [*path, "--help"], terminal_width=100)
    assert result.exit_code == 0, result.output
    return result.output


def _examples(help_text: str, path: tuple[str, ...]) -> list[str]:
    """Lines of ``help_text`` that run ``dx <path>`` with something after it."""
    pattern = re.compile(rf"^\s*(\$\s*)?dx {re.escape(' '.join(path))}(\s+\S|\s*$)")
    return [line for line in help_text.splitlines() if pattern.match(line)]


def test_every_command_is_checked() -> None:
    top = {path[0] for path in COMMANDS}
    assert {"act", "convert", "export", "poll", "publish", "server"} <= top
    assert ("server", "grant") in COMMANDS


@pytest.mark.parametrize("path", COMMANDS, ids=" ".join)
def test_help_has_an_example(path: tuple[str, ...]) -> None:
    own = _examples(_help(path), path)
    in_group = _examples(_help(path[:-1]), path) if len(path) > 1 else []
    assert own or in_group, f"`dx {' '.join(path)} --help` shows no example of the command"


def test_the_top_level_help_points_to_the_examples() -> None:
    assert "--help" in _help(()) and "example" in _help(())
