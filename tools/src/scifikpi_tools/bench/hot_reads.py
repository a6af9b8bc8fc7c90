"""Hot reads benchmark (issue 12, point 1): the cabinet's GETs under 50 connections, through the
gateway and at each service, next to the JWKS route (no database) in one run.

    uv run python -m scifikpi_tools.bench.hot_reads [--duration 5] [--connections 50] [--json]

It starts the stack in a child process as `make run` does (embedded defaults, `separate_stack`),
prepares one user as the cabinet would show them (a registration deposit, a few mining sessions
bought out by accelerations so the ledger has history rows, one session running) and a few
catalog items (an admin made with `auth-admin create-admin`). Then, for each endpoint, a short
warm-up and `wrk -t1 -cN` with the user's token, through the gateway and direct; the table shows
req/s, p50, p99, errors (non-2xx + socket errors), the ratio to JWKS through the gateway, and the
verdict against the target: p99 <= 50 ms, no errors, >= 0.5x JWKS. Then `EXPLAIN (ANALYZE,
BUFFERS)` of every statement each read path runs: the service's own read function is called on a
capturing engine against the stack's database with the user's parameters, and each captured
statement is explained with the same parameters. The load average is printed before and after.

Run it under `flock /tmp/stack.lock` on a shared machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx
from scifikpi_common.db import UnitOfWork, UnitOfWorkFactory, create_engine, create_sessionmaker
from scifikpi_common.outbox import Outbox
from sqlalchemy import event

from scifikpi_tools.bench.cabinet import API, Bench
from scifikpi_tools.bench.gateway.wrk import Result, run_wrk
from scifikpi_tools.bench.nft import admin_token
from scifikpi_tools.bench.stackproc import separate_stack

STACK_ENV = {"MINING_SESSION_DURATION_S": "3600"}
TARGET_P99_MS = 50.0
TARGET_RATIO = 0.5
#: finished sessions (each one deposit of points in the ledger's history) before the running one
SESSIONS = 3
CATALOG_ITEMS = 5
WARMUP_S = 1
#: a fresh stack's consumer groups may rebalance for a while before the chain answers
CREDIT_WAIT_S = 90


@dataclass(frozen=True)
class Endpoint:
    name: str
    service: str
    path: str  # at the service; through the gateway it is under API


ENDPOINTS = (
    Endpoint("jwks", "auth", "/.well-known/jwks.json"),
    Endpoint("mining status", "mining", "/mining/status"),
    Endpoint("balance", "ledger", "/balance"),
    Endpoint("history", "ledger", "/history"),
    Endpoint("nft catalog", "nft", "/nft/catalog"),
    Endpoint("auth me", "auth", "/auth/me"),
)


@dataclass
class Row:
    endpoint: str
    via: str  # "gateway" | "direct"
    path: str
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    ratio: float | None = None
    verdict: str = "-"


def urls(endpoint: Endpoint, gateway_url: str, api_urls: dict[str, str]) -> dict[str, str]:
    """Where wrk points for `endpoint`: through the gateway (under /api/v1) and at its service."""
    return {
        "gateway": f"{gateway_url}{API}{endpoint.path}",
        "direct": f"{api_urls[endpoint.service]}{endpoint.path}",
    }


def verdict(row: Row, jwks_rps: float) -> Row:
    """`row` with its ratio to JWKS through the gateway and, for a gateway row other than JWKS,
    PASS or FAIL with the missed targets named."""
    row.ratio = row.rps / jwks_rps if jwks_rps > 0 else None
    if row.via != "gateway" or row.endpoint == "jwks":
        return row
    missed = []
    if row.p99_ms > TARGET_P99_MS:
        missed.append(f"p99>{TARGET_P99_MS:g}ms")
    if row.errors:
        missed.append("errors")
    if row.ratio is None or row.ratio < TARGET_RATIO:
        missed.append(f"<{TARGET_RATIO:g}x jwks")
    row.verdict = "PASS" if not missed else "FAIL " + ", ".join(missed)
    return row


def table(rows: list[Row]) -> str:
    head = (
        f"{'endpoint':<14} {'via':<8} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7} "
        f"{'x jwks':>7}  verdict"
    )
    lines = [head, "-" * len(head)]
    for r in rows:
        ratio = f"{r.ratio:.2f}" if r.ratio is not None else "-"
        lines.append(
            f"{r.endpoint:<14} {r.via:<8} {r.rps:>8,.0f} {r.p50_ms:>8.2f} {r.p99_ms:>8.2f} "
            f"{r.errors:>7} {ratio:>7}  {r.verdict}"
        )
    return "\n".join(lines)


def loadavg() -> str:
    return Path("/proc/loadavg").read_text().strip()


def asyncpg_url(url: str) -> str:
    """The SQLAlchemy asyncpg form of a `postgresql://` URL (as the services configure it)."""
    for prefix in ("postgresql+asyncpg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix) :]
    return url


# --------------------------------------------------------------------------- the user and data


async def prepare(bench: Bench, database_url: str) -> dict[str, Any]:
    """One user with history and a running session, and catalog items; their tokens."""
    user_id, token = await bench.active_user()
    running = False
    for i in range(SESSIONS):  # bought out at once; each ledger credit is a history row
        quote = await bench.started_with_quote(token)
        credited = bench.credits.credited(quote["session_id"])
        await bench.paid(
            user_id, "acceleration", quote["price_minor"], quote_id=uuid.UUID(quote["quote_id"])
        )
        try:
            await asyncio.wait_for(credited, CREDIT_WAIT_S)
        except TimeoutError:  # the reads are measured all the same, on what there is
            print(f"warning: session {i + 1} not credited within {CREDIT_WAIT_S} s; going on")
            running = True
            break
    if not running:
        headers = {"Authorization": f"Bearer {token}"}
        (await bench.client.post(f"{API}/mining/start", headers=headers)).raise_for_status()
    admin = await admin_token(bench.client, database_url)
    for i in range(CATALOG_ITEMS):
        r = await bench.client.post(
            f"{API}/admin/nft/catalog",
            json={
                "name": f"Bench Relic {i}",
                "image_url": f"https://cdn.example.com/nft/relic-{i}.png",
                "price_points": "0.5",
                "supply_total": 100,
            },
            headers={"Authorization": f"Bearer {admin}"},
        )
        r.raise_for_status()
    return {"user_id": user_id, "token": token}


async def measure(
    stack: dict[str, Any], token: str, duration_s: int, connections: int
) -> list[Row]:
    auth = {"Authorization": f"Bearer {token}"}
    rows: list[Row] = []
    for endpoint in ENDPOINTS:
        for via, url in urls(endpoint, stack["gateway_url"], stack["api_urls"]).items():
            wrk = {"connections": connections, "threads": 1, "headers": auth}
            await asyncio.to_thread(run_wrk, url, duration_s=WARMUP_S, **wrk)
            res: Result = await asyncio.to_thread(run_wrk, url, duration_s=duration_s, **wrk)
            rows.append(Row(endpoint.name, via, url, res.rps, res.p50_ms, res.p99_ms, res.errors))
    jwks_rps = next(r.rps for r in rows if r.endpoint == "jwks" and r.via == "gateway")
    return [verdict(r, jwks_rps) for r in rows]


# --------------------------------------------------------------------------- EXPLAIN

Probe = Callable[[UnitOfWork], Awaitable[object]]


def probes(user_id: uuid.UUID) -> list[tuple[str, str, Callable[[], Outbox], Probe]]:
    """(endpoint, schema, outbox, read) per hot endpoint: the function its route calls."""
    from auth import handlers as auth_handlers
    from auth.models import make_outbox as auth_outbox
    from ledger import handlers as ledger_handlers
    from ledger.domain import AccountKind
    from ledger.models import make_outbox as ledger_outbox
    from ledger.repository import AccountRepository
    from mining import handlers as mining_handlers
    from mining.models import make_outbox as mining_outbox
    from nft.catalog import handlers as nft_handlers
    from nft.models import make_outbox as nft_outbox

    async def balance(uow: UnitOfWork) -> object:  # handlers.balance minus its settings
        accounts = AccountRepository(uow.session)
        if hasattr(accounts, "user_balances"):  # one statement since ADR 0009
            return await accounts.user_balances(user_id)
        await accounts.balances(AccountKind.user_points, user_id)  # a tree before it (--before)
        return await accounts.balances(AccountKind.user_money, user_id)

    return [
        (
            "mining status",
            "mining",
            mining_outbox,
            lambda u: mining_handlers.session_status(u, user_id),
        ),
        ("balance", "ledger", ledger_outbox, balance),
        (
            "history",
            "ledger",
            ledger_outbox,
            lambda u: ledger_handlers.history(u, user_id, kind=None, cursor=None, limit=50),
        ),
        (
            "nft catalog",
            "nft",
            nft_outbox,
            lambda u: nft_handlers.catalog_page(u, active_only=True, cursor=None, limit=20),
        ),
        ("auth me", "auth", auth_outbox, lambda u: auth_handlers.get_user(user_id, u)),
    ]


async def explain_all(database_url: str, user_id: uuid.UUID) -> list[dict[str, Any]]:
    """Each read path's statements as it ran them, with `EXPLAIN (ANALYZE, BUFFERS)`."""
    plans: list[dict[str, Any]] = []
    for name, schema, make_outbox, read in probes(user_id):
        engine = create_engine(
            asyncpg_url(database_url), schema=schema, application_name="bench.explain", pool_size=1
        )
        seen: list[tuple[str, Any]] = []

        def capture(_c: Any, _cur: Any, statement: str, params: Any, *_: Any) -> None:
            if not statement.startswith("EXPLAIN"):
                seen.append((statement, params))  # noqa: B023 - used before the next loop

        event.listen(engine.sync_engine, "before_cursor_execute", capture)
        try:
            factory = UnitOfWorkFactory(create_sessionmaker(engine), make_outbox())
            async with factory.reading() as uow:
                await read(uow)
            async with engine.connect() as conn:
                for statement, params in seen:
                    result = await conn.exec_driver_sql(
                        f"EXPLAIN (ANALYZE, BUFFERS) {statement}", params
                    )
                    plan = "\n".join(str(line[0]) for line in result)
                    plans.append({"endpoint": name, "statement": statement, "plan": plan})
        finally:
            await engine.dispose()
    return plans


