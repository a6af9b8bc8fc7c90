"""Making the local chain ready for the custody wallet: what `make run`, the engine on `local`,
`nft-admin deploy-collection` and the tests start from."""

from __future__ import annotations

from nft.ton.custody import Custody
from nft.ton.local.chain import LocalChain
from nft.ton.provider import ChainUnavailable

INITIAL_BALANCE_NANO = 10_000 * 10**9


async def bootstrap_local(
    chain: LocalChain, custody: Custody, *, initial_balance_nano: int = INITIAL_BALANCE_NANO
) -> None:
    """Idempotent: fund custody from the faucet if it has no account yet, deploy the HLv3
    wallet, deploy the collection. Afterwards `custody.check().ok`."""
    account, _ = await chain.raw_get_account_state(custody.address)
    if account is None:
        await chain.faucet(custody.address, initial_balance_nano)
    await custody.deploy_wallet()
    await custody.deploy_collection()
    status = await custody.check()
    if not status.ok:
        raise ChainUnavailable(f"local bootstrap incomplete: {status}")
