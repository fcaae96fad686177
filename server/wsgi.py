"""Running the server under gunicorn, with several worker processes.

``python -m server.wsgi --config FILE`` (or ``dx server serve``) migrates the
database once, then starts gunicorn in-process: each worker builds its own app
(and its own database connections) after the fork. For a plain gunicorn
command line, ``gunicorn 'server.wsgi:build_app()'`` reads the config named by
``$DX_CONFIG``; add ``-c python:server.observability.gunicorn_hooks`` so the
workers share one metrics directory, as under ``serve``.

The access log is the app's JSON line per request (``server.observability.
request_log``) unless ``access_log_format = "text"`` asks for gunicorn's.

Gunicorn answers protocol-level garbage (a malformed request line, an oversize
header) itself, before any app code runs, with an HTML page; here those answers
are rewritten as TAXII error bodies with a 4xx status, so that nothing a
client sends yields HTML or a 5xx.
"""

from __future__ import annotations

import argparse
import gc
import logging
import os
import sys
from collections.abc import Sequence
from typing import Any

import orjson
from flask import Flask
from gunicorn import util as gunicorn_util
from gunicorn.app.base import BaseApplication
from sqlalchemy.exc import SQLAlchemyError

from server.app import create_app
from server.buffering import BufferingThreadWorker
from server.config import ConfigError, ServerConfig, load_config, with_overrides
from server.observability import multiproc, request_log
from server.store import Store, StoreError
from server.taxii.media import TAXII_CONTENT_TYPE

# Client, time, request line, status, bytes, referrer, user agent, duration (ms).
ACCESS_LOG_FORMAT = '%(h)s - - %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s" %(M)sms'
log = logging.getLogger(__name__)

# Long match[id] lists plus a `next` token must fit in the request line.
MAX_REQUEST_LINE = 8190


