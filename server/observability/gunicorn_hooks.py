"""Gunicorn server hooks for the plain gunicorn command line.

``gunicorn -c python:server.observability.gunicorn_hooks ... 'server.wsgi:build_app()'``
loads these hooks, which give the workers one shared metrics directory per
run (see ``multiproc``) exactly as ``dx server serve`` does. Without them,
each worker's ``/-/metrics`` shows only its own requests.
"""

from __future__ import annotations

from typing import Any

from server.observability import multiproc

_created: list[Any] = []


def on_starting(server: Any) -> None:
    """In the master, before any worker forks."""
    _created.append(multiproc.prepare())


def child_exit(server: Any, worker: Any) -> None:
    multiproc.mark_dead(worker.pid)


def on_exit(server: Any) -> None:
    for directory in _created:
        multiproc.remove(directory)
