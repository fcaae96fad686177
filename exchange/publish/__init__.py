"""Publishing to the exchange: detection files or bundles in, objects on the server out.

Public API::

    from exchange.publish import load_batch, Publisher, PublishReport
    batch = load_batch([Path("detections.jsonl")], producer)     # PublishInputError
    with TaxiiSession.from_config(config) as session:
        report = Publisher(session).publish("distillation-indicators", batch.objects)

``dx publish`` (``exchange.commands.publish``) is the command line over it;
docs/lab-side-publish.md explains the behaviour.
"""

from exchange.publish.envelopes import (
    DEFAULT_MAX_OBJECTS,
    Envelope,
    SerialisedObject,
    pack_envelopes,
    serialise,
)
from exchange.publish.publisher import DEFAULT_STATUS_TIMEOUT_S, PublishAborted, Publisher
from exchange.publish.report import PublishReport, Refusal
from exchange.publish.sources import Batch, PublishInputError, load_batch

__all__ = [
    "DEFAULT_MAX_OBJECTS",
    "DEFAULT_STATUS_TIMEOUT_S",
    "Batch",
    "Envelope",
    "PublishAborted",
    "PublishInputError",
    "PublishReport",
    "Publisher",
    "Refusal",
    "SerialisedObject",
    "load_batch",
    "pack_envelopes",
    "serialise",
]
