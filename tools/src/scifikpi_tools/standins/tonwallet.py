"""Play the user's TON wallet app for the local stack: a v4r2 wallet key, and the `ton_proof`
TON Connect would hand the frontend, signed per the spec (docs.ton.org, "verifying signed-in
users"), for `POST /api/v1/nft/wallets/verify`.

    uv run python -m scifikpi_tools.standins.tonwallet address
    uv run python -m scifikpi_tools.standins.tonwallet proof <payload> [--domain localhost:4200]

The key lives in `.local/ton-wallet.key` (created on first use, owner-only; `--key-file` to
choose another), so the same wallet answers every time. The wallet is not deployed: an NFT can be
sent to its address all the same, and `nft-admin item <address>` shows it arrive.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nacl.signing import SigningKey
from pytoniq.contract.wallets.wallet import WALLET_V4_R2_CODE
from pytoniq_core import Address, StateInit, begin_cell

DEFAULT_KEY_FILE = Path(".local/ton-wallet.key")
WALLET_ID = 698983191  # the default subwallet of v4r2 on basechain
TESTNET = "-3"  # TON Connect chain id


@dataclass(frozen=True)
class Wallet:
    key: SigningKey
    address: Address
    state_init: str  # base64 BOC, as TON Connect's `walletStateInit`

    @classmethod
    def from_key(cls, key: SigningKey) -> Wallet:
        data = (
            begin_cell()
            .store_uint(0, 32)
            .store_uint(WALLET_ID, 32)
            .store_bytes(bytes(key.verify_key))
            .store_bit(0)
            .end_cell()
        )
        state_init = StateInit(code=WALLET_V4_R2_CODE, data=data)
        address = Address((0, state_init.serialize().hash))
        return cls(key, address, base64.b64encode(state_init.serialize().to_boc()).decode())

    @classmethod
    def generate(cls) -> Wallet:
        return cls.from_key(SigningKey.generate())

    @property
    def raw(self) -> str:
        return self.address.to_str(is_user_friendly=False)

    def proof(
        self, payload: str, *, domain: str = "localhost:4200", timestamp: int | None = None
    ) -> dict[str, Any]:
        """The body of `POST /nft/wallets/verify` for this challenge payload."""
        ts = int(time.time()) if timestamp is None else timestamp
        d = domain.encode()
        message = (
            b"ton-proof-item-v2/"
            + self.address.wc.to_bytes(4, "big", signed=True)
            + self.address.hash_part
            + len(d).to_bytes(4, "little")
            + d
            + ts.to_bytes(8, "little")
            + payload.encode()
        )
        digest = hashlib.sha256(
            b"\xff\xff" + b"ton-connect" + hashlib.sha256(message).digest()
        ).digest()
        return {
            "address": self.raw,
            "network": TESTNET,
            "public_key": bytes(self.key.verify_key).hex(),
            "proof": {
                "timestamp": ts,
                "domain": {"lengthBytes": len(d), "value": domain},
                "payload": payload,
                "signature": base64.b64encode(self.key.sign(digest).signature).decode(),
                "state_init": self.state_init,
            },
        }


def load_or_create(path: Path) -> Wallet:
    if path.exists():
        return Wallet.from_key(SigningKey(bytes.fromhex(path.read_text().strip())))
    wallet = Wallet.generate()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(bytes(wallet.key).hex() + "\n")
    return wallet


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--key-file", type=Path, default=DEFAULT_KEY_FILE)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("address", help="the wallet's addresses (raw and user-friendly)")
    proof = sub.add_parser("proof", help="the verify body for a challenge payload (JSON)")
    proof.add_argument("payload", help="`payload` of POST /api/v1/nft/wallets/challenge")
    proof.add_argument("--domain", default="localhost:4200", help="the dApp's domain")
    args = parser.parse_args(argv)
    wallet = load_or_create(args.key_file)
    if args.command == "address":
        print(f"raw:            {wallet.raw}")
        print(f"non-bounceable: {wallet.address.to_str(is_bounceable=False, is_test_only=True)}")
        return 0
    print(json.dumps(wallet.proof(args.payload, domain=args.domain)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
