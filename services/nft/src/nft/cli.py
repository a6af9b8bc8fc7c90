"""`nft-admin`: the custody wallet and the NFT collection on TON.

    nft-admin custody            # addresses, balance, collection; exit 1 unless all green
    nft-admin deploy-collection  # deploy the wallet (if funded) and the collection, then wait
    nft-admin fund --ton 100     # local network only: faucet TON to the custody wallet
    nft-admin item <address> [--json]  # an NFT item as the chain has it (owner, index)

Settings come from the environment like every nft process (`NFT_TON_NETWORK`, `DATABASE_URL`, ...).
The custody private key is never printed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Sequence
from decimal import Decimal, InvalidOperation

from pydantic import ValidationError
from pytoniq_core import Address
from scifikpi_common.republish import add_outbox_commands, outbox_main

from nft.domain import InvalidAddress
from nft.models import make_outbox
from nft.settings import NftSettings, TonNetwork, get_settings
from nft.ton import contracts
from nft.ton.addresses import parse_user_address
from nft.ton.custody import Custody, CustodyStatus
from nft.ton.factory import open_provider
from nft.ton.provider import ChainUnavailable, MessageRejected, TonProvider

NANO = 10**9
DEPLOY_WAIT_S = 180.0  # how long deploy-collection waits for the accounts to become active
POLL_S = 2.0


class CliError(Exception):
    """A problem to print as one line before exiting with status 1."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nft-admin", description="Administer the SciFiKPI NFT custody wallet and collection."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    add_outbox_commands(sub)  # outbox status | republish (scifikpi_common.republish)
    sub.add_parser("custody", help="show the custody wallet and the collection")
    sub.add_parser(
        "deploy-collection",
        help="deploy the custody wallet and the collection if needed, and wait until active",
    )
    fund = sub.add_parser("fund", help="local network only: faucet TON to the custody wallet")
    fund.add_argument("--ton", required=True, help="amount in TON, e.g. 100 or 0.5")
    item = sub.add_parser("item", help="an NFT item's on-chain state: owner, index, collection")
    item.add_argument("address", help="the item's address (raw 0:<hex> or user-friendly)")
    item.add_argument("--json", action="store_true", help="one JSON object (raw addresses)")
    return parser


async def _item(args: argparse.Namespace, settings: NftSettings, custody: Custody) -> str:
    """What `get_nft_data` says, next to what this deployment expects (custody, collection)."""
    address = parse_user_address(args.address)
    account, _ = await custody.provider.raw_get_account_state(address)
    active = account is not None and account.storage.state.type_ == "account_active"
    data: dict[str, object] = {
        "address": address.to_str(is_user_friendly=False),
        "active": active,
        "initialized": False,
        "index": None,
        "collection": None,
        "owner": None,
        "custody": custody.address.to_str(is_user_friendly=False),
        "expected_collection": custody.collection.to_str(is_user_friendly=False),
    }
    if active:
        init, index, collection, owner, _content = await custody.provider.run_get_method(
            address, "get_nft_data", []
        )
        data["initialized"] = bool(init)
        data["index"] = int(index)
        for key, value in (("collection", collection), ("owner", owner)):
            loaded = value.load_address() if value is not None else None
            data[key] = loaded.to_str(is_user_friendly=False) if loaded is not None else None
    if args.json:
        return json.dumps(data)
    return "\n".join(f"{key:20} {value}" for key, value in data.items())


def _ton(nano: int) -> str:
    return f"{Decimal(nano) / NANO:f} TON"


def _addresses(address: Address, testnet: bool) -> list[str]:
    return [
        f"  raw:            {address.to_str(is_user_friendly=False)}",
        f"  bounceable:     {address.to_str(is_bounceable=True, is_test_only=testnet)}",
        f"  non-bounceable: {address.to_str(is_bounceable=False, is_test_only=testnet)}",
    ]


def _yes(flag: bool) -> str:
    return "yes" if flag else "NO"


