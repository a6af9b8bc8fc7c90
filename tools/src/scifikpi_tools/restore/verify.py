"""What proves a restore: the rows, the ledger's invariants, and the services reading the copy.

`snapshot` reads every row (id and a hash of the whole row) of the tables that hold money, points
and ownership, in one REPEATABLE READ transaction whose first statement also reads the clock: that
instant is the recovery target, so the snapshot is exactly what a restore to it must give back.
"""

from __future__ import annotations

import asyncio
import dataclasses
from decimal import Decimal
from pathlib import Path

import asyncpg
import httpx

from scifikpi_tools import localinfra
from scifikpi_tools.bench.cabinet import PASSWORD
from scifikpi_tools.chaos.books import ledger_check
from scifikpi_tools.localinfra.urls import libpq_url
from scifikpi_tools.restore.flows import Journey, Writer
from scifikpi_tools.services import SERVICES
from scifikpi_tools.stack import LocalStack

#: table → what the drill calls it in its report
TABLES = {
    "auth.users": "users",
    "payments.payments": "payments",
    "ledger.transfers": "ledger postings",
    "mining.sessions": "mining sessions",
    "nft.purchases": "NFT purchases",
    "nft.nfts": "NFTs",
}

Rows = dict[str, dict[str, str]]  # table -> id -> md5 of the row


async def snapshot(database_url: str) -> tuple[str, Rows]:
    """(now as ISO 8601 with time zone, every row of TABLES) in one snapshot."""
    conn = await asyncpg.connect(libpq_url(database_url), timeout=10)
    try:
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            at = await conn.fetchval("SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', "
                                     "'YYYY-MM-DD HH24:MI:SS.US') || '+00'")  # fmt: skip
            rows: Rows = {}
            for table in TABLES:
                found = await conn.fetch(
                    f"SELECT id::text AS id, md5(to_jsonb(t)::text) AS h FROM {table} t"  # noqa: S608
                )
                rows[table] = {r["id"]: r["h"] for r in found}
        return str(at), rows
    finally:
        await conn.close()


def compare(at_target: Rows, final: Rows, restored: Rows) -> tuple[dict[str, str], list[str]]:
    """(per table: "N before the target present, M after it absent", problems)."""
    summary, problems = {}, []
    for table, label in TABLES.items():
        want, got = at_target[table], restored[table]
        later = set(final[table]) - set(want)
        missing = sorted(set(want) - set(got))
        changed = sorted(i for i in set(want) & set(got) if want[i] != got[i])
        leaked = sorted(later & set(got))
        extra = sorted(set(got) - set(want) - later)
        for what, ids in (("missing", missing), ("not as at the target", changed),
                          ("written after the target but present", leaked),
                          ("unknown", extra)):  # fmt: skip
            if ids:
                problems.append(f"{label}: {len(ids)} {what}, e.g. {ids[:3]}")
        present = len(want) - len(missing)
        summary[label] = f"{present}/{len(want)} present, {len(later)} later absent"
        if not later:
            problems.append(f"{label}: no rows after the target (the drill wrote none?)")
    return summary, problems


async def ledger_clean(database_url: str) -> list[str]:
    ok, report = await ledger_check(localinfra.asyncpg_url(database_url))
    return [] if ok else [f"ledger-admin check on the copy: {report}"]


def read_stack(database_url: str, work: Path) -> LocalStack:
    """Every service's API (no workers, relays or schedulers: the copy is only read) on the
    copy, behind the gateway (whose /readyz wants every upstream); migrations run first, as on
    any start."""
    services = [dataclasses.replace(s, processes=("api",)) for s in SERVICES]
    return LocalStack(
        data_dir=work / "read-stack",
        port_base=None,
        database_url=localinfra.with_database(database_url, "scifikpi"),
        services=services,
        standins=(),
        output=work / "read-stack.log",
        ready_timeout=120,
    )


async def read_paths(stack: LocalStack, before: list[Journey], after: list[Journey]) -> list[str]:
    """Users before the target log in and see their balance, session and NFT; users after it
    do not exist."""
    problems = []
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=15) as client:
        reader = Writer(client, "")
        for j in before:
            auth = await reader.login(j.email)
            r = await reader.call("GET", "/balance", headers=auth)
            if r.status_code != 200 or Decimal(r.json()["points"]["available"]) != j.balance:
                problems.append(f"/balance of {j.user_id}: {r.status_code} {r.text[:200]}")
            r = await reader.call("GET", f"/nft/purchases/{j.purchase_id}", headers=auth)
            if r.status_code != 200 or r.json()["status"] != "completed":
                problems.append(f"purchase {j.purchase_id}: {r.status_code} {r.text[:200]}")
            r = await reader.call("GET", "/mining/status", headers=auth)
            if r.status_code != 200:
                problems.append(f"/mining/status of {j.user_id}: {r.status_code}")
        for j in after:
            r = await reader.call(
                "POST", "/auth/login", json={"email": j.email, "password": PASSWORD}
            )
            if r.status_code != 401:
                problems.append(f"user {j.email} (after the target) answered {r.status_code}")
    return problems


async def wait_archived(conn_url: str, timeout_s: float) -> float:
    """Seconds until the WAL segment holding the current insert position is archived, without
    forcing a switch: how long the last commit waits to be safe (the data-loss window)."""
    conn = await asyncpg.connect(libpq_url(conn_url), timeout=10)
    try:
        loop = asyncio.get_running_loop()
        started = loop.time()
        wanted = await conn.fetchval("SELECT pg_walfile_name(pg_current_wal_insert_lsn())")
        while loop.time() - started < timeout_s:
            last = await conn.fetchval("SELECT last_archived_wal FROM pg_stat_archiver")
            if last is not None and last[:24] >= wanted:
                return loop.time() - started
            await asyncio.sleep(0.1)
        raise RuntimeError(f"WAL {wanted} not archived within {timeout_s:.0f} s")
    finally:
        await conn.close()
