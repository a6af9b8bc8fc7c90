"""Through a real Kafka-protocol broker: events in → ledger-worker → outbox → ledger-relay →
`ledger.account.v1` out, with a redelivered message changing nothing."""

from __future__ import annotations

import uuid

import pytest
from _ledger_helpers import mined, requested
from ledger.consumers import consumers
from ledger.domain import AccountKind
from ledger.models import make_outbox
from ledger.repository import AccountRepository
from scifikpi_common.events import Envelope
from scifikpi_common.testing.broker import TopicReader, of_type, processes_running, publish


@pytest.mark.kafka
async def test_worker_and_relay_through_the_broker(
    kafka_bootstrap_servers: str, settings, factory
) -> None:
    settings = settings.model_copy(update={"kafka_bootstrap_servers": kafka_bootstrap_servers})
    user = uuid.uuid4()
    async with (
        processes_running(settings, make_outbox, consumers) as processes,
        TopicReader(kafka_bootstrap_servers, "ledger.account.v1") as reader,
    ):
        # topics are consumed independently, so the test orders the flow as the saga does
        credit = mined(user, 3_000_000)
        envelope = Envelope.wrap(credit, producer="mining")
        await publish(kafka_bootstrap_servers, credit.TOPIC, envelope, times=2)  # redelivered
        await reader.read(user, of_type("PointsCredited"), alive=processes)
        hold = requested(user, 2_000_000)
        await publish(kafka_bootstrap_servers, hold.TOPIC, Envelope.wrap(hold, producer="nft"))
        seen = await reader.read(user, of_type("PointsReserved"), alive=processes)
    async with factory() as uow:
        points = await AccountRepository(uow.session).balances(AccountKind.user_points, user)
    assert (points.available, points.pending_debits) == (1_000_000, 2_000_000)
    assert [e["event_type"] for e in seen].count("PointsCredited") == 1
