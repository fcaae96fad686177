"""The server's own request counts, from each node's Prometheus endpoint.

``dx_http_requests_total{endpoint,method,status}`` is scraped from every node
before and after the load; the difference, summed over the nodes, is what the
exchange says it served, to be set beside what the simulated clients say they
sent. Only that one counter is read, so a small parser of the text exposition
format is enough (and keeps the benchmark free of a client library).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

import requests

REQUESTS_TOTAL = "dx_http_requests_total"
_SAMPLE = re.compile(r"^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(?P<labels>.*)\})?\s+(?P<value>\S+)")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')

Key = tuple[str, str, int]


class MetricsUnavailable(RuntimeError):
    """A node has no metrics endpoint (or it did not answer 200)."""


def request_counts(text: str) -> Counter[Key]:
    """``dx_http_requests_total`` samples by (endpoint, method, status)."""
    counts: Counter[Key] = Counter()
    for line in text.splitlines():
        match = _SAMPLE.match(line)
        if match is None or match["name"] != REQUESTS_TOTAL:
            continue
        labels = dict(_LABEL.findall(match["labels"] or ""))
        key = (labels.get("endpoint", ""), labels.get("method", ""), int(labels.get("status", 0)))
        counts[key] += round(float(match["value"]))
    return counts


def scrape(urls: list[str], verify: bool | str = True) -> Counter[Key]:
    """The counter summed over every node."""
    total: Counter[Key] = Counter()
    for url in urls:
        try:
            response = requests.get(url, timeout=30, verify=verify)
        except requests.RequestException as error:
            raise MetricsUnavailable(f"{url}: {error}") from None
        if response.status_code != 200:
            raise MetricsUnavailable(f"{url}: HTTP {response.status_code}")
        total.update(request_counts(response.text))
    return total


@dataclass
class Comparison:
    """The client's counts against the servers' counter deltas, key by key."""

    client: Counter[Key]
    server: Counter[Key]

    def differences(self) -> dict[Key, tuple[int, int]]:
        keys = set(self.client) | set(self.server)
        return {
            key: (self.client[key], self.server[key])
            for key in sorted(keys)
            if self.client[key] != self.server[key]
        }

    def matches(self) -> bool:
        return not self.differences()


def compare(before: Counter[Key], after: Counter[Key], client: dict[Key, int]) -> Comparison:
    delta: Counter[Key] = Counter()
    for key, value in after.items():
        if value - before[key]:
            delta[key] = value - before[key]
    return Comparison(Counter({k: v for k, v in client.items() if v}), delta)
