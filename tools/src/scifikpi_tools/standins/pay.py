"""Play the customer paying at a stand-in of the local stack (docs/payments-local.md).

    uv run python -m scifikpi_tools.standins.pay stripe <payment_intent_id>
    uv run python -m scifikpi_tools.standins.pay yoomoney <yookassa_payment_id> [--cancel]

Stripe (localstripe): sets a test PaymentMethod on the PaymentIntent (`pm_card_visa` unless
`--payment-method` says otherwise; localstripe cannot take it at confirm time), then confirms
it; localstripe then sends the signed `payment_intent.succeeded` webhook.

YooMoney (the YooKassa fake): the customer pays (or, with `--cancel`, gives up) through the fake's
control API; the fake then notifies the payments webhook. `--drop`, `--copies N`, `--delay-ms N`
shape that notification (e.g. `--drop` to watch reconciliation finish the payment).

Ports follow the stack: 8420 and 8421, shifted like `make run STACK_ARGS="--ports-from N"` when
`--ports-from N` (or SCIFIKPI_PORTS_FROM) is given; `--url` overrides.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from collections.abc import Sequence

import httpx

from scifikpi_tools.services import GATEWAY_PORT
from scifikpi_tools.standins import DEV_STRIPE_SECRET_KEY, LOCALSTRIPE_PORT, YOOKASSA_PORT
from scifikpi_tools.standins.yookassa.control import SyncControlClient


def pay_stripe(
    base_url: str,
    payment_intent_id: str,
    *,
    payment_method: str = "pm_card_visa",
    secret_key: str = DEV_STRIPE_SECRET_KEY,
    timeout: float = 10.0,
) -> dict:
    """Set `payment_method` on the PaymentIntent, then confirm it; returns the PaymentIntent."""
    headers = {"Authorization": f"Bearer {secret_key}"}
    with httpx.Client(base_url=base_url.rstrip("/"), headers=headers, timeout=timeout) as client:
        current = client.get(f"/v1/payment_intents/{payment_intent_id}")
        current.raise_for_status()
        intent = current.json()
        if intent["status"] in {"requires_payment_method", "requires_confirmation"}:
            updated = client.post(
                f"/v1/payment_intents/{payment_intent_id}", data={"payment_method": payment_method}
            )
            updated.raise_for_status()
            confirmed = client.post(f"/v1/payment_intents/{payment_intent_id}/confirm")
            if confirmed.status_code >= 400:
                raise RuntimeError(
                    f"confirm answered {confirmed.status_code}: {confirmed.text.strip()}"
                )
            intent = confirmed.json()
        return intent


def _port(default: int, ports_from: int | None) -> int:
    return default + ((ports_from or GATEWAY_PORT) - GATEWAY_PORT)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m scifikpi_tools.standins.pay",
        description="Complete (or cancel) a test payment at the local provider stand-ins.",
    )
    parser.add_argument("provider", choices=("stripe", "yoomoney", "yookassa"))
    parser.add_argument("id", help="PaymentIntent id (pi_...) or YooKassa payment id")
    parser.add_argument(
        "--ports-from",
        type=int,
        default=int(os.environ["SCIFIKPI_PORTS_FROM"])
        if os.environ.get("SCIFIKPI_PORTS_FROM")
        else None,
        help="the stack's --ports-from (default 8000)",
    )
    parser.add_argument("--url", default=None, help="stand-in base URL (overrides the port)")
    parser.add_argument("--payment-method", default="pm_card_visa", help="stripe: test PM id")
    parser.add_argument("--secret-key", default=DEV_STRIPE_SECRET_KEY, help="stripe: API key")
    parser.add_argument("--cancel", action="store_true", help="yoomoney: the customer cancels")
    parser.add_argument("--reason", default=None, help="yoomoney --cancel: cancellation reason")
    parser.add_argument("--drop", action="store_true", help="yoomoney: never send the webhook")
    parser.add_argument("--hold", action="store_true", help="yoomoney: hold it until released")
    parser.add_argument("--copies", type=int, default=None, help="yoomoney: send it N times")
    parser.add_argument("--delay-ms", type=int, default=None, help="yoomoney: send it later")
    args = parser.parse_args(argv)

    try:
        if args.provider == "stripe":
            url = args.url or f"http://127.0.0.1:{_port(LOCALSTRIPE_PORT, args.ports_from)}"
            intent = pay_stripe(
                url, args.id, payment_method=args.payment_method, secret_key=args.secret_key
            )
            print(f"{intent['id']}: {intent['status']}")
            return 0 if intent["status"] in {"succeeded", "processing"} else 1
        url = args.url or f"http://127.0.0.1:{_port(YOOKASSA_PORT, args.ports_from)}"
        delivery: dict = {}
        if args.drop:
            delivery["mode"] = "drop"
        elif args.hold:
            delivery["mode"] = "hold"
        if args.copies:
            delivery["copies"] = args.copies
        if args.delay_ms:
            delivery["delay_ms"] = args.delay_ms
        control = SyncControlClient(url)
        if args.cancel:
            answer = control.cancel(args.id, args.reason, delivery or None)
        else:
            answer = control.pay(args.id, delivery or None)
        payment = answer["payment"]
        sent = ", ".join(f"{n['event']} ({n['delivery']['mode']})" for n in answer["notifications"])
        print(f"{payment['id']}: {payment['status']}; notification: {sent}")
        return 0
    except httpx.HTTPStatusError as exc:
        body = exc.response.text.strip()
        with contextlib.suppress(ValueError, AttributeError):
            body = json.loads(body).get("error", body)
        print(f"error: {exc.response.status_code} {body}", file=sys.stderr)
        return 1
    except (httpx.HTTPError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
