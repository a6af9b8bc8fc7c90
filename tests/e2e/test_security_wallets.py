"""Forged and replayed TON Connect `ton_proof`s on wallet binding (POST /nft/wallets/verify).

What nft verifies (nft.ton.proof, nft.wallets): the payload was issued to this account, is
unexpired and unused; the domain is allow-listed and `lengthBytes` is honest; the timestamp is
fresh; the state init hashes to the address, its code is a known wallet, the claimed public key
is the state init's, and the Ed25519 signature holds. Each attack below breaks one of these and
must bind nothing: 422 `proof-rejected` (the payload survives) or 401 `invalid-proof` (the
payload is used up), as problem+json.
"""

from __future__ import annotations

import base64
import time
from typing import Any

import httpx
import pytest
from e2e_support import bearer
from scifikpi_common.testing.contracts import assert_problem
from scifikpi_tools.standins.tonwallet import Wallet
from security_support import Users, bind_wallet, challenge

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

VERIFY = "/nft/wallets/verify"


@pytest.fixture(scope="module", autouse=True)
async def _users_at_once(users: Users) -> None:
    """The users of this file, registered and paid for concurrently rather than one by one."""
    await users.get("wallet-replay", "wallet-thief", "wallet-owner", "wallet-checks",
                    "wallet-holder")  # fmt: skip


async def verify(api: httpx.AsyncClient, token: str, proof: dict[str, Any]) -> httpx.Response:
    return await api.post(VERIFY, json=proof, headers=bearer(token))


async def unbound(api: httpx.AsyncClient, token: str) -> None:
    assert_problem(await api.get("/nft/wallets/me", headers=bearer(token)), 404, "wallet-not-found")


def with_proof(proof: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return {**proof, "proof": {**proof["proof"], **changes}}


async def token_of(users: Users, name: str) -> str:
    [user] = await users.get(name)
    return str(user["access_token"])


async def test_a_replayed_proof_is_refused(api: httpx.AsyncClient, users: Users) -> None:
    token = await token_of(users, "wallet-replay")
    wallet = Wallet.generate()
    proof = wallet.proof(await challenge(api, token))
    assert (await verify(api, token, proof)).status_code == 200
    assert_problem(await verify(api, token, proof), 422, "proof-rejected")
    # replayed by someone else it is not theirs either, and binds nothing there
    thief = await token_of(users, "wallet-thief")
    assert_problem(await verify(api, thief, proof), 422, "proof-rejected")
    await unbound(api, thief)


async def test_an_intercepted_proof_does_not_bind_for_the_interceptor(
    api: httpx.AsyncClient, users: Users
) -> None:
    owner, thief = (await token_of(users, "wallet-owner")), (await token_of(users, "wallet-thief"))
    wallet = Wallet.generate()
    proof = wallet.proof(await challenge(api, owner))
    assert_problem(await verify(api, thief, proof), 422, "proof-rejected")
    await unbound(api, thief)
    # the thief's attempt did not use the owner's payload up
    assert (await verify(api, owner, proof)).status_code == 200


async def test_a_proof_over_another_accounts_payload_is_refused(
    api: httpx.AsyncClient, users: Users
) -> None:
    owner, thief = (await token_of(users, "wallet-owner")), (await token_of(users, "wallet-thief"))
    stolen_payload = await challenge(api, owner)
    proof = Wallet.generate().proof(stolen_payload)  # the thief's own wallet signs it
    assert_problem(await verify(api, thief, proof), 422, "proof-rejected")
    assert_problem(await verify(api, thief, with_proof(proof, payload="ab" * 32)), 422,
                   "proof-rejected")  # fmt: skip
    await unbound(api, thief)


async def test_a_forged_signature_is_refused_and_uses_the_payload_up(
    api: httpx.AsyncClient, users: Users
) -> None:
    token = await token_of(users, "wallet-thief")
    wallet = Wallet.generate()
    payload = await challenge(api, token)
    genuine = wallet.proof(payload)
    forged = Wallet.generate().proof(payload)  # another key signs for this wallet's address
    forged = {**genuine, "proof": {**genuine["proof"], "signature": forged["proof"]["signature"]}}
    assert_problem(await verify(api, token, forged), 401, "invalid-proof")
    zero = base64.b64encode(bytes(64)).decode()
    junk = with_proof(wallet.proof(await challenge(api, token)), signature=zero)
    assert_problem(await verify(api, token, junk), 401, "invalid-proof")
    # one cryptographic attempt per payload: even the genuine proof is refused now
    assert_problem(await verify(api, token, genuine), 422, "proof-rejected")
    await unbound(api, token)


async def test_a_state_init_or_key_of_another_wallet_is_refused(
    api: httpx.AsyncClient, users: Users
) -> None:
    token = await token_of(users, "wallet-thief")
    victim, mine = Wallet.generate(), Wallet.generate()
    # my key and state init, claiming the victim's address
    proof = mine.proof(await challenge(api, token))
    claim = {**proof, "address": victim.raw}
    assert_problem(await verify(api, token, claim), 401, "invalid-proof")
    # the victim's state init with my signature
    proof = mine.proof(await challenge(api, token))
    stolen = {**with_proof(proof, state_init=victim.state_init), "address": victim.raw}
    assert_problem(await verify(api, token, stolen), 401, "invalid-proof")
    # a public key that is not the state init's
    proof = mine.proof(await challenge(api, token))
    lying = {**proof, "public_key": bytes(victim.key.verify_key).hex()}
    assert_problem(await verify(api, token, lying), 401, "invalid-proof")
    await unbound(api, token)


async def test_wrong_domain_length_or_time_is_refused_and_keeps_the_payload(
    api: httpx.AsyncClient, users: Users
) -> None:
    token = await token_of(users, "wallet-checks")
    wallet = Wallet.generate()
    payload = await challenge(api, token)
    now = int(time.time())
    for bad in (
        wallet.proof(payload, domain="evil.example.com"),
        with_proof(wallet.proof(payload), domain={"lengthBytes": 3, "value": "localhost:4200"}),
        wallet.proof(payload, timestamp=now - 7 * 24 * 3600),  # signed a week ago
        wallet.proof(payload, timestamp=now + 3600),  # dated an hour ahead
    ):
        assert_problem(await verify(api, token, bad), 422, "proof-rejected")
    await unbound(api, token)
    # none of these used the payload up: the genuine proof still binds
    assert (await verify(api, token, wallet.proof(payload))).status_code == 200


async def test_a_wallet_bound_elsewhere_cannot_be_taken(
    api: httpx.AsyncClient, users: Users
) -> None:
    owner, other = (await token_of(users, "wallet-holder")), (await token_of(users, "wallet-thief"))
    wallet = await bind_wallet(api, owner)
    # even with the wallet's key (a shared or leaked one), a second account cannot take it over
    proof = wallet.proof(await challenge(api, other))
    assert_problem(await verify(api, other, proof), 409, "wallet-taken")
    await unbound(api, other)
    mine = await api.get("/nft/wallets/me", headers=bearer(owner))
    assert mine.status_code == 200 and mine.json()["address"] == wallet.raw, mine.text
