"""A clone alone is enough: nothing in the repository reads or cites files outside it.

A user's clone has no sibling ``shared`` directory and no design document
beside it; tests that read them fail there, and docs that cite them send
readers nowhere. Every text file of the project is searched.
"""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SKIPPED_DIRECTORIES = {".git", ".venv", ".ci-venv", "var", "build", "node_modules"}
TEXT_SUFFIXES = {".py", ".md", ".toml", ".txt", ".yaml", ".yml", ".json", ".cfg", ".ini", ""}
# Spelled in pieces so that this file does not match itself.
OUTSIDE_REFERENCES = ("../" + "shared", "shared/" + "data", "design" + ".md", "DX_SHARED" + "_DIR")


def project_files() -> list[Path]:
    files = []
    for path in REPO.rglob("*"):
        relative = path.relative_to(REPO)
        if any(
            part in SKIPPED_DIRECTORIES or part.endswith(".egg-info") for part in relative.parts
        ):
            continue
        if "__pycache__" in relative.parts or not path.is_file():
            continue
        if path.suffix in TEXT_SUFFIXES and path.stat().st_size < 5_000_000:
            files.append(path)
    return files


def test_no_file_refers_outside_the_repository() -> None:
    files = project_files()
    assert len(files) > 100  # the walk really covered the project
    hits = []
    for path in files:
        text = path.read_text(encoding="utf-8", errors="replace")
        for number, line in enumerate(text.splitlines(), 1):
            hits += [
                f"{path.relative_to(REPO)}:{number}: {reference}"
                for reference in OUTSIDE_REFERENCES
                if reference in line
            ]
    assert not hits, "\n".join(hits)
