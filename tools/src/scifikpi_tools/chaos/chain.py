"""The NFT items the local chain has, as JSON: `python -m scifikpi_tools.chaos.chain [--extra N]`.

Run in a child with the stack's ops environment (`stack.env`: `DATABASE_URL`,
`NFT_PUBLIC_BASE_URL`, `ENVIRONMENT`), like `nft-admin item`: it opens the chain provider the nft
processes use (`NFT_TON_NETWORK=local`: the emulated chain in the stack's database), derives the
custody wallet and the collection from the same settings, reads the collection's
`next_item_index` and, for every index below it plus `--extra` more, the item's address and its
on-chain owner (`get_nft_data`; null when the account is not an active, initialized item).
The nft service's code loads only in that child, as it does in `nft-admin`.

`scan(env)` runs it and returns the parsed answer.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
from typing import Any

EXTRA = 3  # indexes past next_item_index that must be empty too


async def _scan(extra: int) -> dict[str, Any]:
    from nft.settings import get_settings
    from nft.ton.custody import Custody
    from nft.ton.factory import open_provider

    settings = get_settings()
    provider = await open_provider(settings)
    try:
        custody = Custody.from_settings(provider, settings)
        try:
            next_index = await custody.next_item_index()
        except Exception:  # noqa: BLE001 - the collection is not deployed (no mint yet)
            next_index = 0
        items = []
        for index in range(next_index + extra):
            address = custody.item_address(index)
            owner = await custody.nft_owner(address)
            items.append(
                {
                    "index": index,
                    "address": address.to_str(is_user_friendly=False),
                    "owner": owner.to_str(is_user_friendly=False) if owner else None,
                }
            )
        return {
            "next_item_index": next_index,
            "custody": custody.address.to_str(is_user_friendly=False),
            "collection": custody.collection.to_str(is_user_friendly=False),
            "items": items,
        }
    finally:
        await provider.close()


async def scan(env: dict[str, str], extra: int = EXTRA) -> dict[str, Any]:
    """The chain's items (see the module docstring); raises if the child fails."""
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", __name__, "--extra", str(extra)],
        capture_output=True,
        text=True,
        check=False,
        timeout=180,
        env=env,
    )
    if done.returncode != 0:
        raise RuntimeError(f"chain scan failed: {done.stderr[-600:]}")
    answer: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return answer


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m scifikpi_tools.chaos.chain")
    parser.add_argument("--extra", type=int, default=EXTRA)
    print(json.dumps(asyncio.run(_scan(parser.parse_args().extra))))


if __name__ == "__main__":
    main()
