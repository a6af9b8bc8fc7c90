"""The books after a phase: outboxes drained; per flow, its payments succeeded, its purchases
ended and its balance exact; the ledger's own invariants (`ledger-admin check`); the NFT books
(`chaos.nftbooks`: supply, holds, debits, the chain)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import asyncpg

from scifikpi_tools.chaos.flows import Driver, FlowResult, micro
from scifikpi_tools.chaos.nftbooks import nft_books
from scifikpi_tools.localinfra.urls import libpq_url


async def pending_outbox(database_url: str) -> dict[str, int]:
    """Unpublished outbox rows per schema (every service keeps `<schema>.outbox`)."""
    conn = await asyncpg.connect(libpq_url(database_url), timeout=10)
    try:
        schemas = [
            r["table_schema"]
            for r in await conn.fetch(
                "SELECT table_schema FROM information_schema.tables WHERE table_name = 'outbox'"
            )
        ]
        counts = {}
        for schema in schemas:
            counts[schema] = await conn.fetchval(
                f'SELECT count(*) FROM "{schema}".outbox WHERE published_at IS NULL'  # noqa: S608
            )
        return {s: n for s, n in counts.items() if n}
    finally:
        await conn.close()


PAYMENTS = """
SELECT p.id, p.status, p.submit_attempts,
       EXISTS (SELECT 1 FROM payments.provider_events e
                WHERE e.object_id = p.provider_payment_id) AS webhook
  FROM payments.payments p WHERE p.id = ANY($1::uuid[])
"""
UNFINISHED_PAYMENTS = (
    "SELECT id, status FROM payments.payments WHERE status IN ('created', 'pending')"
)


async def payment_books(database_url: str, payment_ids: list[str]) -> tuple[list[str], str]:
    """No payment of the run left `created`/`pending`; how the phase's payments got there: by
    the webhook, or by reconciliation alone (its webhook lost to a killed gateway/payments-api)."""
    conn = await asyncpg.connect(libpq_url(database_url), timeout=10)
    try:
        rows = await conn.fetch(PAYMENTS, [uuid.UUID(p) for p in payment_ids])
        unfinished = await conn.fetch(UNFINISHED_PAYMENTS)
    finally:
        await conn.close()
    problems = [f"payment {r['id']} still {r['status']}" for r in unfinished]
    succeeded = sum(r["status"] == "succeeded" for r in rows)
    hooked = sum(r["webhook"] for r in rows)
    retried = sum(r["submit_attempts"] > 1 for r in rows)
    return problems, (
        f"pay: {succeeded}/{len(payment_ids)} succeeded, {hooked} by webhook, "
        f"{len(rows) - hooked} by reconciliation, {retried} creates re-sent"
    )


async def ledger_check(database_url: str) -> tuple[bool, str]:
    done = await asyncio.to_thread(
        subprocess.run,
        [str(Path(sys.executable).parent / "ledger-admin"), "check"],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        env={**os.environ, "DATABASE_URL": database_url, "ENVIRONMENT": "local"},
    )
    return done.returncode == 0, (done.stdout + done.stderr)[-600:]


async def _status(driver: Driver, path: str, headers: dict[str, str]) -> Any:
    r = await driver.call("GET", path, headers=headers)
    return r.json().get("status") if r.status_code == 200 else r.status_code


async def flow_problems(driver: Driver, flow: FlowResult) -> list[str]:
    """What of one finished flow is not exact yet: every payment `succeeded`, every purchase
    `completed` or `failed`, and the balance the session's points minus the completed purchases
    (once each: a deposit, acceleration or capture applied twice would show), nothing reserved."""
    if not flow.done or flow.headers is None or flow.expected_micro is None:
        return []
    headers, out = flow.headers, []
    for payment_id in flow.payments:
        status = await _status(driver, f"/payments/{payment_id}", headers)
        if status != "succeeded":
            out.append(f"user {flow.user_id}: payment {payment_id} {status}")
    completed = 0
    for purchase_id in flow.purchases:
        status = await _status(driver, f"/nft/purchases/{purchase_id}", headers)
        completed += status == "completed"
        if status not in ("completed", "failed"):
            out.append(f"user {flow.user_id}: purchase {purchase_id} {status}")
    r = await driver.call("GET", "/balance", headers=headers)
    points: dict[str, Any] = r.json().get("points", {}) if r.status_code == 200 else {}
    price = flow.shop.price_micro if flow.shop else 0
    want = flow.expected_micro - completed * price
    if not points or micro(points["available"]) != want or micro(points["reserved"]) != 0:
        out.append(f"user {flow.user_id}: {points} != {want} micro ({completed} bought)")
    return out


async def _whole_books(
    database_url: str, stack_env: dict[str, str], payments: list[str], item_id: str | None
) -> tuple[list[str], str]:
    """Once every flow is exact: the ledger's check, then the payments and the NFT books."""
    ok, report = await ledger_check(database_url)
    if not ok:
        return [f"ledger-admin check: {report}"], ""
    problems, paid = await payment_books(database_url, payments)
    if problems:
        return problems, paid
    problems, summary = await nft_books(database_url, stack_env, item_id)
    return problems, f"{paid}; {summary}"


async def converge(
    driver: Driver,
    database_url: str,
    stack_env: dict[str, str],
    flows: list[FlowResult],
    timeout_s: float,
    item_id: str | None = None,
) -> tuple[float | None, list[str], str]:
    """Seconds until outboxes are drained and the books are exact (None: never, with why),
    and a summary (payments, the phase's item). Flows found exact are not read again until all
    are; then one last pass over all of them, `ledger-admin check`, the payments and the NFT
    books (`chaos.nftbooks`) decide."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    problems: list[str] = []
    summary = ""
    left = list(flows)
    payments = [p for flow in flows for p in flow.payments]
    while loop.time() - started < timeout_s:
        problems = []
        try:
            pending = await pending_outbox(database_url)
            if pending:
                problems.append(f"outbox not drained: {pending}")
            else:
                still = []
                for flow in left:
                    found = await flow_problems(driver, flow)
                    if found:
                        still.append(flow)
                        problems += found
                left = still
                if not left:
                    for flow in flows:
                        problems += await flow_problems(driver, flow)
                if not problems:
                    problems, summary = await _whole_books(
                        database_url, stack_env, payments, item_id
                    )
        except Exception as exc:  # noqa: BLE001 - the database may still be recovering
            problems.append(repr(exc))
        if not problems:
            return loop.time() - started, [], summary
        await asyncio.sleep(1.0)
    return None, problems, summary