def _taxii_protocol_error(sock: Any, status_int: int, reason: str, mesg: str) -> None:
    """Replacement for gunicorn's HTML error writer: a TAXII error body, 4xx for client faults."""
    if reason == "Bad Request" and status_int >= 500:
        status_int = 400  # e.g. an unsupported Transfer-Encoding: the client's fault
    body = orjson.dumps(
        {
            "title": reason,
            "description": mesg or reason,
            "http_status": str(status_int),
            "error_code": "bad-http-request" if status_int < 500 else "internal-error",
        }
    )
    head = (
        f"HTTP/1.1 {status_int} {reason}\r\n"
        "Connection: close\r\n"
        f"Content-Type: {TAXII_CONTENT_TYPE}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    gunicorn_util.write_nonblock(sock, head.encode("latin-1") + body)


def install_taxii_protocol_errors() -> None:
    """Process-wide: called only in a process dedicated to serving this app."""
    gunicorn_util.write_error = _taxii_protocol_error


def tls_options(config: ServerConfig) -> dict[str, Any]:
    """Gunicorn's ``certfile``/``keyfile`` when the config asks gunicorn to serve HTTPS itself.

    Missing or unreadable files are a config error at start-up, not a server
    that quietly fails every handshake.
    """
    if config.tls_certfile is None or config.tls_keyfile is None:
        return {}
    for key, value in (("tls_certfile", config.tls_certfile), ("tls_keyfile", config.tls_keyfile)):
        if not os.access(value, os.R_OK):
            raise ConfigError(f"{key}: {value}: no such file, or not readable")
    return {"certfile": config.tls_certfile, "keyfile": config.tls_keyfile}


def gunicorn_options(config: ServerConfig) -> dict[str, Any]:
    return {
        "bind": [f"{config.host}:{config.port}"],
        "workers": config.workers,
        # gthread that reads each request whole before a thread serves it, with
        # header and body deadlines, so slow clients hold no thread (server.buffering).
        "worker_class": "server.buffering.BufferingThreadWorker",
        "threads": config.threads,
        "timeout": config.timeout_seconds,
        "graceful_timeout": 10,
        "keepalive": 5,
        "limit_request_line": MAX_REQUEST_LINE,
        "proc_name": "dx-server",
        "errorlog": "-",
        # With access_log_format = "text", gunicorn's line per request instead of the
        # app's JSON line. Not gunicorn's default format: its %(u)s is the HTTP Basic
        # user name, and a client that types its key there would log the key.
        "accesslog": (config.access_log or None) if config.access_log_format == "text" else None,
        "access_log_format": ACCESS_LOG_FORMAT,
        # A dead worker's live gauges (database pool) leave the node's metrics.
        "child_exit": _child_exit,
        "loglevel": "info",
        # Newer gunicorn opens a control socket at one fixed path per user; several
        # servers on one host (tests, staging) would fight over it. Not needed here.
        "control_socket_disable": True,
        **tls_options(config),
    }


class TaxiiServer(BaseApplication):
    """Gunicorn running ``create_app(config)`` in every worker."""

    def __init__(self, config: ServerConfig, extra_options: dict[str, Any] | None = None) -> None:
        self._config = config
        configure_workers(config)
        self._options = {**gunicorn_options(config), **(extra_options or {})}
        super().__init__()

    def load_config(self) -> None:
        for key, value in self._options.items():
            if key in self.cfg.settings:  # options newer than the installed gunicorn are skipped
                self.cfg.set(key, value)

    def load(self) -> Flask:
        configure_request_log(self._config)
        app = create_app(self._config)
        tune_interpreter()
        return app


# Python's default first-generation threshold (700 new container objects) made
# a 10,000-object POST, which builds a few hundred thousand dicts and lists that
# all live until the response, run hundreds of collections that free nothing,
# and every tenth of them rescans the survivors: about a quarter of the POST's
# CPU time. Request data is freed by reference counting as soon as the request
# ends; the cyclic collector is only a backstop, so running it less often costs
# a little memory between collections.
GC_THRESHOLDS = (50_000, 20, 20)


# How long a thread may hold the GIL while another waits for it (Python's
# default is 5 ms). A POST's writer thread waits on PostgreSQL a dozen times
# per chunk while the request thread checks the next chunk, pure Python that
# gives the GIL up only when forced; with the default every return from the
# database could wait up to 5 ms, on the path that bounds the POST's time.
# Five interleaved in-process rounds of 100,000 objects in 10,000-object
# POSTs: median 12,193 objects/s at 1 ms, 11,914 at 2 ms, 11,533 at 5 ms;
# 0.5 ms was no better than 1 ms and cost more CPU.
SWITCH_INTERVAL_S = 0.001


def tune_interpreter() -> None:
    """In each worker, once the application is built: collect cycles less often,
    and hand the GIL over sooner.

    ``gc.freeze`` first moves everything loaded so far (modules, the app, the
    pools) out of the collector's sight, so the rarer full collections do not
    rescan it either.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
    sys.setswitchinterval(SWITCH_INTERVAL_S)


def _child_exit(_server: Any, worker: Any) -> None:
    multiproc.mark_dead(worker.pid)


def configure_request_log(config: ServerConfig) -> None:
    """In each worker: where the JSON request lines go (nowhere unless that log is chosen)."""
    if config.access_log and config.access_log_format == "json":
        request_log.configure(config.access_log)


def configure_workers(config: ServerConfig) -> None:
    """Hand the request read deadlines to the worker class (before workers fork)."""
    BufferingThreadWorker.configure(
        config.request_header_timeout_seconds, config.request_body_timeout_seconds
    )


def prepare_database(config: ServerConfig) -> None:
    """Create or upgrade the schema once, in the master, before any worker starts."""
    store = Store(config.database_url, status_retention_hours=config.status_retention_hours)
    try:
        store.migrate()
    finally:
        store.close()


def serve(config: ServerConfig, extra_options: dict[str, Any] | None = None) -> None:
    """Migrate, then serve until interrupted (blocks).

    The metrics directory is made (or emptied) here, in the master, before
    any worker forks, and removed at exit if it was made here.
    """
    prepare_database(config)
    install_taxii_protocol_errors()
    try:
        metrics_directory = multiproc.prepare()
    except OSError as error:
        raise ConfigError(f"metrics directory ({multiproc.ENV}): {error}") from None
    try:
        TaxiiServer(config, extra_options).run()
    finally:
        multiproc.remove(metrics_directory)


def build_app() -> Flask:
    """Entry point for ``gunicorn 'server.wsgi:build_app()'`` (config from $DX_CONFIG).

    Gunicorn's command line runs this in every worker, so the worker's own
    protocol errors (bad request lines, oversized headers) become TAXII error
    bodies here too, as they do under ``dx server serve``.
    """
    install_taxii_protocol_errors()
    config = load_config()
    configure_workers(config)
    configure_request_log(config)
    if not multiproc.is_enabled():
        log.warning(
            "%s is not set: /-/metrics shows only the requests of the worker that answers; "
            "run gunicorn with -c python:server.observability.gunicorn_hooks",
            multiproc.ENV,
        )
    return create_app(config)


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m server.wsgi", description="Serve the TAXII 2.1 exchange."
    )
    parser.add_argument(
        "--config", help="TOML config file (default: $DX_CONFIG or var/dx-server.toml)"
    )
    parser.add_argument("--host")
    parser.add_argument("--port", type=int)
    parser.add_argument("--workers", type=int)
    parser.add_argument("--threads", type=int)
    parser.add_argument("--database-url")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse_args(argv)
    try:
        config = with_overrides(
            load_config(args.config),
            host=args.host,
            port=args.port,
            workers=args.workers,
            threads=args.threads,
            database_url=args.database_url,
        )
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    try:
        serve(config)
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except (StoreError, SQLAlchemyError) as error:
        reason = str(getattr(error, "orig", None) or error).strip().splitlines()[0]
        print(f"error: database {config.database_url}: {reason}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
