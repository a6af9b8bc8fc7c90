"""Kafka consumers of the nft service (`nft-worker`).

Empty in this slice: the purchase saga (next) consumes `PointsReserved` and
`PointsReservationRejected` here. The inbox table already exists.
"""

from __future__ import annotations

from scifikpi_common.messaging import EventConsumers

from nft.models import inbox

consumers = EventConsumers(service="nft", inbox=inbox)
