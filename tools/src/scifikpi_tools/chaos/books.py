"""The books after a phase: every flow's points exactly once, outboxes drained, the ledger's
own invariants (`ledger-admin check`)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import asyncpg

from scifikpi_tools.chaos.flows import Driver, FlowResult
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


async def balances_exact(driver: Driver, flows: list[FlowResult]) -> list[str]:
    """Every finished flow's balance is its session's points: once, not twice."""
    problems = []
    for flow in flows:
        if not flow.done or flow.headers is None:
            continue
        r = await driver.call("GET", "/balance", headers=flow.headers)
        points: dict[str, Any] = r.json().get("points", {}) if r.status_code == 200 else {}
        if points.get("available") != flow.expected_points or points.get("reserved") not in (
            "0.000000",
            "0",
        ):
            problems.append(f"user {flow.user_id}: {points} != {flow.expected_points}")
    return problems


async def converge(
    driver: Driver, database_url: str, flows: list[FlowResult], timeout_s: float
) -> tuple[float | None, list[str]]:
    """Seconds until outboxes are drained and the books are exact (None: never, with why)."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    problems: list[str] = []
    while loop.time() - started < timeout_s:
        problems = []
        try:
            pending = await pending_outbox(database_url)
            if pending:
                problems.append(f"outbox not drained: {pending}")
            else:
                problems += await balances_exact(driver, flows)
                if not problems:
                    ok, report = await ledger_check(database_url)
                    if not ok:
                        problems.append(f"ledger-admin check: {report}")
        except Exception as exc:  # noqa: BLE001 - the database may still be recovering
            problems.append(repr(exc))
        if not problems:
            return loop.time() - started, []
        await asyncio.sleep(1.0)
    return None, problems
