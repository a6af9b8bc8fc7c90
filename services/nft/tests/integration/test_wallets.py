"""Wallet binding over HTTP with real Postgres and real TON Connect proofs (fresh wallets,
Ed25519 signatures made from the spec here, independently of `nft.ton.proof`)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import struct
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from _nft_helpers import PROBLEM
from nacl.signing import SigningKey
from nft.app import create_app
from nft.settings import NftSettings
from pytoniq.contract.wallets.wallet import WALLET_V4_R2_CODE, WalletV4R2
from pytoniq_core import Address, StateInit
from pytoniq_core.crypto.keys import mnemonic_new, mnemonic_to_private_key
from scifikpi_common.testing.tokens import TokenSigner
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

DOMAIN = "localhost:4200"


@pytest.fixture
async def client(nft_settings: NftSettings, keys: TokenSigner) -> AsyncIterator[httpx.AsyncClient]:
    """The nft app in-process."""
    app = create_app(nft_settings, jwks_fetcher=keys.fetch)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://nft.test") as c:
            yield c


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

    def sign(self, payload: str, *, domain: str = DOMAIN, ts: int | None = None,
             key: SigningKey | None = None) -> dict[str, Any]:  # fmt: skip
        """TON Connect's `tonProof.proof` for this wallet, signed per the spec."""
        ts = int(time.time()) if ts is None else ts
        d = domain.encode()
        message = (
            b"ton-proof-item-v2/" + struct.pack(">i", 0) + self.address.hash_part
            + struct.pack("<I", len(d)) + d + struct.pack("<Q", ts) + payload.encode()
        )  # fmt: skip
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
            "address": self.raw, "network": "-3",
            "public_key": bytes(self.key.verify_key).hex(), "proof": self.sign(payload, **kw),
        }  # fmt: skip


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


def assert_problem(r: httpx.Response, status: int, slug: str) -> dict:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    assert body["type"] == f"{PROBLEM}{slug}", body
    return body


@pytest.fixture
def user_id() -> uuid.UUID:
    return uuid.uuid4()


@pytest.fixture
def me(keys: TokenSigner, user_id: uuid.UUID) -> dict[str, str]:
    return keys.headers(user_id)


# --- happy path, idempotency, replay ---
async def test_bind_happy_path(
    client: httpx.AsyncClient, me: dict[str, str], user_id: uuid.UUID, engine: AsyncEngine
) -> None:
    r = await client.post("/nft/wallets/challenge", headers=me)
    assert r.status_code == 201, r.text
    issued = r.json()
    assert set(issued) == {"payload", "expires_at"} and len(issued["payload"]) == 64
    wallet = Wallet.new(mnemonic=True)
    r = await verify(client, me, wallet.body(issued["payload"]))
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["address"] == wallet.raw
    assert out["address_friendly"] == wallet.address.to_str(is_bounceable=False, is_test_only=True)
    assert out["address_friendly"].startswith("0Q")  # the local chain is not mainnet
    assert (await client.get("/nft/wallets/me", headers=me)).json() == out
    [(uid, address, public_key, _)] = await bound(engine)
    assert (uid, address, public_key) == (user_id, wallet.raw, bytes(wallet.key.verify_key).hex())
    assert await used_at(engine, issued["payload"]) is not None


async def test_ton_connect_account_shape(client: httpx.AsyncClient, me: dict[str, str]) -> None:
    wallet = Wallet.new()
    proof = wallet.sign(await challenge(client, me))
    state_init = proof.pop("state_init")
    proof["timestamp"] = str(proof["timestamp"])  # the spec has it as a string
    body = {
        "account": {
            "address": wallet.raw, "chain": "-3", "walletStateInit": state_init,
            "publicKey": bytes(wallet.key.verify_key).hex(),
        },
        "proof": proof,
        "extra": "ignored",
    }  # fmt: skip
    r = await verify(client, me, body)
    assert r.status_code == 200, r.text
    assert r.json()["address"] == wallet.raw


