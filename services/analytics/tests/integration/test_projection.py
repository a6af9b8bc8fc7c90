"""The projection through the real consumers (batch path, real Postgres): every event type lands
in its facts and rollups, exactly once whatever the redelivery, and in any order of arrival."""

from __future__ import annotations

import random
import uuid

import pytest
from _analytics_helpers import (
    JOURNEY_TOTALS,
    accelerated,
    acceleration_rejected,
    activated,
    apply,
    apply_each,
    at,
    by_dimension,
    catalog_changed,
    cells,
    completed,
    debited,
    dump,
    journey,
    minted,
    paid,
    payment_failed,
    purchase_failed,
    refunded,
    registered,
    requested,
    reservation_rejected,
    reserved,
    rows,
    started,
    totals,
    transferred,
    wallet_bound,
)
from analytics import models
from analytics.domain import bucket_of

#: After every test here: `rollup_totals` is the sum of the rollups (see conftest).
pytestmark = pytest.mark.usefixtures("rollup_totals_checked")


async def test_a_whole_journey_lands_in_every_fact_and_metric(factory, engine) -> None:
    user, item = uuid.uuid4(), uuid.uuid4()
    events = journey(user, "2026-03-01T10:00", item=item, account_type="legal_entity", country="FR")
    outcomes = await apply(factory, catalog_changed(item, "2026-03-01T09:00"), *events)
    assert outcomes == [["handled"]] * (len(events) + 1)
    assert await totals(engine) == JOURNEY_TOTALS
    (account,) = await rows(engine, models.accounts)
    assert account == {
        "user_id": user,
        "account_type": "legal_entity",
        "country": "FR",
        "registered_at": at("2026-03-01T10:00"),
        "activated_at": at("2026-03-01T10:02"),
        "first_session_at": at("2026-03-01T10:03"),
        "first_purchase_at": at("2026-03-01T10:09"),
        "wallet_bound_at": at("2026-03-01T10:13"),
        "first_transfer_at": at("2026-03-01T10:14"),
    }
    assert await by_dimension(engine, "accounts.activated") == {
        "account_type=legal_entity;country=FR": 1
    }
    assert await by_dimension(engine, "nft.points_spent") == {f"catalog_item_id={item}": 1_000_000}
    assert await by_dimension(engine, "nft.purchases_failed") == {"reason=mint_failed": 1}
    (session,) = await rows(engine, models.sessions)
    assert (session["completed_at"], session["points_micro"]) == (at("2026-03-01T10:06"), 2_000_000)
    purchases = {p["minted_at"] is not None: p for p in await rows(engine, models.purchases)}
    assert purchases[True]["price_points_micro"] == 1_000_000
    assert purchases[False]["failure_reason"] == "mint_failed"
    kinds = sorted(m["kind"] for m in await rows(engine, models.point_movements))
    assert kinds == ["credited", "debited", "released", "reserved", "reserved"]
    (catalog,) = await rows(engine, models.catalog_items)
    assert (catalog["name"], catalog["supply_total"], catalog["status"]) == ("Nebula", 10, "active")
    progress = {r["topic"]: r for r in await rows(engine, models.topic_progress)}
    assert sum(r["events_applied"] for r in progress.values()) == len(events) + 1
    assert set(progress) == {
        "auth.user.v1",
        "payments.payment.v1",
        "mining.session.v1",
        "ledger.account.v1",
        "nft.purchase.v1",
        "nft.transfer.v1",
        "nft.catalog.v1",
        "nft.wallet.v1",
    }


async def test_every_payment_outcome_by_provider_currency_and_reason(factory, engine) -> None:
    user = uuid.uuid4()
    topup = paid(
        user,
        "2026-03-01T10:05",
        purpose="topup",
        provider="yoomoney",
        amount=90_000,
        currency="RUB",
    )
    deposit = paid(user, "2026-03-01T10:20", amount=2000)
    await apply(
        factory,
        deposit,
        topup,
        refunded(topup, "2026-03-01T11:00"),
        payment_failed(user, "2026-03-01T10:01", reason="declined"),
        payment_failed(
            user, "2026-03-01T10:02", purpose="registration", provider="stripe", reason="expired"
        ),
    )
    assert await totals(engine) == {
        "payments.deposits.count": 1,
        "payments.deposits.amount": 2000,
        "payments.topups.count": 1,
        "payments.topups.amount": 90_000,
        "payments.refunds.count": 1,
        "payments.refunds.amount": 90_000,
        "payments.failed.count": 2,
    }
    assert await by_dimension(engine, "payments.refunds.amount") == {
        "currency=RUB;provider=yoomoney;purpose=topup": 90_000
    }
    assert await by_dimension(engine, "payments.failed.count") == {
        "provider=yoomoney;purpose=topup;reason=declined": 1,
        "provider=stripe;purpose=registration;reason=expired": 1,
    }
    buckets = {(m, b) for m, _, b in await cells(engine)}
    assert ("payments.deposits.count", at("2026-03-01T10:15")) in buckets
    assert ("payments.refunds.count", at("2026-03-01T11:00")) in buckets


