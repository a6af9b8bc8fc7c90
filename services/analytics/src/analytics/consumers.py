"""Kafka consumers of the analytics service (`analytics-worker`): every topic, one batch handler
per topic taking every event type of it (a poll in one transaction), strict: an event of a type
this build does not know, or of a newer schema version, is skipped with a warning and
`events_skipped_total` (never a crash or a dead letter, and not claimed, so a later build can
replay it).

Each handler hands its batch to `projection.handlers.apply_batch`; the inbox (consumer
`analytics.<handler>`) dedupes redelivered and replayed events, the facts' business keys dedupe
the same fact under another event id. `analytics-admin rebuild` replays the topics through the
same `consumers.process_batch`.
"""

from __future__ import annotations

from scifikpi_common.db import UnitOfWork
from scifikpi_common.events.auth import USER_TOPIC
from scifikpi_common.events.ledger import ACCOUNT_TOPIC
from scifikpi_common.events.mining import SESSION_TOPIC
from scifikpi_common.events.nft import CATALOG_TOPIC, PURCHASE_TOPIC, TRANSFER_TOPIC, WALLET_TOPIC
from scifikpi_common.events.payments import PAYMENT_TOPIC
from scifikpi_common.messaging import EventConsumers

from analytics.models import inbox
from analytics.projection import handlers
from analytics.projection.domain import events_by_topic
from analytics.projection.handlers import Item

consumers = EventConsumers(
    service="analytics", inbox=inbox, strict=True, one_subscription=True, max_batch=2_000
)

_TYPES = events_by_topic()


@consumers.batch_handler(*_TYPES[USER_TOPIC])
async def on_auth_users(items: list[Item], uow: UnitOfWork) -> None:
    await handlers.apply_batch(uow, USER_TOPIC, items)


@consumers.batch_handler(*_TYPES[PAYMENT_TOPIC])
async def on_payments(items: list[Item], uow: UnitOfWork) -> None:
    await handlers.apply_batch(uow, PAYMENT_TOPIC, items)


@consumers.batch_handler(*_TYPES[SESSION_TOPIC])
async def on_mining_sessions(items: list[Item], uow: UnitOfWork) -> None:
    await handlers.apply_batch(uow, SESSION_TOPIC, items)


@consumers.batch_handler(*_TYPES[ACCOUNT_TOPIC])
async def on_ledger_accounts(items: list[Item], uow: UnitOfWork) -> None:
    await handlers.apply_batch(uow, ACCOUNT_TOPIC, items)


@consumers.batch_handler(*_TYPES[PURCHASE_TOPIC])
async def on_nft_purchases(items: list[Item], uow: UnitOfWork) -> None:
    await handlers.apply_batch(uow, PURCHASE_TOPIC, items)


@consumers.batch_handler(*_TYPES[TRANSFER_TOPIC])
async def on_nft_transfers(items: list[Item], uow: UnitOfWork) -> None:
    await handlers.apply_batch(uow, TRANSFER_TOPIC, items)


@consumers.batch_handler(*_TYPES[CATALOG_TOPIC])
async def on_nft_catalog(items: list[Item], uow: UnitOfWork) -> None:
    await handlers.apply_batch(uow, CATALOG_TOPIC, items)


@consumers.batch_handler(*_TYPES[WALLET_TOPIC])
async def on_nft_wallets(items: list[Item], uow: UnitOfWork) -> None:
    await handlers.apply_batch(uow, WALLET_TOPIC, items)