# --------------------------------------------------------------------------- main


async def run(args: argparse.Namespace) -> dict[str, Any]:
    if not shutil.which("wrk"):
        raise SystemExit("wrk is not installed (apt-get install wrk)")
    async with separate_stack(STACK_ENV) as stack:
        async with Bench.on(stack) as bench:
            print("preparing a user (deposit, sessions, history) and catalog items...", flush=True)
            user = await prepare(bench, stack["database_url"])
        async with httpx.AsyncClient() as client:  # the gateway path of each endpoint answers
            for endpoint in ENDPOINTS:
                url = urls(endpoint, stack["gateway_url"], stack["api_urls"])["gateway"]
                r = await client.get(url, headers={"Authorization": f"Bearer {user['token']}"})
                r.raise_for_status()
        before = loadavg()
        rows = await measure(stack, user["token"], args.duration, args.connections)
        after = loadavg()
        plans = await explain_all(stack["database_url"], user["user_id"])
    return {
        "connections": args.connections,
        "duration_s": args.duration,
        "loadavg_before": before,
        "loadavg_after": after,
        "rows": [asdict(r) for r in rows],
        "plans": plans,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=5, help="seconds of each wrk run")
    parser.add_argument("--connections", type=int, default=50, help="wrk connections")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    result = asyncio.run(run(args))
    if args.json:
        print(json.dumps(result, indent=2, default=str))
        return 0
    rows = [Row(**r) for r in result["rows"]]
    print(
        f"\nhot reads, wrk -t1 -c{result['connections']} -d{result['duration_s']}s, one user; "
        f"target through the gateway: p99 <= {TARGET_P99_MS:g} ms, 0 errors, "
        f">= {TARGET_RATIO:g}x JWKS"
    )
    print(f"load average before: {result['loadavg_before']}")
    print(table(rows))
    print(f"load average after:  {result['loadavg_after']}")
    for p in result["plans"]:
        print(f"\n-- {p['endpoint']}: {' '.join(p['statement'].split())}\n{p['plan']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
