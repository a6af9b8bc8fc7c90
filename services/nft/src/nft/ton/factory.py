"""Which chain provider a process talks to (`NFT_TON_NETWORK`): the local emulated chain or
liteservers. The only module that knows both implementations."""

from __future__ import annotations

from scifikpi_common.settings import Environment

from nft.settings import NftSettings, TonNetwork
from nft.ton.provider import TonProvider


async def open_provider(settings: NftSettings) -> TonProvider:
    """`local` → the emulated chain in the service database; `testnet`/`mainnet` → liteservers."""
    if settings.ton_network == TonNetwork.local:
        if settings.environment == Environment.production:
            raise ValueError("NFT_TON_NETWORK=local is an emulated chain: refused in production")
        from nft.ton.local import LocalChain  # the emulator loads only where it runs

        return await LocalChain.open(settings.database_url)
    from nft.ton.lite import LiteProvider

    return await LiteProvider.start(settings)
