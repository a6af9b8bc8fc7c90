"""The objects the fake stores, each shaped as the API shows it (`to_json`): payments, refunds,
and the saved answers of idempotent requests."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from scifikpi_tools.standins.yookassa.values import iso, money

#: what a test shop's income is after the provider fee (shown in `income_amount`)
FEE_RATE = Decimal("0.035")
GATEWAY_ID = "100700"


@dataclass
class Payment:
    id: str
    amount: Decimal
    currency: str
    capture: bool
    description: str | None
    metadata: dict[str, str]
    confirmation: dict[str, Any] | None
    created_at: datetime
    shop_id: str
    status: str = "pending"
    captured_at: datetime | None = None
    expires_at: datetime | None = None
    cancellation_details: dict[str, str] | None = None
    payment_method: dict[str, Any] | None = None
    refunded: Decimal = Decimal("0.00")
    authorized: Decimal | None = None

    @property
    def paid(self) -> bool:
        return self.status in {"waiting_for_capture", "succeeded"}

    @property
    def remaining(self) -> Decimal:
        return self.amount - self.refunded

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "status": self.status,
            "paid": self.paid,
            "amount": {"value": money(self.amount), "currency": self.currency},
        }
        if self.status == "succeeded":
            income = self.amount - (self.amount * FEE_RATE)
            out["income_amount"] = {"value": money(income), "currency": self.currency}
        if self.description is not None:
            out["description"] = self.description
        out["recipient"] = {"account_id": self.shop_id, "gateway_id": GATEWAY_ID}
        if self.payment_method is not None:
            out["payment_method"] = copy.deepcopy(self.payment_method)
        if self.captured_at is not None:
            out["captured_at"] = iso(self.captured_at)
        out["created_at"] = iso(self.created_at)
        if self.expires_at is not None and self.status == "waiting_for_capture":
            out["expires_at"] = iso(self.expires_at)
        if self.confirmation is not None and self.status == "pending":
            out["confirmation"] = copy.deepcopy(self.confirmation)
        out["test"] = True
        if self.refunded > 0:
            out["refunded_amount"] = {"value": money(self.refunded), "currency": self.currency}
        out["refundable"] = self.status == "succeeded" and self.remaining > 0
        out["metadata"] = dict(self.metadata)
        if self.cancellation_details is not None:
            out["cancellation_details"] = dict(self.cancellation_details)
        if self.paid:
            out["authorization_details"] = {
                "rrn": self.id.replace("-", "")[:12],
                "auth_code": self.id.replace("-", "")[-6:],
                "three_d_secure": {"applied": False},
            }
        return out


@dataclass
class Refund:
    id: str
    payment_id: str
    amount: Decimal
    currency: str
    created_at: datetime
    description: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    status: str = "succeeded"

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "payment_id": self.payment_id,
            "status": self.status,
            "created_at": iso(self.created_at),
            "amount": {"value": money(self.amount), "currency": self.currency},
        }
        if self.description is not None:
            out["description"] = self.description
        if self.metadata:
            out["metadata"] = dict(self.metadata)
        return out


@dataclass
class Saved:
    """A stored answer to an idempotent POST."""

    fingerprint: str
    status: int
    body: dict[str, Any]
    at: datetime


#: (event name, object snapshot) pairs a state change produces, for the notifier
Events = list[tuple[str, dict[str, Any]]]