def _report(settings: NftSettings, status: CustodyStatus) -> str:
    testnet = settings.ton_network != TonNetwork.mainnet  # local too: never real TON
    lines = [
        f"network:          {settings.ton_network.value}",
        "custody wallet (HighloadWalletV3):",
    ]
    lines += _addresses(status.address, testnet)
    lines += [
        f"  deployed:       {_yes(status.wallet_active)}",
        f"  balance:        {_ton(status.balance)}",
        "collection:",
    ]
    lines += _addresses(status.collection, testnet)
    lines += [f"  deployed:       {_yes(status.collection_active)}"]
    if status.collection_active:
        lines += [
            f"  code hash:      {'ok' if status.collection_code_ok else 'MISMATCH'}"
            f" (pinned {contracts.COLLECTION_CODE_HASH[:16]}…)",
            f"  owner=custody:  {_yes(status.owner_ok)}",
            f"  next index:     {status.next_index}",
        ]
    lines.append(f"status:           {'OK' if status.ok else 'NOT READY'}")
    return "\n".join(lines)


async def _wait_active(custody: Custody, what: str, check: str) -> None:
    deadline = time.monotonic() + DEPLOY_WAIT_S
    while True:
        status = await custody.check()
        if getattr(status, check):
            return
        if time.monotonic() > deadline:
            raise CliError(f"the {what} is not active after {DEPLOY_WAIT_S:.0f} s")
        await asyncio.sleep(POLL_S)


async def _deploy(settings: NftSettings, provider: TonProvider, custody: Custody) -> None:
    if settings.ton_network == TonNetwork.local:
        from nft.ton.local import LocalChain, bootstrap_local

        assert isinstance(provider, LocalChain)
        await bootstrap_local(provider, custody)
        return
    status = await custody.check()
    if not status.wallet_active:
        if status.balance <= 0:
            testnet = settings.ton_network != TonNetwork.mainnet  # local too: never real TON
            address = status.address.to_str(is_bounceable=False, is_test_only=testnet)
            raise CliError(f"the custody wallet has no balance: send TON to {address} first")
        await custody.deploy_wallet()
        await _wait_active(custody, "custody wallet", "wallet_active")
    if not (await custody.check()).collection_active:
        await custody.deploy_collection()
        await _wait_active(custody, "collection", "collection_active")


async def _fund(
    args: argparse.Namespace, settings: NftSettings, provider: TonProvider, custody: Custody
) -> str:
    if settings.ton_network != TonNetwork.local:
        raise CliError("fund works on the local network only; send real TON to the wallet")
    try:
        amount = int(Decimal(args.ton) * NANO)
    except InvalidOperation:
        raise CliError(f"{args.ton!r} is not an amount of TON") from None
    if amount <= 0:
        raise CliError("the amount must be positive")
    from nft.ton.local import LocalChain

    assert isinstance(provider, LocalChain)
    await provider.faucet(custody.address, amount)
    return f"funded {_ton(amount)}; balance {_ton(await custody.balance())}"


async def _run(args: argparse.Namespace, settings: NftSettings) -> tuple[str, bool]:
    provider = await open_provider(settings)
    try:
        custody = Custody.from_settings(provider, settings)
        if args.command == "fund":
            return await _fund(args, settings, provider, custody), True
        if args.command == "item":
            return await _item(args, settings, custody), True
        if args.command == "deploy-collection":
            await _deploy(settings, provider, custody)
        status = await custody.check()
        return _report(settings, status), status.ok
    finally:
        await provider.close()


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "outbox":
        return outbox_main(args, get_settings().database_url, make_outbox())
    try:
        settings = get_settings()
        text, ok = asyncio.run(_run(args, settings))
        print(text)
        if not ok:
            print(
                "nft-admin: custody is not ready; run `nft-admin deploy-collection`",
                file=sys.stderr,
            )
        return 0 if ok else 1
    except CliError as exc:
        message = str(exc)
    except InvalidAddress as exc:
        message = exc.detail or exc.title
    except ChainUnavailable as exc:
        message = f"the chain is unavailable: {exc}"
    except MessageRejected as exc:
        message = f"the chain rejected the message: {exc.reason}"
    except ValidationError as exc:  # settings
        message = f"invalid configuration: {exc.errors()[0].get('msg')}"
    except ValueError as exc:  # e.g. missing liteserver config, bad custody key
        message = str(exc)
    print(f"nft-admin: error: {message}", file=sys.stderr)
    return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
