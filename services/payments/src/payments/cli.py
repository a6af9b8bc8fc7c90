"""`payments-admin`: operator commands that use the same flows as the API and the scheduler.

payments-admin show PAYMENT_ID            the payment, its refund and its provider events
payments-admin reconcile PAYMENT_ID       ask the provider now and apply its answer
payments-admin refund PAYMENT_ID [--reason TEXT]
                                          refund a succeeded payment in full (idempotent)
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from typing import Any
from uuid import UUID

import orjson
from scifikpi_common.db import (
    UnitOfWorkFactory,
    process_database,
)
from scifikpi_common.errors import AppError
from scifikpi_common.logging import configure_logging
from scifikpi_common.republish import add_outbox_commands, outbox_main

from payments import handlers
from payments.flows import PaymentFlows
from payments.models import make_outbox
from payments.providers import build_providers, close_providers
from payments.schemas import PaymentOut, RefundOut
from payments.settings import PaymentsSettings, get_settings


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="payments-admin", description="Operate SciFiKPI payments."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    add_outbox_commands(sub)  # outbox status | republish (scifikpi_common.republish)
    for name, text in (
        ("show", "print a payment with its refund and provider events"),
        ("reconcile", "ask the provider about a payment now and apply the answer"),
        ("refund", "refund a succeeded payment in full"),
    ):
        cmd = sub.add_parser(name, help=text)
        cmd.add_argument("payment_id", type=UUID)
        if name == "refund":
            cmd.add_argument("--reason", default="refunded by an operator (payments-admin)")
    return parser


async def _run(args: argparse.Namespace, settings: PaymentsSettings) -> dict[str, Any]:
    async with process_database(
        settings.database_url, make_outbox(), name="payments.admin", pool_size=2
    ) as db:
        return await _run_with(args, settings, db.uow_factory)


async def _run_with(
    args: argparse.Namespace, settings: PaymentsSettings, factory: UnitOfWorkFactory
) -> dict[str, Any]:
    providers = build_providers(settings)
    flows = PaymentFlows(factory, providers, settings)
    try:
        if args.command == "reconcile":
            result = await flows.reconciliation.reconcile_payment(args.payment_id)
            return {"result": result, **(await _show(factory, args.payment_id))}
        if args.command == "refund":
            refund, payment = await flows.refunds.refund(
                args.payment_id, reason=args.reason, requested_by="operator:payments-admin"
            )
            return RefundOut.of(refund, payment).model_dump(mode="json")
        return await _show(factory, args.payment_id)
    finally:
        await close_providers(providers)


async def _show(factory: UnitOfWorkFactory, payment_id: UUID) -> dict[str, Any]:
    async with factory() as uow:
        details = await handlers.payment_details(uow, payment_id)
    payment, refund = details.payment, details.refund
    return {
        "payment": PaymentOut.of(payment).model_dump(mode="json", exclude={"client_secret"}),
        "refund": RefundOut.of(refund, payment).model_dump(mode="json", exclude={"payment"})
        if refund
        else None,
        "provider_events": [
            {
                "event_id": e.event_id,
                "event_type": e.event_type,
                "received_at": e.received_at.isoformat(),
                "deliveries": e.deliveries,
                "attempts": e.attempts,
                "processed_at": e.processed_at.isoformat() if e.processed_at else None,
                "outcome": e.outcome,
                "last_error": e.last_error,
            }
            for e in details.events
        ],
    }


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "outbox":
        return outbox_main(args, get_settings().database_url, make_outbox())
    settings = get_settings()
    configure_logging("payments-admin", level="WARNING", fmt=settings.log_format)
    try:
        result = asyncio.run(_run(args, settings))
    except AppError as exc:
        print(f"payments-admin: {exc.detail or exc.title}", file=sys.stderr)
        return 1
    sys.stdout.write(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode() + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
