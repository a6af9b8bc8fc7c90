"""TON Connect `ton_proof` verification (pure: no framework, no database, no network).

What the wallet signs (docs.ton.org, "Verifying signed-in users"):

    message   = "ton-proof-item-v2/" ++ wc:int32 BE ++ addr_hash:32B ++ domain_len:uint32 LE
                ++ domain ++ timestamp:uint64 LE ++ payload (utf-8)
    signature = Ed25519(sha256(0xffff ++ "ton-connect" ++ sha256(message)))

`verify_ton_proof` checks, cheapest first:

1. the address parses strictly (`InvalidAddress`, 422);
2. the network (when the client names one and we expect one), the domain (allow-list, and
   `lengthBytes` equal to its UTF-8 length) and the timestamp (not older than `max_age_s`, not
   more than `max_skew_s` ahead) — `ProofRejected`, 422;
3. the state init hashes to the address, its code is a wallet we know, the public key parsed from
   its data equals the one the client claims (if any), and the Ed25519 signature holds —
   `ProofInvalid`, 401.

Checking that the payload was issued by us, to this user, unexpired and unused, needs the
database: `nft.wallets.handlers.verify_and_bind` does it.

Public keys are read from the wallet's `walletStateInit` (TON Connect sends it for deployed and
undeployed wallets alike) for wallet v3r1/v3r2/v4r1/v4r2/v5r1 and highload v3, recognised by
their code hash (codes from ton_core's `CONTRACT_CODES`). Other wallets would need the
`get_public_key` get-method on chain; they are refused here.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey
from pytoniq_core import Address, Cell, Slice, StateInit
from ton_core.contrib.contracts.codes import CONTRACT_CODES
from ton_core.contrib.contracts.versions import ContractVersion

from nft.ton.addresses import parse_user_address
from nft.wallets.domain import ProofInvalid, ProofRejected

TON_PROOF_PREFIX = b"ton-proof-item-v2/"
TON_CONNECT_PREFIX = b"ton-connect"
# TON Connect `CHAIN` values.
MAINNET_CHAIN = "-239"
TESTNET_CHAIN = "-3"
DEFAULT_MAX_SKEW_S = 60


@dataclass(frozen=True, slots=True)
class ProofDomain:
    length_bytes: int
    value: str


@dataclass(frozen=True, slots=True)
class TonProof:
    """A TON Connect `tonProof` plus the account fields it is checked against.

    `address`: `account.address` (raw `0:<hex>`; user-friendly forms accepted too);
    `network`: `account.chain` (`"-239"` mainnet, `"-3"` testnet) or None;
    `timestamp`: unix seconds; `payload`: the challenge we issued, as signed;
    `signature`: base64 (64 bytes); `state_init`: base64 BoC of `account.walletStateInit`;
    `public_key`: `account.publicKey` (hex) if the client sent it — then it must match.
    """

    address: str
    domain: ProofDomain
    timestamp: int
    payload: str
    signature: str
    state_init: str
    network: str | None = None
    public_key: str | None = None


@dataclass(frozen=True, slots=True)
class VerifiedProof:
    address: Address
    public_key: bytes


def proof_digest(address: Address, domain: str, timestamp: int, payload: str) -> bytes:
    """The 32 bytes the wallet signs with Ed25519."""
    d = domain.encode()
    message = (
        TON_PROOF_PREFIX
        + address.wc.to_bytes(4, "big", signed=True)
        + address.hash_part
        + len(d).to_bytes(4, "little")
        + d
        + int(timestamp).to_bytes(8, "little")
        + payload.encode()
    )
    return hashlib.sha256(
        b"\xff\xff" + TON_CONNECT_PREFIX + hashlib.sha256(message).digest()
    ).digest()


def _code_hash(version: ContractVersion) -> bytes:
    return Cell.one_from_boc(bytes.fromhex(CONTRACT_CODES[version])).hash


def _skip_then_key(bits: int) -> Callable[[Slice], bytes]:
    def parse(s: Slice) -> bytes:
        s.skip_bits(bits)
        return s.load_bytes(32)

    return parse


# Where the 256-bit public key sits in each wallet's data cell.
_PUBKEY_PARSERS: dict[bytes, Callable[[Slice], bytes]] = {}
for _version in (
    ContractVersion.WalletV3R1,
    ContractVersion.WalletV3R2,
    ContractVersion.WalletV4R1,
    ContractVersion.WalletV4R2,
):  # seqno:32 wallet_id:32 public_key:256 ...
    _PUBKEY_PARSERS[_code_hash(_version)] = _skip_then_key(64)
# is_signature_allowed:1 seqno:32 wallet_id:32 public_key:256 extensions
_PUBKEY_PARSERS[_code_hash(ContractVersion.WalletV5R1)] = _skip_then_key(1 + 32 + 32)
# public_key:256 subwallet_id:32 ...
_PUBKEY_PARSERS[_code_hash(ContractVersion.WalletHighloadV3R1)] = _skip_then_key(0)
del _version


def _b64decode(value: str) -> bytes:
    """Standard or URL-safe base64, padding optional."""
    text = value.strip().replace("-", "+").replace("_", "/")
    text += "=" * (-len(text) % 4)
    return base64.b64decode(text, validate=True)


def public_key_from_state_init(address: Address, state_init_b64: str) -> bytes:
    """The wallet's public key, after checking the state init is the address's own."""
    try:
        state_init = StateInit.deserialize(Slice.one_from_boc(_b64decode(state_init_b64)))
        state_init_hash = state_init.serialize().hash
    except Exception:  # noqa: BLE001 - bad base64 or BoC raise many unrelated types
        raise ProofInvalid("The wallet state init is not a valid BoC.") from None
    if state_init_hash != address.hash_part:
        raise ProofInvalid("The wallet state init does not belong to the address.")
    parser = _PUBKEY_PARSERS.get(state_init.code.hash) if state_init.code is not None else None
    if parser is None or state_init.data is None:
        raise ProofInvalid("Unknown wallet contract (supported: wallet v3, v4, v5r1, highload v3).")
    try:
        return parser(state_init.data.begin_parse())
    except Exception:  # noqa: BLE001
        raise ProofInvalid("The wallet data holds no public key.") from None


def verify_ton_proof(
    proof: TonProof,
    *,
    allowed_domains: Iterable[str],
    now: datetime,
    max_age_s: int,
    max_skew_s: int = DEFAULT_MAX_SKEW_S,
    expected_network: str | None = None,
) -> VerifiedProof:
    """Check a ton_proof (everything but the payload's provenance); see the module doc.

    `expected_network`: a TON Connect chain id (`"-239"`/`"-3"`) a proof naming a network must
    match; None accepts any.
    """
    address = parse_user_address(proof.address)

    if expected_network is not None and proof.network not in (None, expected_network):
        raise ProofRejected(f"The wallet is on network {proof.network}, not {expected_network}.")
    domain = proof.domain.value
    allowed = {d.strip().lower() for d in allowed_domains}
    if domain.lower() not in allowed:
        raise ProofRejected(f"The proof is for domain {domain!r}, which is not ours.")
    if proof.domain.length_bytes != len(domain.encode()):
        raise ProofRejected("The domain's lengthBytes does not match the domain.")
    now_s = int(now.timestamp())
    if proof.timestamp < now_s - max_age_s:
        raise ProofRejected("The proof is too old; sign a fresh one.")
    if proof.timestamp > now_s + max_skew_s:
        raise ProofRejected("The proof is dated in the future.")
    if not 0 <= proof.timestamp < 2**64:
        raise ProofRejected("The proof timestamp is out of range.")

    public_key = public_key_from_state_init(address, proof.state_init)
    _check_claimed_key(proof.public_key, public_key)
    _check_signature(proof, address, public_key)
    return VerifiedProof(address=address, public_key=public_key)


def _check_claimed_key(claimed_hex: str | None, public_key: bytes) -> None:
    """A public key the client sent must be the one in the wallet's state init."""
    if claimed_hex is None:
        return
    try:
        claimed = bytes.fromhex(claimed_hex)
    except ValueError:
        raise ProofInvalid("The public key is not hex.") from None
    if claimed != public_key:
        raise ProofInvalid("The public key is not the wallet's.")


def _check_signature(proof: TonProof, address: Address, public_key: bytes) -> None:
    try:
        signature = _b64decode(proof.signature)
    except (binascii.Error, ValueError):
        raise ProofInvalid("The signature is not base64.") from None
    if len(signature) != 64:
        raise ProofInvalid("The signature is not 64 bytes.")
    digest = proof_digest(address, proof.domain.value, proof.timestamp, proof.payload)
    try:
        VerifyKey(public_key).verify(digest, signature)
    except BadSignatureError:
        raise ProofInvalid("The signature does not verify with the wallet's key.") from None
