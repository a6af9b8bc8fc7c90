"""The projections (auth.user.v1, ledger.account.v1) and redelivery of every consumed event."""

from __future__ import annotations

import uuid
from datetime import timedelta

from _mining_helpers import (
    DURATION_S,
    activated,
    credited,
    debited,
    deliver,
    outbox,
    paid,
    registered,
    session_row,
    shift_into_past,
    snapshot,
)
from mining.processes import complete_due_once
from scifikpi_common.clock import utcnow
from scifikpi_common.events import Envelope


async def _start(client, keys, user, **claims):
    return await client.post("/mining/start", headers=keys.headers(user, **claims))


async def _rate_of_next_session(client, keys, engine, factory, user) -> int:
    r = await _start(client, keys, user)
    assert r.status_code == 201, r.text
    body = r.json()
    await shift_into_past(engine, body["id"], DURATION_S)
    await complete_due_once(factory, batch_size=10)
    return body["rate_micro_per_hour"]


async def test_every_consumed_event_redelivered_five_times_changes_nothing(
    client, keys, engine, factory
) -> None:
    user = uuid.uuid4()
    await deliver(factory, registered(user))
    session = (await _start(client, keys, user)).json()
    quote = (
        await client.post(
            "/mining/acceleration/quote", json={"seconds": 60}, headers=keys.headers(user)
        )
    ).json()
    events = [
        registered(user),
        activated(user),
        credited(user, 2500),
        debited(user, 1000),
        paid(user, uuid.UUID(quote["quote_id"]), 50),
        paid(user, uuid.uuid4(), 50),
        paid(user, None, 1000, purpose="topup"),
    ]
    for event in events:
        envelope = Envelope.wrap(event, producer="test")
        assert await deliver(factory, event, envelope=envelope) == ["handled"]
        before = await snapshot(engine)
        for _ in range(5):
            # the same message again (inbox), and the same fact under a new event id
            assert await deliver(factory, event, envelope=envelope) == ["duplicate"]
            assert await deliver(factory, event) == ["handled"]
        assert await snapshot(engine) == before, event.EVENT_TYPE
    assert [e["event_type"] for e in await outbox(engine)] == [
        "MiningStarted",
        "MiningAccelerated",
        "AccelerationRejected",
    ]
    assert (await session_row(engine, session["id"])).skipped_s == 60


async def test_activation_admits_and_registration_never_downgrades(client, keys, factory):
    user = uuid.uuid4()
    await deliver(factory, registered(user))
    assert (await _start(client, keys, user, status="pending_payment")).status_code == 403
    await deliver(factory, activated(user))
    await deliver(factory, registered(user))  # late or replayed: activation is one-way
    assert (await _start(client, keys, user, status="pending_payment")).status_code == 201


async def test_deposits_set_the_next_sessions_rate_and_a_running_one_stays_frozen(
    client, keys, engine, factory, settings
) -> None:
    user = uuid.uuid4()
    rate = settings.mining_rate_micro_per_hour
    assert await _rate_of_next_session(client, keys, engine, factory, user) == rate(0)
    t0 = utcnow()
    await deliver(factory, credited(user, 2599, booked_at=t0))
    running = (await _start(client, keys, user)).json()
    assert running["rate_micro_per_hour"] == rate(2599) > rate(0)
    await deliver(factory, credited(user, 10_000, booked_at=t0 + timedelta(seconds=1)))
    # the running session keeps its rate and target
    status = (await client.get("/mining/status", headers=keys.headers(user))).json()
    assert (status["rate_micro_per_hour"], status["target_micro"]) == (
        running["rate_micro_per_hour"],
        running["target_micro"],
    )
    await shift_into_past(engine, running["id"], DURATION_S)
    await complete_due_once(factory, batch_size=10)
    completed = await outbox(engine, "MiningCompleted")
    [done] = [e for e in completed if e["session_id"] == running["id"]]
    assert done["points_micro"] == running["target_micro"]
    assert await _rate_of_next_session(client, keys, engine, factory, user) == rate(10_000)
    # a refund lowers it; an older booking arriving late changes nothing
    await deliver(factory, debited(user, 500, booked_at=t0 + timedelta(seconds=2)))
    await deliver(factory, credited(user, 99_999, booked_at=t0 + timedelta(seconds=1)))
    assert await _rate_of_next_session(client, keys, engine, factory, user) == rate(500)