async def test_replay_is_rejected_and_same_wallet_again_is_idempotent(
    client: httpx.AsyncClient, me: dict[str, str], engine: AsyncEngine
) -> None:
    wallet = Wallet.new()
    body = wallet.body(await challenge(client, me))
    first = await verify(client, me, body)
    assert first.status_code == 200, first.text
    before = await bound(engine)
    problem = assert_problem(await verify(client, me, body), 422, "proof-rejected")
    assert "already used" in problem["detail"]
    assert await bound(engine) == before
    again = await verify(client, me, wallet.body(await challenge(client, me)))
    assert again.status_code == 200, again.text
    assert again.json() == first.json()  # verified_at of the first bind kept
    assert await bound(engine) == before


async def test_concurrent_verifies_of_one_payload_bind_once(
    client: httpx.AsyncClient, me: dict[str, str], engine: AsyncEngine
) -> None:
    payload = await challenge(client, me)
    a, b = Wallet.new(), Wallet.new()
    results = await asyncio.gather(*(verify(client, me, w.body(payload)) for w in (a, b, a)))
    codes = sorted(r.status_code for r in results)
    assert codes == [200, 422, 422], [r.text for r in results]
    assert len(await bound(engine)) == 1


async def test_concurrent_binds_of_one_wallet_by_two_accounts(
    client: httpx.AsyncClient, keys: TokenSigner, engine: AsyncEngine
) -> None:
    wallet = Wallet.new()
    users = [keys.headers(uuid.uuid4()) for _ in range(4)]
    bodies = [wallet.body(await challenge(client, h)) for h in users]
    results = await asyncio.gather(
        *(verify(client, h, b) for h, b in zip(users, bodies, strict=True))
    )
    assert sorted(r.status_code for r in results) == [200, 409, 409, 409]
    for r in results:
        if r.status_code == 409:
            assert r.json()["type"] == f"{PROBLEM}wallet-taken"
    assert len(await bound(engine)) == 1


async def _wait_for_lock_waiter(engine: AsyncEngine) -> None:
    """Until some backend waits on a row lock (the request blocked behind our transaction)."""
    for _ in range(100):
        async with engine.connect() as conn:
            waiting = await conn.execute(text("SELECT count(*) FROM pg_locks WHERE NOT granted"))
            if waiting.scalar_one():
                return
        await asyncio.sleep(0.05)
    raise AssertionError("the request never waited on the lock")


async def test_bind_racing_a_committing_bind_of_the_same_wallet_is_wallet_taken(
    client: httpx.AsyncClient, me: dict[str, str], engine: AsyncEngine
) -> None:
    """Deterministic race: another account's bind of the same wallet is in flight (inserted,
    not committed) when ours inserts; ours waits, then answers 409, never a 500."""
    wallet = Wallet.new()
    body = wallet.body(await challenge(client, me))
    async with engine.connect() as conn:
        tx = await conn.begin()
        await conn.execute(
            text("INSERT INTO nft.wallets VALUES (:u, :a, '00', now())"),
            {"u": uuid.uuid4(), "a": wallet.raw},
        )
        request = asyncio.create_task(verify(client, me, body))
        await _wait_for_lock_waiter(engine)
        await tx.commit()
    assert_problem(await request, 409, "wallet-taken")
    assert len(await bound(engine)) == 1


async def test_verify_racing_a_committing_verify_of_the_same_payload_is_rejected(
    client: httpx.AsyncClient, me: dict[str, str], engine: AsyncEngine
) -> None:
    """The guarded UPDATE waits for a concurrent consumer of the payload, then finds it used."""
    payload = await challenge(client, me)
    async with engine.connect() as conn:
        tx = await conn.begin()
        await conn.execute(
            text("UPDATE nft.wallet_challenges SET used_at = now() WHERE payload = :p"),
            {"p": payload},
        )
        request = asyncio.create_task(verify(client, me, Wallet.new().body(payload)))
        await _wait_for_lock_waiter(engine)
        await tx.commit()
    problem = assert_problem(await request, 422, "proof-rejected")
    assert "already used" in problem["detail"]
    assert await bound(engine) == []