async def test_events_without_a_figure_are_applied_but_move_nothing(factory, engine) -> None:
    user = uuid.uuid4()
    r = requested(user)
    outcomes = await apply(factory, acceleration_rejected(user), reservation_rejected(r))
    assert outcomes == [["handled"], ["handled"]]
    assert await totals(engine) == {}
    progress = await rows(engine, models.topic_progress)
    assert sorted((p["topic"], p["events_applied"]) for p in progress) == [
        ("ledger.account.v1", 1),
        ("mining.session.v1", 1),
    ]


async def test_the_same_event_delivered_ten_times_counts_once(factory, engine) -> None:
    from _analytics_helpers import wrap

    user = uuid.uuid4()
    envelope = wrap(registered(user))
    once = [("auth.user.v1", envelope)]
    outcomes = await apply(factory, *(once * 5))  # five in one poll
    assert outcomes == [["handled"]] + [["duplicate"]] * 4
    assert await apply_each(factory, *(once * 5)) == [["duplicate"]] * 5  # and five polls more
    assert await totals(engine) == {"accounts.registered": 1}
    (progress,) = await rows(engine, models.topic_progress)
    assert progress["events_applied"] == 1


async def test_the_same_fact_under_new_event_ids_counts_once(factory, engine) -> None:
    user = uuid.uuid4()
    deposit, session, r = paid(user), started(user), requested(user)
    done = completed(session)
    facts = [
        registered(user),
        activated(user),
        deposit,
        session,
        done,
        accelerated(session, payment_id=deposit.payment_id),
    ]
    facts += [r, reserved(r), minted(r), debited(r), transferred(r), wallet_bound(user)]
    await apply(factory, *facts)
    first = await dump(engine, [models.rollups])
    # every fact again under fresh event ids (a producer that re-published), in one poll, then
    # one by one
    assert all(o == ["handled"] for o in await apply(factory, *facts))
    assert all(o == ["handled"] for o in await apply_each(factory, *facts))
    assert await dump(engine, [models.rollups]) == first
    assert (await totals(engine))["nft.points_spent"] == 1_000_000


async def test_a_request_and_its_mint_in_one_batch_spend_the_requested_price(
    factory, engine
) -> None:
    user, item = uuid.uuid4(), uuid.uuid4()
    r = requested(user, "2026-03-01T10:00", item=item, price=7_000_000)
    m = minted(r, "2026-03-01T10:31")
    await apply(factory, r, m)
    in_one = await dump(engine)
    assert await by_dimension(engine, "nft.points_spent") == {f"catalog_item_id={item}": 7_000_000}
    cell = ("nft.points_spent", f"catalog_item_id={item}", at("2026-03-01T10:30"))
    assert (await cells(engine))[cell] == 7_000_000
    # a mint that arrives first (the request lost, then replayed) ends the same
    await _reset(engine)
    await apply_each(factory, m, r)
    assert _without_progress(await dump(engine)) == _without_progress(in_one)


async def test_any_order_of_arrival_gives_the_same_figures(factory, engine) -> None:
    users = [uuid.uuid4() for _ in range(4)]
    item = uuid.uuid4()
    events = [catalog_changed(item)]
    for i, user in enumerate(users):
        events += journey(
            user,
            f"2026-03-0{i + 1}T10:00",
            item=item,
            account_type=("individual", "legal_entity")[i % 2],
            country=("DE", "RU")[i % 2],
        )
    await apply(factory, *events)
    in_order = _without_progress(await dump(engine))
    for seed in range(3):
        shuffled = random.Random(seed).sample(events, len(events))
        await _reset(engine)
        await apply(factory, *shuffled)  # one poll, every kind interleaved
        assert _without_progress(await dump(engine)) == in_order, seed
        await _reset(engine)
        await apply_each(factory, *shuffled)  # one transaction per event
        assert _without_progress(await dump(engine)) == in_order, seed


