"""The projection's pure rules: every consumed event has a rule and a route, each event yields
the facts and deltas the metric catalog says, and the stepped join is order-independent."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from _analytics_helpers import (
    activated,
    at,
    catalog_changed,
    completed,
    journey,
    minted,
    paid,
    payment_failed,
    refunded,
    registered,
    requested,
    started,
)
from analytics.consumers import consumers
from analytics.domain import METRICS, Delta, merge
from analytics.projection import domain
from hypothesis import given
from hypothesis import strategies as st
from scifikpi_common.events import ALL_EVENTS

OCCURRED = datetime(2026, 3, 1, 23, 59, tzinfo=UTC)


def _all_deltas(events) -> dict[str, int]:
    """The batch's rollup moves, as `handlers.apply_batch` computes them (on an empty store)."""
    changes = domain.changes_of((e, OCCURRED) for e in events)
    deltas: list[Delta] = []
    for stepped in (changes.accounts, changes.sessions, changes.purchases):
        deltas += domain.shift({}, domain.fold({}, stepped))
    for once in (changes.payments, changes.accelerations, changes.movements, changes.transfers):
        deltas += [d for f in domain.first_of_each(once) for d in f.deltas()]
    out: dict[str, int] = {}
    for d in merge(deltas):
        out[d.metric] = out.get(d.metric, 0) + d.value
    return out


def test_every_published_event_type_has_a_rule_and_a_strict_batch_route() -> None:
    assert set(domain.RULES) == set(ALL_EVENTS.values())
    assert consumers.strict
    for cls in ALL_EVENTS.values():
        routes = consumers._routes[cls.TOPIC][cls.EVENT_TYPE]
        assert [r.batch for r in routes] == [True], cls
    assert (
        len({r.consumer for t in consumers._routes.values() for rs in t.values() for r in rs}) == 8
    )


def test_every_metric_has_an_event_that_moves_it() -> None:
    user = uuid.uuid4()
    p = paid(user, purpose="topup")
    events = [*journey(user), p, refunded(p), payment_failed(user)]
    moved = _all_deltas(events)
    assert set(moved) == {m.name for m in METRICS}
    assert moved["nft.points_spent"] == 1_000_000 and moved["points.reserved"] == 2_000_000


def test_missing_times_fall_back_to_the_envelope() -> None:
    from scifikpi_common.events import NftMinted, NftPurchaseFailed, NftPurchaseRequested

    user, pid = uuid.uuid4(), uuid.uuid4()
    r = NftPurchaseRequested(
        user_id=user, purchase_id=pid, catalog_item_id=uuid.uuid4(), price_points_micro=5
    )
    (purchase,) = domain.facts_of(r, OCCURRED)
    assert purchase.requested_at == OCCURRED
    purchase, account = domain.facts_of(NftMinted(user_id=user, purchase_id=pid), OCCURRED)
    assert purchase.minted_at == OCCURRED == account.first_purchase_at
    (failed,) = domain.facts_of(
        NftPurchaseFailed(user_id=user, purchase_id=pid, reason="x"), OCCURRED
    )
    assert failed.failed_at == OCCURRED


def test_points_spent_is_the_requested_price_once_both_are_known() -> None:
    r = requested(uuid.uuid4(), "2026-03-01T10:00", price=3_000_000)
    (req,) = domain.facts_of(r, OCCURRED)
    mint, _ = domain.facts_of(minted(r, "2026-03-01T10:20"), OCCURRED)
    assert [d.metric for d in mint.deltas()] == ["nft.purchases_completed"]  # price not known yet
    row = domain.merged(mint, req)
    spent = [d for d in row.deltas() if d.metric == "nft.points_spent"]
    assert spent == [
        Delta(
            "nft.points_spent",
            f"catalog_item_id={r.catalog_item_id}",
            at("2026-03-01T10:15"),
            3_000_000,
        )
    ]