# --- payload provenance ---
async def test_expired_payload(
    client: httpx.AsyncClient, me: dict[str, str], engine: AsyncEngine
) -> None:
    payload = await challenge(client, me)
    async with engine.begin() as conn:
        await conn.execute(
            text("UPDATE nft.wallet_challenges SET expires_at = now() - interval '1 second'"
                 " WHERE payload = :p"), {"p": payload},
        )  # fmt: skip
    problem = assert_problem(
        await verify(client, me, Wallet.new().body(payload)), 422, "proof-rejected"
    )
    assert "expired" in problem["detail"]
    assert await bound(engine) == []
    # a new challenge purges this user's expired ones
    await challenge(client, me)
    async with engine.connect() as conn:
        left = await conn.execute(
            text("SELECT count(*) FROM nft.wallet_challenges WHERE payload = :p"), {"p": payload}
        )
        assert left.scalar_one() == 0


async def test_payload_of_another_user_or_never_issued(
    client: httpx.AsyncClient, me: dict[str, str], keys: TokenSigner, engine: AsyncEngine
) -> None:
    other = keys.headers(uuid.uuid4())
    theirs = await challenge(client, other)
    wallet = Wallet.new()
    problem = assert_problem(await verify(client, me, wallet.body(theirs)), 422, "proof-rejected")
    assert "not issued to this account" in problem["detail"]
    assert await used_at(engine, theirs) is None  # not consumed by the stranger
    never = assert_problem(await verify(client, me, wallet.body("00" * 32)), 422, "proof-rejected")
    assert never["detail"] == problem["detail"]
    assert await bound(engine) == []
    assert (await verify(client, other, wallet.body(theirs))).status_code == 200


# --- forged or mismatched proofs ---
async def test_forged_signature_binds_nothing_and_uses_the_payload_up(
    client: httpx.AsyncClient, me: dict[str, str], engine: AsyncEngine
) -> None:
    wallet = Wallet.new()
    payload = await challenge(client, me)
    forged = wallet.body(payload)
    forged["proof"] = wallet.sign(payload, key=SigningKey.generate())
    r = await verify(client, me, forged)
    assert_problem(r, 401, "invalid-proof")
    assert "www-authenticate" not in r.headers  # not a token problem
    assert await bound(engine) == []
    assert await used_at(engine, payload) is not None  # documented: one crypto attempt each
    problem = assert_problem(await verify(client, me, wallet.body(payload)), 422, "proof-rejected")
    assert "already used" in problem["detail"]
    assert (await verify(client, me, wallet.body(await challenge(client, me)))).status_code == 200


async def test_state_init_of_another_wallet(
    client: httpx.AsyncClient, me: dict[str, str], engine: AsyncEngine
) -> None:
    wallet, other = Wallet.new(), Wallet.new()
    body = wallet.body(await challenge(client, me))
    body["proof"]["state_init"] = other.state_init_b64
    body.pop("public_key")
    problem = assert_problem(await verify(client, me, body), 401, "invalid-proof")
    assert "does not belong" in problem["detail"]
    assert await bound(engine) == []


@pytest.mark.parametrize(
    ("kw", "edit", "detail"),
    [
        ({"domain": "evil.example"}, None, "not ours"),
        ({}, lambda b: b["proof"]["domain"].update(lengthBytes=99), "lengthBytes"),
        ({"ts": int(time.time()) - 3600}, None, "too old"),
        ({"ts": int(time.time()) + 3600}, None, "future"),
    ],
)
async def test_rejected_proofs_leave_the_payload_usable(
    client: httpx.AsyncClient, me: dict[str, str], engine: AsyncEngine, kw: dict, edit: Any,
    detail: str,
) -> None:  # fmt: skip
    wallet = Wallet.new()
    payload = await challenge(client, me)
    body = wallet.body(payload, **kw)
    if edit:
        edit(body)
    problem = assert_problem(await verify(client, me, body), 422, "proof-rejected")
    assert detail in problem["detail"]
    assert await bound(engine) == []
    assert await used_at(engine, payload) is None
    assert (await verify(client, me, wallet.body(payload))).status_code == 200


@pytest.mark.parametrize(
    "address",
    [
        "0:abcd",  # 2-byte hash
        "-1:" + "11" * 32,  # masterchain
        "EQ" + "A" * 46,  # bad checksum
        "not an address",
    ],
)
async def test_malformed_address(
    client: httpx.AsyncClient, me: dict[str, str], engine: AsyncEngine, address: str
) -> None:
    payload = await challenge(client, me)
    body = Wallet.new().body(payload) | {"address": address}
    assert_problem(await verify(client, me, body), 422, "invalid-address")
    assert await bound(engine) == []
    assert await used_at(engine, payload) is None


