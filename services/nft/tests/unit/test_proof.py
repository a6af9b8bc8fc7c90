"""ton_proof verification with real wallets and real Ed25519: proofs are signed here from the
spec (docs.ton.org, "verifying signed-in users"), independently of `nft.ton.proof`."""

from __future__ import annotations

import base64
import hashlib
import struct
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import pytest
from nacl.signing import SigningKey
from nft.domain import InvalidAddress
from nft.ton.addresses import friendly
from nft.ton.proof import ProofDomain, TonProof, VerifiedProof, proof_digest, verify_ton_proof
from nft.wallets.domain import ProofInvalid, ProofRejected
from pytoniq.contract.wallets.highload_v3 import HIGHLOAD_V3_WALLET_CODE
from pytoniq.contract.wallets.wallet import (
    WALLET_V3_R1_CODE,
    WALLET_V3_R2_CODE,
    WALLET_V4_R2_CODE,
    WalletV3R2,
    WalletV4R2,
)
from pytoniq_core import Address, Cell, StateInit, begin_cell
from pytoniq_core.crypto.keys import mnemonic_new, mnemonic_to_private_key
from ton_core.contrib.contracts.codes import CONTRACT_CODES
from ton_core.contrib.contracts.versions import ContractVersion

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
TS = int(NOW.timestamp())
DOMAIN = "localhost:4200"
PAYLOAD = "ab" * 32


def spec_signature(key: SigningKey, address: Address, domain: str, ts: int, payload: str) -> str:
    d = domain.encode()
    message = (
        b"ton-proof-item-v2/"
        + struct.pack(">i", address.wc)
        + address.hash_part
        + struct.pack("<I", len(d))
        + d
        + struct.pack("<Q", ts)
        + payload.encode()
    )
    signed = hashlib.sha256(b"\xff\xff" + b"ton-connect" + hashlib.sha256(message).digest())
    return base64.b64encode(key.sign(signed.digest()).signature).decode()


@dataclass
class Kit:
    key: SigningKey
    state_init: StateInit

    @property
    def public_key(self) -> bytes:
        return bytes(self.key.verify_key)

    @property
    def address(self) -> Address:
        return Address((0, self.state_init.serialize().hash))

    @property
    def state_init_b64(self) -> str:
        return base64.b64encode(self.state_init.serialize().to_boc()).decode()

    def proof(
        self,
        *,
        domain: str = DOMAIN,
        ts: int = TS,
        payload: str = PAYLOAD,
        signer: SigningKey | None = None,
        **overrides: Any,
    ) -> TonProof:
        proof = TonProof(
            address=self.address.to_str(is_user_friendly=False),
            network="-3",
            domain=ProofDomain(length_bytes=len(domain.encode()), value=domain),
            timestamp=ts,
            payload=payload,
            signature=spec_signature(signer or self.key, self.address, domain, ts, payload),
            state_init=self.state_init_b64,
        )
        return replace(proof, **overrides)


def v4r2_kit(*, mnemonic: bool = False) -> Kit:
    """A fresh v4r2 wallet (from a new mnemonic, or a random key: mnemonics are slow to derive),
    built the way pytoniq builds it."""
    if mnemonic:
        _pub, private = mnemonic_to_private_key(mnemonic_new())
        key = SigningKey(private[:32])
    else:
        key = SigningKey.generate()
    data = WalletV4R2.create_data_cell(bytes(key.verify_key))
    return Kit(key, StateInit(code=WALLET_V4_R2_CODE, data=data))


def _code(version: ContractVersion) -> Cell:
    return Cell.one_from_boc(bytes.fromhex(CONTRACT_CODES[version]))


def other_kits() -> dict[str, Kit]:
    key = SigningKey.generate()
    pub = bytes(key.verify_key)
    v3_data = WalletV3R2.create_data_cell(pub)
    v5_data = (
        begin_cell()
        .store_bool(True)
        .store_uint(0, 32)
        .store_uint(2147483409, 32)
        .store_bytes(pub)
        .store_bit(0)
        .end_cell()
    )
    hl3_data = (
        begin_cell()
        .store_bytes(pub)
        .store_uint(0x10AD, 32)
        .store_bit(0)
        .store_bit(0)
        .store_uint(0, 64)
        .store_uint(3600, 22)
        .end_cell()
    )
    v4_data = WalletV4R2.create_data_cell(pub)
    return {
        "v3r1": Kit(key, StateInit(code=WALLET_V3_R1_CODE, data=v3_data)),
        "v3r2": Kit(key, StateInit(code=WALLET_V3_R2_CODE, data=v3_data)),
        "v4r1": Kit(key, StateInit(code=_code(ContractVersion.WalletV4R1), data=v4_data)),
        "v5r1": Kit(key, StateInit(code=_code(ContractVersion.WalletV5R1), data=v5_data)),
        "highload-v3": Kit(key, StateInit(code=HIGHLOAD_V3_WALLET_CODE, data=hl3_data)),
    }


