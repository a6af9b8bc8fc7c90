"""The NFT books once a phase settled, read straight from the stack's database and chain.

- no purchase is left `pending` or `reserved`; every one is `completed` or `failed`;
- per catalog item: `supply_sold <= supply_total` (never oversold) and `supply_sold` equals its
  completed purchases (a failed one gave its unit back), and it has one `nfts` row per completed
  purchase; no `nfts` row belongs to a purchase that is not completed;
- the ledger: no hold is open (any `phase = 'pending'` transfer without a resolution); a completed
  purchase's hold `nft-hold:<id>` was posted (`nft-post:<id>`) for exactly its price; a failed
  one was never posted, and its hold, if it had one, was voided or expired (points released);
  the points debited for NFTs equal the completed purchases times their price;
- the chain (`chaos.chain`): the active items of the collection are exactly the completed
  purchases' `nfts` rows, at the same index and address, owned by the custody wallet.
"""

from __future__ import annotations

from typing import Any

import asyncpg

from scifikpi_tools.chaos import chain
from scifikpi_tools.localinfra.urls import libpq_url

ITEMS = """
SELECT c.id, c.supply_total, c.supply_sold,
       (SELECT count(*) FROM nft.purchases p
         WHERE p.catalog_item_id = c.id AND p.status = 'completed') AS completed,
       (SELECT count(*) FROM nft.nfts n WHERE n.catalog_item_id = c.id) AS minted
  FROM nft.catalog_items c
"""
OPEN_PURCHASES = "SELECT id, status FROM nft.purchases WHERE status IN ('pending', 'reserved')"
STRAY_NFTS = """
SELECT n.id, p.status FROM nft.nfts n LEFT JOIN nft.purchases p ON p.id = n.id
 WHERE p.status IS DISTINCT FROM 'completed'
"""
OPEN_HOLDS = """
SELECT h.id FROM ledger.transfers h
 WHERE h.phase = 'pending'
   AND NOT EXISTS (SELECT 1 FROM ledger.transfers r WHERE r.pending_id = h.id)
"""
PURCHASE_POSTINGS = """
SELECT p.id, p.catalog_item_id, p.status, p.failure_reason, p.price_points_micro AS price,
       h.amount AS held, r.phase AS resolution, r.amount AS resolved
  FROM nft.purchases p
  LEFT JOIN ledger.transfers h ON h.id = 'nft-hold:' || p.id::text
  LEFT JOIN ledger.transfers r ON r.pending_id = h.id
"""
DEBITED = "SELECT coalesce(sum(amount), 0) FROM ledger.transfers WHERE id LIKE 'nft-post:%'"
MINTED = "SELECT id, item_index, item_address, owner_address, status FROM nft.nfts"


def purchase_problems(rows: list[asyncpg.Record]) -> list[str]:
    out = []
    for row in rows:
        pid, status = row["id"], row["status"]
        if status == "completed":
            if row["resolution"] != "post" or row["resolved"] != row["price"]:
                out.append(
                    f"purchase {pid} completed at {row['price']} micro but its hold "
                    f"{row['held']} was resolved {row['resolution']} {row['resolved']}"
                )
        elif (
            status == "failed"
            and row["held"] is not None
            and row["resolution"] not in ("void", "expire")
        ):
            out.append(
                f"purchase {pid} failed ({row['failure_reason']}) but its hold was "
                f"resolved {row['resolution']}: points not released"
            )
    return out


def chain_problems(scanned: dict[str, Any], minted: list[asyncpg.Record]) -> list[str]:
    on_chain = {i["index"]: i for i in scanned["items"] if i["owner"] is not None}
    ours = {row["item_index"]: row for row in minted}
    out = []
    for index in sorted(set(on_chain) - set(ours)):
        address = on_chain[index]["address"]
        out.append(f"chain item #{index} {address} minted, no completed purchase")
    for index in sorted(set(ours) - set(on_chain)):
        out.append(f"purchase {ours[index]['id']} completed, item #{index} not on the chain")
    for index in sorted(set(ours) & set(on_chain)):
        item, row = on_chain[index], ours[index]
        if item["address"] != row["item_address"]:
            out.append(f"item #{index}: chain {item['address']} != nfts {row['item_address']}")
        if item["owner"] != scanned["custody"]:
            out.append(f"item #{index} owned by {item['owner']}, not the custody wallet")
    return out


def _summary(item_id: str, items: list[asyncpg.Record], postings: list[asyncpg.Record]) -> str:
    """The phase's item: purchases by outcome, supply, points debited."""
    mine = [r for r in postings if str(r["catalog_item_id"]) == item_id]
    item = next((i for i in items if str(i["id"]) == item_id), None)
    reasons: dict[str, int] = {}
    for r in mine:
        if r["status"] == "failed":
            reasons[r["failure_reason"]] = reasons.get(r["failure_reason"], 0) + 1
    failed = ", ".join(f"{k} {v}" for k, v in sorted(reasons.items())) or "none"
    completed = [r for r in mine if r["status"] == "completed"]
    supply = f"{item['supply_sold']}/{item['supply_total']}" if item else "?"
    debited = sum(r["resolved"] or 0 for r in completed if r["resolution"] == "post")
    return (
        f"nft: {len(mine)} purchases, {len(completed)} completed, failed: {failed}; "
        f"sold {supply}; debited {debited} micro"
    )


async def nft_books(
    database_url: str, stack_env: dict[str, str], item_id: str | None
) -> tuple[list[str], str]:
    """Problems (empty: exact) over every item so far, and a summary of the phase's item."""
    conn = await asyncpg.connect(libpq_url(database_url), timeout=10)
    try:
        items = await conn.fetch(ITEMS)
        open_purchases = await conn.fetch(OPEN_PURCHASES)
        stray = await conn.fetch(STRAY_NFTS)
        holds = await conn.fetch(OPEN_HOLDS)
        postings = await conn.fetch(PURCHASE_POSTINGS)
        debited = int(await conn.fetchval(DEBITED))
        minted = await conn.fetch(MINTED)
    finally:
        await conn.close()
    problems = [f"purchase {r['id']} still {r['status']}" for r in open_purchases]
    for it in items:
        if it["supply_sold"] > it["supply_total"]:
            problems.append(f"item {it['id']} oversold: {it['supply_sold']}/{it['supply_total']}")
        if not open_purchases and it["supply_sold"] != it["completed"]:
            problems.append(
                f"item {it['id']}: supply_sold {it['supply_sold']} != {it['completed']} completed"
            )
        if it["minted"] != it["completed"]:
            problems.append(f"item {it['id']}: {it['minted']} nfts for {it['completed']} completed")
    problems += [f"nfts row {r['id']} for a purchase {r['status']}" for r in stray]
    problems += [f"ledger hold {r['id']} still open" for r in holds]
    problems += purchase_problems(postings)
    owed = sum(r["price"] for r in postings if r["status"] == "completed")
    if debited != owed:
        problems.append(f"ledger debited {debited} micro for NFTs, completed purchases owe {owed}")
    summary = _summary(item_id or "", items, postings)
    if problems:
        return problems, summary
    scanned = await chain.scan(stack_env)
    problems += chain_problems(scanned, minted)
    on_chain = sum(i["owner"] is not None for i in scanned["items"])
    return problems, f"{summary}; chain {on_chain} items = {len(minted)} nfts"
