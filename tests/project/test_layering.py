"""The packages import each other only as the README's layout table says.

* ``mappings`` imports nothing of the project (pure: records <-> STIX);
* ``server`` imports only ``mappings``;
* ``exchange`` imports ``mappings``, and ``server`` only for ``dx server``
  (``exchange/commands/server.py``).

Every import statement of every module is read with ``ast`` (imports inside
functions included, relative imports resolved), so a lazy import cannot hide.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("mappings", "server", "exchange")
ALLOWED = {
    "mappings": set(),
    "server": {"mappings"},
    "exchange": {"mappings", "server"},
}
# The only exchange modules that may import server: the `dx server` command group.
SERVER_IMPORTERS_IN_EXCHANGE = {"exchange/commands/server.py"}


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_modules(path: Path, root: Path = REPO) -> Iterator[tuple[int, str]]:
    """(line, absolute module name) of every import in the file."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = _module_name(path, root).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                module = ".".join([*base, *([node.module] if node.module else [])])
            else:
                module = node.module or ""
            yield node.lineno, module


def project_imports(package: str, root: Path = REPO) -> list[tuple[str, int, str]]:
    """(file, line, imported project package) for imports that leave ``package``."""
    found = []
    for path in sorted((root / package).rglob("*.py")):
        for line, module in imported_modules(path, root):
            top = module.split(".")[0]
            if top in PACKAGES and top != package:
                found.append((path.relative_to(root).as_posix(), line, top))
    return found


@pytest.mark.parametrize("package", PACKAGES)
def test_package_imports_only_what_the_layout_allows(package: str) -> None:
    forbidden = [
        f"{file}:{line}: imports {top}"
        for file, line, top in project_imports(package)
        if top not in ALLOWED[package]
    ]
    assert not forbidden, "\n".join(forbidden)


def test_exchange_imports_server_only_for_dx_server() -> None:
    importers = {file for file, _, top in project_imports("exchange") if top == "server"}
    assert importers <= SERVER_IMPORTERS_IN_EXCHANGE, importers - SERVER_IMPORTERS_IN_EXCHANGE


def test_the_walk_sees_relative_and_function_level_imports(tmp_path: Path) -> None:
    """The checker itself: it would catch a lazy or relative import across layers."""
    (tmp_path / "mappings" / "inner").mkdir(parents=True)
    (tmp_path / "mappings" / "inner" / "probe.py").write_text(
        "def f():\n    from ...server import store\n    import exchange.cli\n"
        "from . import sibling\nfrom .. import records\n"
    )
    found = {(line, top) for _, line, top in project_imports("mappings", tmp_path)}
    assert found == {(2, "server"), (3, "exchange")}
