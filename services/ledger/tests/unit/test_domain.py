"""Pure rules: unit formatting, history cursors (the shared codec with transfer-id keys), hold
ids, posting and credit-batch preconditions, invariant problems, mining power."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st
from ledger.domain import (
    Account,
    AccountAudit,
    AccountKind,
    AssetTotal,
    CheckReport,
    Credit,
    Overdrawn,
    Phase,
    Posting,
    PostingStatus,
    check_amount,
    check_credit_batch,
    check_resolution,
    expire_id,
    hold_id,
    post_id,
    purchase_of_hold,
    void_id,
)
from ledger.settings import LedgerSettings
from scifikpi_common.errors import InvalidCursor
from scifikpi_common.pagination import decode_cursor, encode_cursor


@given(st.datetimes(timezones=st.just(UTC)), st.text(min_size=1, max_size=60))
def test_cursor_round_trip(at: datetime, transfer_id: str) -> None:
    assert decode_cursor(encode_cursor(at, transfer_id), str) == (at, transfer_id)


@pytest.mark.parametrize("bad", ["", "!!", "bnVsbA", "WzEsMl0", "WyIyMDI2LTAxLTAxIiwieCJd"])
def test_bad_cursors(bad: str) -> None:
    with pytest.raises(InvalidCursor):
        decode_cursor(bad, str)


def test_mining_power_formula() -> None:
    s = LedgerSettings(
        environment="test",
        mining_r_base_micro_per_hour=1_000_000,
        mining_r_per_usd_micro_per_hour=50_000,
        mining_r_max_micro_per_hour=3_000_000,
    )
    assert s.mining_rate_micro_per_hour(0) == 1_000_000
    assert s.mining_rate_micro_per_hour(1099) == 1_500_000  # floor($10.99) = 10
    assert s.mining_rate_micro_per_hour(10**9) == 3_000_000
    with pytest.raises(ValueError):
        LedgerSettings(
            environment="test", mining_r_base_micro_per_hour=5, mining_r_max_micro_per_hour=4
        )


def test_hold_ids_name_their_purchase() -> None:
    purchase = uuid.uuid4()
    assert hold_id(purchase) == f"nft-hold:{purchase}"
    assert purchase_of_hold(hold_id(purchase)) == purchase
    assert {post_id(purchase), void_id(purchase), expire_id(purchase)} == {
        f"nft-{phase}:{purchase}" for phase in ("post", "void", "expire")
    }


def test_accounts_take_a_user_exactly_when_their_kind_is_a_users() -> None:
    user = uuid.uuid4()
    assert Account(AccountKind.user_points, user).asset == "points"
    assert Account(AccountKind.clearing_stripe).asset == "money"
    with pytest.raises(ValueError, match="need user"):
        Account(AccountKind.user_money)
    with pytest.raises(ValueError, match="take no user"):
        Account(AccountKind.mining_issuance, user)


def test_posting_preconditions() -> None:
    user = uuid.uuid4()
    for amount in (0, -1):
        with pytest.raises(ValueError, match="positive"):
            check_amount(amount)
    with pytest.raises(ValueError):
        check_resolution(Phase.pending)
    for phase in (Phase.post, Phase.void, Phase.expire):
        check_resolution(phase)
    good = [Credit("mining:1", user, 1, {})]
    check_credit_batch(good, system=AccountKind.mining_issuance, user_kind=AccountKind.user_points)
    for system, user_kind in [
        (AccountKind.user_points, AccountKind.user_points),  # from a user account
        (AccountKind.mining_issuance, AccountKind.nft_sales),  # to a system account
        (AccountKind.clearing_stripe, AccountKind.user_points),  # money into points
    ]:
        with pytest.raises(ValueError, match="one asset"):
            check_credit_batch(good, system=system, user_kind=user_kind)
    with pytest.raises(ValueError, match="positive"):
        check_credit_batch(
            [*good, Credit("mining:2", user, 0, {})],
            system=AccountKind.mining_issuance,
            user_kind=AccountKind.user_points,
        )


def test_posting_statuses_are_the_functions_strings() -> None:
    assert [s.value for s in PostingStatus] == [
        "created",
        "duplicate",
        "insufficient_funds",
        "not_found",
        "already_resolved",
        "expired",
        "not_due",
    ]
    assert Posting(PostingStatus("created"), "t").created
    assert not Posting(PostingStatus.duplicate, "t").created


def test_invariant_problems() -> None:
    user = uuid.uuid4()
    assert AssetTotal("points", 0, 0).problem() is None
    assert AssetTotal("money", 5, 0).problem() == {
        "invariant": "sum_zero",
        "asset": "money",
        "posted": 5,
        "pending": 0,
    }
    assert AccountAudit(1, "nft_sales", None, (1, 2, 3, 4), (1, 2, 3, 4)).problem() is None
    assert AccountAudit(2, "user_points", user, (0, 5, 0, 0), (0, 4, 0, 0)).problem() == {
        "invariant": "balance_matches_journal",
        "account_id": 2,
        "kind": "user_points",
        "user_id": str(user),
        "stored": [0, 5, 0, 0],
        "journal": [0, 4, 0, 0],
    }
    assert Overdrawn(3, "user_money", user, -7).problem() == {
        "invariant": "no_negative_user_account",
        "account_id": 3,
        "kind": "user_money",
        "user_id": str(user),
        "available": -7,
    }
    report = CheckReport(accounts=2, transfers=1)
    assert report.ok and report.as_dict() == {
        "ok": True,
        "accounts": 2,
        "transfers": 1,
        "problems": [],
    }
    report.problems.append({"invariant": "no_user_slots", "account_id": 2})
    assert not report.ok and report.as_dict()["ok"] is False
