"""Geometry of the console's pictures, drawn as server-side SVG by the templates.

Server-rendered SVG needs no script (the Content-Security-Policy forbids
inline script and the console loads none), works offline, and every label
goes through Jinja's autoescaping like any other text. Only presentation
attributes are used (``fill``, ``stroke``), never ``style``, which the CSP's
``style-src 'self'`` would block.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from server.console.index import DAY_US

TYPE_COLOURS = {
    "campaign": "#b83280",
    "intrusion-set": "#b83280",
    "identity": "#2b6cb0",
    "indicator": "#c05621",
    "account-cluster": "#6b46c1",
    "infrastructure": "#2f855a",
    "attack-pattern": "#9b2c2c",
}
OBSERVABLE_COLOUR = "#4a5568"
_COLUMNS = {
    "identity": 0,
    "campaign": 1,
    "intrusion-set": 1,
    "attack-pattern": 2,
    "indicator": 2,
    "account-cluster": 2,
    "infrastructure": 2,
}


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    label: str
    count: int


@dataclass(frozen=True)
class Plot:
    width: int
    height: int
    bars: list[Bar]
    ticks: list[tuple[float, str]]
    max_count: int


def activity_plot(activity: list[tuple[int, int]], width: int = 760, height: int = 200) -> Plot:
    """Bars of versions added per day up to the last day with any: 14 to 90 days."""
    if not activity:
        return Plot(width, height, [], [], 0)
    first, last = activity[0][0], activity[-1][0]
    first = min(max(first, last - 89), last - 13)  # two weeks at least, so one day is a bar
    days = last - first + 1
    counts = dict(activity)
    peak = max(counts.get(day, 0) for day in range(first, last + 1)) or 1
    plot_h = height - 30
    slot = (width - 50) / days
    bars = []
    ticks = []
    for i, day in enumerate(range(first, last + 1)):
        n = counts.get(day, 0)
        h = plot_h * n / peak
        label = datetime.fromtimestamp(day * DAY_US / 1e6, UTC).strftime("%Y-%m-%d")
        bars.append(Bar(40 + i * slot + 1, plot_h - h + 5, max(slot - 2, 1), h, label, n))
        if i % max(1, math.ceil(days / 6)) == 0:
            ticks.append((40 + i * slot, label))
    return Plot(width, height, bars, ticks, peak)


@dataclass(frozen=True)
class Node:
    id: str
    x: float
    y: float
    label: str
    type: str
    colour: str
    link: bool


@dataclass(frozen=True)
class Edge:
    x1: float
    y1: float
    x2: float
    y2: float
    label: str


@dataclass(frozen=True)
class GraphLayout:
    width: int
    height: int
    nodes: list[Node]
    edges: list[Edge]


def graph_layout(
    nodes: dict[str, dict[str, Any]], edges, rows_per_column: int = 22, column_width: int = 235
) -> GraphLayout:
    """Columns left to right: labs, the campaign, what it uses and what indicates it,
    observables; a group taller than ``rows_per_column`` wraps into further columns, so the
    picture stays about one screen high."""
    groups: dict[int, list[dict[str, Any]]] = {0: [], 1: [], 2: [], 3: []}
    for node in nodes.values():
        groups[_COLUMNS.get(node["type"], 3)].append(node)
    columns: list[list[dict[str, Any]]] = []
    for group in groups.values():
        group.sort(key=lambda n: (n["type"], n["name"]))
        for start in range(0, len(group), rows_per_column):
            columns.append(group[start : start + rows_per_column])
    step = 26
    rows = max((len(c) for c in columns), default=1)
    height = max(160, rows * step + 30)
    width = max(600, len(columns) * column_width + 20)
    positions: dict[str, tuple[float, float]] = {}
    placed = []
    for index, members in enumerate(columns):
        x = 20 + index * column_width
        offset = (height - len(members) * step) / 2
        for i, node in enumerate(members):
            y = offset + i * step + step / 2
            positions[node["id"]] = (x, y)
            label = node["name"] if len(node["name"]) <= 28 else node["name"][:27] + "\u2026"
            placed.append(
                Node(
                    node["id"],
                    x,
                    y,
                    label,
                    node["type"],
                    TYPE_COLOURS.get(node["type"], OBSERVABLE_COLOUR),
                    bool(node["collection_id"]),
                )
            )
    lines = [
        Edge(*positions[a], *positions[b], label)
        for a, b, label in sorted(edges)
        if a in positions and b in positions
    ]
    return GraphLayout(width, height, placed, lines)