def test_shift_moves_an_activation_to_the_registered_type() -> None:
    user = uuid.uuid4()
    (act,) = domain.facts_of(activated(user, "2026-03-01T10:02"), OCCURRED)
    (reg,) = domain.facts_of(
        registered(user, "2026-03-01T10:00", account_type="legal_entity", country="RU"), OCCURRED
    )
    moved = domain.shift({user: act}, {user: domain.merged(act, reg)})
    assert sorted((d.metric, d.dimension, d.value) for d in moved) == [
        ("accounts.activated", "account_type=;country=", -1),
        ("accounts.activated", "account_type=legal_entity;country=RU", 1),
        ("accounts.registered", "account_type=legal_entity;country=RU", 1),
    ]


def test_shift_of_an_unchanged_row_is_nothing() -> None:
    s, _ = domain.facts_of(started(uuid.uuid4()), OCCURRED)
    assert domain.shift({s.key: s}, {s.key: domain.merged(s, s)}) == []


def test_latest_catalog_state_and_first_of_each_fact() -> None:
    item = uuid.uuid4()
    states = [catalog_changed(item, f"2026-03-01T1{h}:00", supply=h) for h in (2, 0, 1)]
    items = [f for s in states for f in domain.facts_of(s, OCCURRED)]
    (latest,) = domain.latest_items(items)  # type: ignore[arg-type]
    assert latest.supply_total == 2
    p = paid(uuid.uuid4())
    twice = [f for e in (p, p) for f in domain.facts_of(e, OCCURRED)]
    assert len(domain.first_of_each(twice)) == 1  # type: ignore[arg-type]


_times = st.one_of(
    st.none(), st.integers(0, 4 * 96).map(lambda m: at("2026-03-01T00:00") + timedelta(minutes=m))
)
_accounts = st.builds(
    domain.Account,
    user_id=st.just(uuid.UUID(int=1)),
    account_type=st.sampled_from([None, "individual"]),
    country=st.sampled_from([None, "DE"]),
    registered_at=_times,
    activated_at=_times,
    wallet_bound_at=_times,
)


def _one_by_one(start: domain.Account | None, changes: list[domain.Account]) -> list[Delta]:
    before = {} if start is None else {start.key: start}
    moved: list[Delta] = []
    for c in changes:
        after = domain.fold(before, [c])
        moved += domain.shift(before, after)
        before = {**before, **after}
    return [d for d in merge(moved) if d.value != 0]


@given(st.lists(_accounts, min_size=1, max_size=6), st.randoms())
def test_a_batch_moves_the_rollups_as_its_events_one_by_one_in_any_order(changes, rnd) -> None:
    key = changes[0].key
    batch = domain.fold({}, changes)
    shuffled = rnd.sample(changes, len(changes))
    assert domain.fold({}, shuffled) == batch  # the join does not depend on the order...
    in_batch = {(d.metric, d.dimension, d.bucket_start): d.value for d in domain.shift({}, batch)}
    each = {(d.metric, d.dimension, d.bucket_start): d.value for d in _one_by_one(None, shuffled)}
    assert in_batch == each  # ...and neither do the rollups it moves
    assert in_batch == {
        (d.metric, d.dimension, d.bucket_start): d.value for d in merge(batch[key].deltas())
    }


@given(_accounts, _accounts)
def test_the_join_is_idempotent_and_commutative_on_one_facts_values(a, b) -> None:
    assert domain.merged(a, a) == a
    assert domain.merged(domain.merged(a, b), b) == domain.merged(a, b)
    times = ("registered_at", "activated_at", "wallet_bound_at")
    for name in times:
        assert getattr(domain.merged(a, b), name) == getattr(domain.merged(b, a), name)


def test_completed_session_points() -> None:
    s = started(uuid.uuid4(), "2026-03-01T10:00")
    (row,) = domain.facts_of(completed(s, "2026-03-01T11:00", points=5), OCCURRED)
    assert {d.metric: d.value for d in row.deltas()} == {
        "mining.sessions_completed": 1,
        "mining.points_mined": 5,
    }
