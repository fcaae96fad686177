"""Operating the server: Prometheus metrics, health probes and structured request logs.

Everything an operator (or a load balancer, or Prometheus) asks of a running
node, as opposed to what partners ask of the exchange. ``init_app`` wires it
into an app; ``server.wsgi`` sets up the per-node metrics directory and the
request log before gunicorn forks its workers.
"""

from server.observability.hooks import init_app
from server.observability.paths import is_probe_path

__all__ = ["init_app", "is_probe_path"]
