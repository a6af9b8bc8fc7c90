"""Wallet binding over HTTP with real Postgres and real TON Connect proofs (`_wallet_helpers`):
the happy path, both body shapes, replay, payload provenance, forged and mismatched proofs,
addresses, one wallet per account and one account per wallet, access, the contract."""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx
import pytest
from _wallet_helpers import Wallet, bound, challenge, used_at, verify
from nacl.signing import SigningKey
from scifikpi_common.testing.contracts import assert_problem
from scifikpi_common.testing.tokens import TokenSigner
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine


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
            "address": wallet.raw,
            "chain": "-3",
            "walletStateInit": state_init,
            "publicKey": bytes(wallet.key.verify_key).hex(),
        },
        "proof": proof,
        "extra": "ignored",
    }
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


# --- payload provenance ---
async def test_expired_payload(
    client: httpx.AsyncClient, me: dict[str, str], engine: AsyncEngine
) -> None:
    payload = await challenge(client, me)
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "UPDATE nft.wallet_challenges SET expires_at = now() - interval '1 second'"
                " WHERE payload = :p"
            ),
            {"p": payload},
        )
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
    client: httpx.AsyncClient,
    me: dict[str, str],
    engine: AsyncEngine,
    kw: dict,
    edit: Any,
    detail: str,
) -> None:
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
        409,
        "wallet-taken",
    )
    assert len(await bound(engine)) == 1
    assert_problem(await client.get("/nft/wallets/me", headers=other), 404, "wallet-not-found")


# --- access ---
async def test_inactive_account_cannot_bind(
    client: httpx.AsyncClient,
    keys: TokenSigner,
    user_id: uuid.UUID,
    me: dict[str, str],
    engine: AsyncEngine,
) -> None:
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