async def test_activation_before_registration_moves_to_the_accounts_type(factory, engine) -> None:
    user = uuid.uuid4()
    await apply(factory, activated(user, "2026-03-01T10:02"))
    assert await by_dimension(engine, "accounts.activated") == {"account_type=;country=": 1}
    await apply(
        factory, registered(user, "2026-03-01T10:00", account_type="legal_entity", country="RU")
    )
    assert await by_dimension(engine, "accounts.activated") == {
        "account_type=legal_entity;country=RU": 1
    }
    assert all(dim != "account_type=;country=" for _, dim, _ in await cells(engine))


async def test_mining_started_before_user_registered(factory, engine) -> None:
    user = uuid.uuid4()
    s = started(user, "2026-03-01T10:05")
    await apply(factory, s)
    await apply(factory, registered(user, "2026-03-01T10:00"))
    (account,) = await rows(engine, models.accounts)
    assert (account["first_session_at"], account["registered_at"], account["account_type"]) == (
        at("2026-03-01T10:05"),
        at("2026-03-01T10:00"),
        "individual",
    )
    assert await totals(engine) == {"accounts.registered": 1, "mining.sessions_started": 1}


async def test_funnel_steps_keep_the_earliest_time(factory, engine) -> None:
    user = uuid.uuid4()
    later, earlier = started(user, "2026-03-02T10:00"), started(user, "2026-03-01T09:00")
    await apply(factory, later)
    await apply(factory, earlier)
    (account,) = await rows(engine, models.accounts)
    assert account["first_session_at"] == at("2026-03-01T09:00")
    assert (await totals(engine))["mining.sessions_started"] == 2


async def test_a_retired_catalog_item_keeps_its_latest_state(factory, engine) -> None:
    item = uuid.uuid4()
    v1 = catalog_changed(item, "2026-03-01T10:00", supply=10)
    v2 = catalog_changed(item, "2026-03-01T11:00", supply=12, name="Nebula II")
    v3 = catalog_changed(item, "2026-03-01T12:00", supply=12, name="Nebula II", status="retired")
    await apply(factory, v1, v3, v2)
    await apply(factory, v2, v1)
    (row,) = await rows(engine, models.catalog_items)
    assert (row["name"], row["supply_total"], row["status"], row["changed_at"]) == (
        "Nebula II",
        12,
        "retired",
        at("2026-03-01T12:00"),
    )
    assert row["first_seen_at"] == at("2026-03-01T10:00")


async def test_a_catalog_item_is_first_seen_at_its_earliest_event(factory, engine) -> None:
    item = uuid.uuid4()
    v2 = catalog_changed(item, "2026-03-01T11:00", supply=12, name="Nebula II")
    await apply(factory, v2)
    await apply(factory, catalog_changed(item, "2026-03-01T10:00", supply=10))  # late, older
    (row,) = await rows(engine, models.catalog_items)
    assert (row["name"], row["changed_at"], row["first_seen_at"]) == (
        "Nebula II",
        at("2026-03-01T11:00"),
        at("2026-03-01T10:00"),
    )
    await apply(factory, catalog_changed(item, "2026-03-01T12:00", supply=5, name="Nebula III"))
    (row,) = await rows(engine, models.catalog_items)
    assert (row["name"], row["supply_total"], row["first_seen_at"]) == (
        "Nebula III",
        5,
        at("2026-03-01T10:00"),
    )


async def test_a_purchase_failed_after_a_requested_one(factory, engine) -> None:
    r = requested(uuid.uuid4(), "2026-03-01T10:00")
    await apply(factory, r, purchase_failed(r, "2026-03-01T10:16", reason="insufficient_funds"))
    assert await by_dimension(engine, "nft.purchases_failed") == {"reason=insufficient_funds": 1}
    assert bucket_of(at("2026-03-01T10:16")) == at("2026-03-01T10:15")


async def _reset(engine) -> None:
    from sqlalchemy import text

    async with engine.begin() as conn:
        names = ", ".join(
            f"analytics.{t}"
            for t in (
                "inbox",
                "topic_progress",
                "rollups",
                "rollup_totals",
                "accounts",
                "payments",
                "sessions",
                "accelerations",
                "point_movements",
                "purchases",
                "catalog_items",
                "transfers",
            )
        )
        await conn.execute(text(f"TRUNCATE {names}"))


def _without_progress(d: dict) -> dict:
    """Facts and rollups only: each `apply` wraps its events in new envelopes, so the
    newest_event_at of topic_progress (the envelopes' occurred_at) differs between runs."""
    return {k: v for k, v in d.items() if k != "topic_progress"}