def verify(proof: TonProof, **kw: Any) -> VerifiedProof:
    args: dict[str, Any] = {
        "allowed_domains": ["localhost:4200", "app.scifikpi.test"],
        "now": NOW,
        "max_age_s": 900,
    } | kw
    return verify_ton_proof(proof, **args)


def test_digest_is_the_spec() -> None:
    kit = v4r2_kit()
    sig = base64.b64decode(spec_signature(kit.key, kit.address, DOMAIN, TS, PAYLOAD))
    kit.key.verify_key.verify(proof_digest(kit.address, DOMAIN, TS, PAYLOAD), sig)


def test_v4r2_proof_verifies_with_key_from_state_init() -> None:
    kit = v4r2_kit(mnemonic=True)
    verified = verify(kit.proof())
    assert verified.address == kit.address
    assert verified.public_key == kit.public_key
    # user-friendly address forms, URL-safe base64 signature, and a claimed key that matches
    proof = kit.proof(address=friendly(kit.address, testnet=True), public_key=kit.public_key.hex())
    proof = replace(proof, signature=proof.signature.replace("+", "-").replace("/", "_"))
    assert verify(proof).address == kit.address
    assert verify(kit.proof(address=friendly(kit.address, bounceable=True))).address == kit.address


@pytest.mark.parametrize("name", ["v3r1", "v3r2", "v4r1", "v5r1", "highload-v3"])
def test_other_wallet_codes(name: str) -> None:
    kit = other_kits()[name]
    assert verify(kit.proof()).public_key == kit.public_key


def test_pytoniq_and_ton_core_agree_on_v4r2_code() -> None:
    assert WALLET_V4_R2_CODE.hash == _code(ContractVersion.WalletV4R2).hash


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"domain": "evil.example"}, "not ours"),
        ({"domain": "localhost"}, "not ours"),
        ({"ts": TS - 901}, "too old"),
        ({"ts": TS + 61}, "future"),
        ({"network": "-239"}, "network"),
    ],
)
def test_rejected(change: dict, message: str) -> None:
    kit = v4r2_kit()
    with pytest.raises(ProofRejected, match=message):
        verify(kit.proof(**change), expected_network="-3")


def test_length_bytes_must_match_domain() -> None:
    kit = v4r2_kit()
    proof = kit.proof()
    bad = replace(proof, domain=ProofDomain(length_bytes=len(DOMAIN) + 1, value=DOMAIN))
    with pytest.raises(ProofRejected, match="lengthBytes"):
        verify(bad)


def test_accepted_edges() -> None:
    kit = v4r2_kit()
    verify(kit.proof(ts=TS - 900))
    verify(kit.proof(ts=TS + 60))
    verify(kit.proof(network=None), expected_network="-239")  # a client naming no network
    verify(kit.proof(domain="APP.scifikpi.test"))  # domains compare case-insensitively


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda k, o, p: replace(p, signature=o.proof().signature), "does not verify"),
        (lambda k, o, p: replace(p, payload="cd" * 32), "does not verify"),
        (lambda k, o, p: replace(p, timestamp=TS - 1), "does not verify"),
        (lambda k, o, p: replace(p, signature=base64.b64encode(bytes(64)).decode()), "verify"),
        (lambda k, o, p: replace(p, signature="not base64!"), "base64"),
        (lambda k, o, p: replace(p, signature=base64.b64encode(bytes(32)).decode()), "64 bytes"),
        (lambda k, o, p: replace(p, state_init=o.state_init_b64), "does not belong"),
        (lambda k, o, p: replace(p, state_init="bm90IGEgYm9j"), "not a valid BoC"),
        (lambda k, o, p: replace(p, public_key=o.public_key.hex()), "not the wallet's"),
        (lambda k, o, p: replace(p, public_key="zz"), "not hex"),
    ],
)
def test_invalid(mutate: Callable[[Kit, Kit, TonProof], TonProof], message: str) -> None:
    kit, other = v4r2_kit(), v4r2_kit()
    with pytest.raises(ProofInvalid, match=message):
        verify(mutate(kit, other, kit.proof()))


def test_signed_by_another_key() -> None:
    kit = v4r2_kit()
    with pytest.raises(ProofInvalid, match="does not verify"):
        verify(kit.proof(signer=SigningKey.generate()))


def test_unknown_wallet_code() -> None:
    key = SigningKey.generate()
    data = WalletV4R2.create_data_cell(bytes(key.verify_key))
    code = _code(ContractVersion.WalletV2R2)  # an old wallet we do not read keys from
    kit = Kit(key, StateInit(code=code, data=data))
    with pytest.raises(ProofInvalid, match="Unknown wallet"):
        verify(kit.proof())


@pytest.mark.parametrize(
    "address", ["", "0:abcd", "-1:" + "00" * 32, "EQ" + "A" * 46, "hello world"]
)
def test_bad_address(address: str) -> None:
    with pytest.raises(InvalidAddress):
        verify(v4r2_kit().proof(address=address))


def test_address_is_checked_before_anything_else() -> None:
    proof = v4r2_kit().proof(address="0:abcd", domain="evil.example")
    with pytest.raises(InvalidAddress):
        verify(proof)
