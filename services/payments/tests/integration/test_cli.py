"""`payments-admin`: show, reconcile and refund a payment from the command line."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

from _pay_helpers import payment_body
from scifikpi_tools.standins.pay import pay_stripe


def _admin(args: list[str], settings) -> subprocess.CompletedProcess[str]:
    script = Path(sys.executable).with_name("payments-admin")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "payments.cli"]
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("PAYMENTS_")},
        "ENVIRONMENT": "test",
        "DATABASE_URL": settings.database_url,
        "PAYMENTS_STRIPE_API_BASE": settings.stripe_api_base,
        "PAYMENTS_YOOKASSA_API_BASE": settings.yookassa_api_base,
        "PAYMENTS_YOOKASSA_SHOP_ID": settings.yookassa_shop_id,
        "PAYMENTS_YOOKASSA_SECRET_KEY": settings.yookassa_secret_key.get_secret_value(),
        "LOG_LEVEL": "WARNING",
    }
    return subprocess.run(  # noqa: S603 - our own console script
        [*command, *args], capture_output=True, text=True, env=env, timeout=60, check=False
    )


async def test_show_reconcile_refund(client, user, localstripe, settings) -> None:
    payment = (await client.post("/payments", json=payment_body(), headers=user.headers())).json()
    shown = await asyncio.to_thread(_admin, ["show", payment["id"]], settings)
    assert shown.returncode == 0, shown.stderr
    data = json.loads(shown.stdout)
    assert data["payment"]["status"] == "pending" and "client_secret" not in data["payment"]
    assert data["refund"] is None and data["provider_events"] == []

    await asyncio.to_thread(pay_stripe, localstripe.url, payment["provider_payment_id"])
    done = await asyncio.to_thread(_admin, ["reconcile", payment["id"]], settings)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["result"] == "advanced"
    assert json.loads(done.stdout)["payment"]["status"] == "succeeded"

    refunded = await asyncio.to_thread(
        _admin, ["refund", payment["id"], "--reason", "duplicate order"], settings
    )
    assert refunded.returncode == 0, refunded.stderr
    out = json.loads(refunded.stdout)
    assert out["status"] == "succeeded" and out["payment"]["status"] == "refunded"
    assert out["reason"] == "duplicate order"


async def test_unknown_payment(settings) -> None:
    result = await asyncio.to_thread(_admin, ["show", str(uuid.uuid4())], settings)
    assert result.returncode == 1 and "does not exist" in result.stderr
    result = await asyncio.to_thread(_admin, ["refund", str(uuid.uuid4())], settings)
    assert result.returncode == 1 and "No such payment" in result.stderr
