"""The FastStream broker every service process uses."""

from __future__ import annotations

import logging

from faststream.kafka import KafkaBroker


def make_broker(bootstrap_servers: str, *, client_id: str) -> KafkaBroker:
    """The one place a FastStream broker is built (plain producer: Tansu has no idempotence)."""
    # A stdlib logger, so FastStream's lines go through the same JSON formatter as ours.
    return KafkaBroker(
        bootstrap_servers, client_id=client_id, acks="all", logger=logging.getLogger("faststream")
    )
