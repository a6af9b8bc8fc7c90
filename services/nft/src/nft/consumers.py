"""Kafka consumers of the nft service (`nft-worker`): the ledger's answers to a purchase.

Each handler runs inside the consumer runner's unit of work (inbox claim + one commit), so a
redelivered event changes nothing; the state guards in `nft.purchases.handlers` make a repeated
fact under a new event id harmless too. Unknown purchase ids are logged and ignored.
"""

from __future__ import annotations

from scifikpi_common.clock import utcnow
from scifikpi_common.db import UnitOfWork
from scifikpi_common.events.ledger import PointsReservationRejected, PointsReserved
from scifikpi_common.messaging import EventConsumers

from nft.models import inbox
from nft.purchases import handlers as purchases

consumers = EventConsumers(service="nft", inbox=inbox)


@consumers.handler(PointsReserved)
async def on_points_reserved(event: PointsReserved, uow: UnitOfWork) -> None:
    """The price is held: the purchase is `reserved` and the chain engine is woken to mint."""
    await purchases.on_reserved(uow, event.purchase_id, now=utcnow())


@consumers.handler(PointsReservationRejected)
async def on_points_reservation_rejected(event: PointsReservationRejected, uow: UnitOfWork) -> None:
    """No hold (e.g. not enough points): the purchase fails and its unit returns to supply."""
    await purchases.on_rejected(uow, event.purchase_id, now=utcnow())
