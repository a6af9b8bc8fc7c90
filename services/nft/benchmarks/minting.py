"""Minting benchmark: items minted per second on the local emulated chain (pytvm running the
reference collection and item contracts, state in Postgres), through the service's own chain
engine: sign → store → send → emulate → confirm on chain → complete the purchase (`NftMinted` in
the outbox), for

- one message per item (`NFT_MINT_BATCH_SIZE=1`: one HLv3 external, one collection mint each),
- batched (`--batch` items per signed external, delivered through HLv3's internal_transfer).

    uv run python services/nft/benchmarks/minting.py [--items 200] [--batch 100] [--json]

Needs a reachable Postgres (DATABASE_URL, else 127.0.0.1:5432); creates a fresh database per
mode, migrates it and drops it afterwards. The emulator is synchronous, so this measures the
service's cost per item (signing, storage, emulation, confirmation reads), not network latency:
on a real chain a batch settles in a few seconds whatever its size, which makes batching matter
more, not less.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from nft.chain.engine import ChainEngine
from nft.models import SCHEMA, make_outbox
from nft.settings import NftSettings
from nft.ton.custody import Custody
from nft.ton.local import LocalChain, bootstrap_local
from scifikpi_common.db import UnitOfWorkFactory, create_engine, create_sessionmaker
from scifikpi_common.testing import create_database, drop_database, migrate
from sqlalchemy import text

SERVICE_DIR = Path(__file__).resolve().parents[1]


async def _reserve(factory: UnitOfWorkFactory, n: int) -> None:
    now = datetime.now(UTC)
    item_id = uuid.uuid4()
    async with factory() as uow:
        await uow.session.execute(
            text(
                "INSERT INTO catalog_items (id, name, image_url, price_points_micro, supply_total,"
                " supply_sold, created_at, updated_at) VALUES (:id, 'Bench', 'https://x.test/i.png',"
                " 1000, :n, :n, :now, :now)"
            ),
            {"id": item_id, "n": n, "now": now},
        )
        for i in range(n):
            await uow.session.execute(
                text(
                    "INSERT INTO purchases (id, user_id, catalog_item_id, idempotency_key,"
                    " price_points_micro, status, created_at, updated_at, reserved_at)"
                    " VALUES (:id, :user, :item, :key, 1000, 'reserved', :now, :now, :at)"
                ),
                {
                    "id": uuid.uuid4(),
                    "user": uuid.uuid4(),
                    "item": item_id,
                    "key": str(i),
                    "now": now,
                    "at": now + timedelta(microseconds=i),
                },
            )
        await uow.commit()


async def _mode(server: str, *, items: int, batch: int) -> dict[str, Any]:
    name = f"nft_bench_{uuid.uuid4().hex[:8]}"
    url = await create_database(server, name)
    try:
        await migrate(SERVICE_DIR, url)
        settings = NftSettings(
            environment="test",
            database_url=url,
            kafka_bootstrap_servers="127.0.0.1:9",
            mint_batch_size=batch,
            resend_interval_s=0,
        )
        engine = create_engine(url, schema=SCHEMA, application_name="nft.bench", pool_size=4)
        chain = await LocalChain.open(url)
        try:
            custody = Custody.from_settings(chain, settings)
            await bootstrap_local(chain, custody)
            factory = UnitOfWorkFactory(create_sessionmaker(engine), make_outbox())
            await _reserve(factory, items)
            started, cpu = time.perf_counter(), time.process_time()
            await ChainEngine(factory, custody, settings).drain(max_steps=items * 4 + 10)
            wall = time.perf_counter() - started
            cpu_used = time.process_time() - cpu
            async with factory() as uow:
                minted = (await uow.session.execute(text("SELECT count(*) FROM nfts"))).scalar_one()
                messages = (
                    await uow.session.execute(text("SELECT count(*) FROM ton_messages"))
                ).scalar_one()
            assert minted == items, (minted, items)
            assert await custody.next_item_index() == items
            return {
                "batch": batch,
                "items": items,
                "messages": messages,
                "seconds": round(wall, 3),
                "items_per_s": round(items / wall, 1),
                "ms_per_item": round(wall * 1000 / items, 2),
                "cpu_cores": round(cpu_used / wall, 2),
            }
        finally:
            await chain.close()
            await engine.dispose()
    finally:
        await drop_database(server, name)


async def main(args: argparse.Namespace) -> dict[str, Any]:
    server = os.environ.get("DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres")
    single = await _mode(server, items=args.items, batch=1)
    batched = await _mode(server, items=args.items, batch=args.batch)
    return {
        "single": single,
        "batched": batched,
        "speedup": round(batched["items_per_s"] / single["items_per_s"], 2),
    }


def _table(r: dict[str, Any]) -> str:
    lines = ["nft minting on the local emulated chain (sign, store, send, emulate, confirm)"]
    for label in ("single", "batched"):
        m = r[label]
        lines.append(
            f"  {label:8} batch={m['batch']:<4} items={m['items']:<5} messages={m['messages']:<5}"
            f" {m['items_per_s']:>8.1f} items/s  {m['ms_per_item']:>7.2f} ms/item"
            f"  ({m['cpu_cores']} cores)"
        )
    lines.append(f"  batched / single: x{r['speedup']}")
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=200)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--json", action="store_true")
    ns = parser.parse_args()
    result = asyncio.run(main(ns))
    print(json.dumps(result) if ns.json else _table(result))