async def test_bad_checksum_of_a_real_address(
    client: httpx.AsyncClient, me: dict[str, str]
) -> None:
    wallet = Wallet.new()
    good = wallet.address.to_str(is_bounceable=False)
    bad = good[:-1] + ("A" if good[-1] != "A" else "B")
    body = wallet.body(await challenge(client, me)) | {"address": bad}
    assert_problem(await verify(client, me, body), 422, "invalid-address")
    body["address"] = good  # a user-friendly form of the same wallet is fine
    assert (await verify(client, me, body)).status_code == 200


# --- one wallet per account, one account per wallet ---
async def test_second_wallet_for_the_same_account(
    client: httpx.AsyncClient, me: dict[str, str], engine: AsyncEngine
) -> None:
    first = Wallet.new()
    assert (await verify(client, me, first.body(await challenge(client, me)))).status_code == 200
    r = await verify(client, me, Wallet.new().body(await challenge(client, me)))
    assert_problem(r, 409, "wallet-already-bound")
    assert [row[1] for row in await bound(engine)] == [first.raw]


async def test_same_wallet_for_another_account(
    client: httpx.AsyncClient, me: dict[str, str], keys: TokenSigner, engine: AsyncEngine
) -> None:
    wallet = Wallet.new()
    assert (await verify(client, me, wallet.body(await challenge(client, me)))).status_code == 200
    other = keys.headers(uuid.uuid4())
    assert_problem(
        await verify(client, other, wallet.body(await challenge(client, other))),
        409, "wallet-taken",
    )  # fmt: skip
    assert len(await bound(engine)) == 1
    assert_problem(await client.get("/nft/wallets/me", headers=other), 404, "wallet-not-found")


# --- access ---
async def test_inactive_account_cannot_bind(
    client: httpx.AsyncClient, keys: TokenSigner, user_id: uuid.UUID, me: dict[str, str],
    engine: AsyncEngine,
) -> None:  # fmt: skip
    pending = keys.headers(user_id, status="pending_payment")
    assert_problem(
        await client.post("/nft/wallets/challenge", headers=pending), 403, "account-not-active"
    )
    payload = await challenge(client, me)  # issued while the token said active
    assert_problem(
        await verify(client, pending, Wallet.new().body(payload)), 403, "account-not-active"
    )
    assert await bound(engine) == []
    assert await used_at(engine, payload) is None
    assert_problem(await client.get("/nft/wallets/me", headers=pending), 404, "wallet-not-found")


async def test_token_required(client: httpx.AsyncClient) -> None:
    assert_problem(await client.post("/nft/wallets/challenge"), 401, "invalid-token")
    assert_problem(await client.post("/nft/wallets/verify", json={}), 401, "invalid-token")
    assert_problem(await client.get("/nft/wallets/me"), 401, "invalid-token")


async def test_body_validation(client: httpx.AsyncClient, me: dict[str, str]) -> None:
    wallet = Wallet.new()
    body = wallet.body(await challenge(client, me))
    body["proof"].pop("state_init")
    assert (await verify(client, me, body)).status_code == 422
    body = wallet.body("00" * 32)
    body.pop("address")
    assert (await verify(client, me, body)).status_code == 422


async def test_openapi(client: httpx.AsyncClient) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]
    verify_op = paths["/nft/wallets/verify"]["post"]
    assert {"200", "401", "403", "409", "422"} <= set(verify_op["responses"])
    assert "ton_proof is not valid" in verify_op["responses"]["401"]["description"]
    assert "another account" in verify_op["responses"]["409"]["description"]
    assert "not acceptable" in verify_op["responses"]["422"]["description"]
    examples = verify_op["requestBody"]["content"]["application/json"]["examples"]
    assert {"flat", "account"} <= set(examples)
    assert {"201", "401", "403"} <= set(paths["/nft/wallets/challenge"]["post"]["responses"])
    assert {"200", "401", "404"} <= set(paths["/nft/wallets/me"]["get"]["responses"])
    for op in (verify_op, paths["/nft/wallets/me"]["get"]):
        assert op.get("security") and op.get("description")
