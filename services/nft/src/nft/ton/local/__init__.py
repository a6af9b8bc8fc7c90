"""The local network (`NFT_TON_NETWORK=local`): an emulated TON chain running the real contracts,
its state in schema `ton_local` of the service database. A stand-in like the payment fakes, not a
migration-managed part of the service: it creates its own schema and tables.

- `chain.py`: `LocalChain`, the `TonProvider` (deliver a message and its whole trace at once);
- `emulator.py`: pytvm's libemulator, loaded once per process;
- `repository.py`: the chain's SQL (accounts, transactions, clock) under one advisory lock;
- `bootstrap.py`: fund custody, deploy the wallet and the collection.
"""

from nft.ton.local.bootstrap import bootstrap_local
from nft.ton.local.chain import CONFIG_PATH, FAUCET_ADDRESS, MAX_TRACE, LocalChain
from nft.ton.local.emulator import internal_message
from nft.ton.local.repository import SCHEMA

__all__ = [
    "CONFIG_PATH",
    "FAUCET_ADDRESS",
    "MAX_TRACE",
    "SCHEMA",
    "LocalChain",
    "bootstrap_local",
    "internal_message",
]
