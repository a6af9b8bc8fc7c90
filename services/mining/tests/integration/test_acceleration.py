"""Paid acceleration through the real consumer wrapper: applied, finishing, rejected (each reason
refunds through AccelerationRejected), and duplicates that change nothing."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from _mining_helpers import (
    DURATION_S,
    deliver,
    outbox,
    paid,
    session_row,
    shift_into_past,
    snapshot,
)
from scifikpi_common.clock import utcnow
from scifikpi_common.events import Envelope


@pytest.fixture
async def running(client, keys):
    """A user with a running session and a quote to skip 1800 s of it (price 50 cents)."""

    async def make(seconds: int = 1800, user: uuid.UUID | None = None):
        user = user or uuid.uuid4()
        session = (await client.post("/mining/start", headers=keys.headers(user))).json()
        quote = (
            await client.post(
                "/mining/acceleration/quote",
                json={"seconds": seconds},
                headers=keys.headers(user),
            )
        ).json()
        return user, session, quote

    return make


async def _rejections(engine) -> list[str]:
    return [e["reason"] for e in await outbox(engine, "AccelerationRejected")]


async def test_applied_skips_time_and_emits_mining_accelerated(running, factory, engine) -> None:
    user, session, quote = await running(1800)
    payment = paid(user, uuid.UUID(quote["quote_id"]), quote["price_minor"])
    assert await deliver(factory, payment) == ["handled"]
    row = await session_row(engine, session["id"])
    assert (row.status, row.skipped_s) == ("active", 1800)
    assert row.ends_at == row.started_at + timedelta(seconds=DURATION_S - 1800)
    [accelerated] = await outbox(engine, "MiningAccelerated")
    assert accelerated["payment_id"] == str(payment.payment_id)
    assert (accelerated["seconds_applied"], accelerated["skipped_s"]) == (1800, 1800)
    assert await _rejections(engine) == []


async def test_an_rub_payment_worth_the_price_applies(running, factory, engine) -> None:
    user, session, quote = await running(1800)
    # 4000 kopecks × 0.0125 = 50 US cents, exactly the price
    assert await deliver(factory, paid(user, uuid.UUID(quote["quote_id"]), 4000, "RUB"))
    assert (await session_row(engine, session["id"])).skipped_s == 1800


async def test_a_finishing_acceleration_completes_at_once(running, factory, engine) -> None:
    user, session, quote = await running(DURATION_S)
    await deliver(factory, paid(user, uuid.UUID(quote["quote_id"]), quote["price_minor"]))
    row = await session_row(engine, session["id"])
    assert row.status == "completed" and row.completed_at <= utcnow()
    [done] = await outbox(engine, "MiningCompleted")
    assert done["session_id"] == session["id"] and done["points_micro"] == session["target_micro"]
    assert [e["event_type"] for e in await outbox(engine)][-2:] == [
        "MiningAccelerated",
        "MiningCompleted",
    ]


class TestRejected:
    async def test_expired_quote(self, running, factory, engine) -> None:
        user, _, quote = await running()
        late = utcnow() + timedelta(seconds=901)
        await deliver(factory, paid(user, uuid.UUID(quote["quote_id"]), 50, succeeded_at=late))
        assert await _rejections(engine) == ["quote_expired"]

    async def test_another_users_quote(self, running, factory, engine) -> None:
        _, session, quote = await running()
        await deliver(factory, paid(uuid.uuid4(), uuid.UUID(quote["quote_id"]), 50))
        assert await _rejections(engine) == ["quote_user_mismatch"]
        assert (await session_row(engine, session["id"])).skipped_s == 0

    async def test_amount_below_price(self, running, factory, engine) -> None:
        user, _, quote = await running(2700)  # 75 cents
        assert quote["price_minor"] == 75
        await deliver(factory, paid(user, uuid.UUID(quote["quote_id"]), 74))
        await deliver(factory, paid(user, uuid.UUID(quote["quote_id"]), 5000, "RUB"))  # 62 ¢
        assert await _rejections(engine) == ["amount_below_price", "amount_below_price"]

    async def test_session_ended_before_the_payment(self, running, factory, engine) -> None:
        user, session, quote = await running()
        await shift_into_past(engine, session["id"], DURATION_S + 1)
        await deliver(factory, paid(user, uuid.UUID(quote["quote_id"]), 50))
        assert await _rejections(engine) == ["session_ended"]

    async def test_session_completed_before_the_payment(
        self, running, client, keys, factory, engine
    ) -> None:
        user, session, small = await running(1000)
        rest = (
            await client.post(
                "/mining/acceleration/quote",
                json={"seconds": DURATION_S},
                headers=keys.headers(user),
            )
        ).json()
        await deliver(factory, paid(user, uuid.UUID(rest["quote_id"]), rest["price_minor"]))
        assert (await session_row(engine, session["id"])).status == "completed"
        await deliver(factory, paid(user, uuid.UUID(small["quote_id"]), 50))
        assert await _rejections(engine) == ["session_ended"]
        assert len(await outbox(engine, "MiningCompleted")) == 1

    async def test_unknown_or_missing_quote(self, factory, engine) -> None:
        await deliver(factory, paid(uuid.uuid4(), uuid.uuid4(), 50))
        await deliver(factory, paid(uuid.uuid4(), None, 50))
        rejected = await outbox(engine, "AccelerationRejected")
        assert [e["reason"] for e in rejected] == ["quote_not_found"] * 2
        assert rejected[1]["quote_id"] == str(uuid.UUID(int=0))

    async def test_a_quote_paid_twice(self, running, factory, engine) -> None:
        user, session, quote = await running(600)
        qid = uuid.UUID(quote["quote_id"])
        second = paid(user, qid, 50)
        assert await deliver(factory, paid(user, qid, 50)) == ["handled"]
        assert await deliver(factory, second) == ["handled"]
        rejected = await outbox(engine, "AccelerationRejected")
        assert [(e["reason"], e["payment_id"]) for e in rejected] == [
            ("quote_used", str(second.payment_id))
        ]
        assert (await session_row(engine, session["id"])).skipped_s == 600


async def test_other_purposes_are_ignored(factory, engine) -> None:
    user = uuid.uuid4()
    assert await deliver(factory, paid(user, None, 1000, purpose="topup")) == ["handled"]
    assert await outbox(engine) == []


async def test_the_same_payment_again_changes_nothing(running, factory, engine) -> None:
    """Same envelope (inbox) and the same payment under new event ids (decision per payment,
    `used_by_payment_id`), both for an applied and a rejected payment."""
    user, _, quote = await running(600)
    applied = paid(user, uuid.UUID(quote["quote_id"]), 50)
    rejected = paid(user, uuid.uuid4(), 50)
    for payment in (applied, rejected):
        envelope = Envelope.wrap(payment, producer="payments")
        assert await deliver(factory, payment, envelope=envelope) == ["handled"]
        before = await snapshot(engine)
        for _ in range(5):
            assert await deliver(factory, payment, envelope=envelope) == ["duplicate"]
            assert await deliver(factory, payment) == ["handled"]
        assert await snapshot(engine) == before
    types = [e["event_type"] for e in await outbox(engine)]
    assert types.count("MiningAccelerated") == 1 and types.count("AccelerationRejected") == 1
