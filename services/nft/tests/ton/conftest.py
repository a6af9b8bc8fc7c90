"""Fixtures of the TON tests: the real emulated chain (pytvm) on the test database (schema
`ton_local`, emptied per test) and the custody wallet of the test settings. No chain mocks."""

from __future__ import annotations

import pytest
from nacl.bindings import crypto_sign_seed_keypair
from nft.settings import NftSettings
from nft.ton.custody import Custody
from nft.ton.local import LocalChain, bootstrap_local
from pytoniq import WalletV4R2
from pytoniq_core import Address


@pytest.fixture
def custody(chain: LocalChain, settings: NftSettings) -> Custody:
    return Custody.from_settings(chain, settings)


@pytest.fixture
async def ready(chain: LocalChain, custody: Custody) -> Custody:
    """Custody funded, deployed, with its collection deployed."""
    await bootstrap_local(chain, custody)
    return custody


@pytest.fixture
async def user_wallet(chain: LocalChain) -> Address:
    """The address of a user's WalletV4R2 (not deployed: NFTs can be sent to it anyway)."""
    _pub, priv = crypto_sign_seed_keypair(b"\x42" * 32)
    wallet = await WalletV4R2.from_private_key(chain, priv, version="v4r2")
    assert type(wallet).__name__ == "WalletV4R2"
    return wallet.address
