"""Real TON Connect proofs for the wallet tests (fresh v4r2 wallets, Ed25519 signatures made
from the spec here, independently of `nft.ton.proof`) and the HTTP and database helpers."""

from __future__ import annotations

import base64
import hashlib
import struct
import time
from dataclasses import dataclass
from typing import Any

import httpx
from nacl.signing import SigningKey
from pytoniq.contract.wallets.wallet import WALLET_V4_R2_CODE, WalletV4R2
from pytoniq_core import Address, StateInit
from pytoniq_core.crypto.keys import mnemonic_new, mnemonic_to_private_key
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

DOMAIN = "localhost:4200"


@dataclass
class Wallet:
    key: SigningKey
    state_init: StateInit

    @classmethod
    def new(cls, *, mnemonic: bool = False) -> Wallet:
        if mnemonic:
            _pub, private = mnemonic_to_private_key(mnemonic_new())
            key = SigningKey(private[:32])
        else:
            key = SigningKey.generate()
        data = WalletV4R2.create_data_cell(bytes(key.verify_key))
        return cls(key, StateInit(code=WALLET_V4_R2_CODE, data=data))

    @property
    def address(self) -> Address:
        return Address((0, self.state_init.serialize().hash))

    @property
    def raw(self) -> str:
        return self.address.to_str(is_user_friendly=False)

    @property
    def state_init_b64(self) -> str:
        return base64.b64encode(self.state_init.serialize().to_boc()).decode()

    def sign(
        self,
        payload: str,
        *,
        domain: str = DOMAIN,
        ts: int | None = None,
        key: SigningKey | None = None,
    ) -> dict[str, Any]:
        """TON Connect's `tonProof.proof` for this wallet, signed per the spec."""
        ts = int(time.time()) if ts is None else ts
        d = domain.encode()
        message = b"".join(
            [
                b"ton-proof-item-v2/",
                struct.pack(">i", 0),
                self.address.hash_part,
                struct.pack("<I", len(d)),
                d,
                struct.pack("<Q", ts),
                payload.encode(),
            ]
        )
        digest = hashlib.sha256(b"\xff\xff" + b"ton-connect" + hashlib.sha256(message).digest())
        signature = (key or self.key).sign(digest.digest()).signature
        return {
            "timestamp": ts,
            "domain": {"lengthBytes": len(d), "value": domain},
            "payload": payload,
            "signature": base64.b64encode(signature).decode(),
            "state_init": self.state_init_b64,
        }

    def body(self, payload: str, **kw: Any) -> dict[str, Any]:
        """The flat body TON Connect backends receive."""
        return {
            "address": self.raw,
            "network": "-3",
            "public_key": bytes(self.key.verify_key).hex(),
            "proof": self.sign(payload, **kw),
        }


async def challenge(client: httpx.AsyncClient, headers: dict[str, str]) -> str:
    r = await client.post("/nft/wallets/challenge", headers=headers)
    assert r.status_code == 201, r.text
    return r.json()["payload"]


async def verify(client: httpx.AsyncClient, headers: dict[str, str], body: dict) -> httpx.Response:
    return await client.post("/nft/wallets/verify", json=body, headers=headers)


async def bound(engine: AsyncEngine) -> list[tuple]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            text("SELECT user_id, address, public_key, verified_at FROM nft.wallets")
        )
        return [tuple(r) for r in rows]


async def used_at(engine: AsyncEngine, payload: str) -> Any:
    async with engine.connect() as conn:
        return (
            await conn.execute(
                text("SELECT used_at FROM nft.wallet_challenges WHERE payload = :p"),
                {"p": payload},
            )
        ).scalar_one()
