"""TON addresses as users type them, parsed strictly.

pytoniq_core's `Address` accepts 2-byte hashes, any workchain and unknown tag bytes, and raises
IndexError/AttributeError on empty or non-string input; a wallet address we send NFTs to must be a
basechain address with a 32-byte hash and a valid checksum, so every user address goes through
`parse_user_address`. We store the raw form `0:<hex>`; users see the non-bounceable form (`UQ…`).
"""

from __future__ import annotations

import base64

from pytoniq_core import Address
from pytoniq_core.crypto.crc import crc16

from nft.domain import InvalidAddress

_FRIENDLY_TAGS = {0x11, 0x51, 0x91, 0xD1}  # bounceable / non-bounceable, with or without test-only


def parse_user_address(value: object) -> Address:
    """A basechain address with a 32-byte hash, raw (`0:<64 hex>`) or user-friendly (48 chars,
    either base64 alphabet, valid tag and CRC16); anything else raises `InvalidAddress`."""
    if not isinstance(value, str) or not value.strip():
        raise InvalidAddress("The address is empty.")
    text = value.strip()
    if ":" in text:
        wc, _, digest = text.partition(":")
        if wc != "0" or len(digest) != 64:
            raise InvalidAddress("A raw address must be `0:` followed by 64 hex digits.")
        try:
            bytes.fromhex(digest)
        except ValueError:
            raise InvalidAddress("A raw address must be `0:` followed by 64 hex digits.") from None
    else:
        if len(text) != 48:
            raise InvalidAddress("A user-friendly address has 48 characters.")
        try:
            raw = base64.urlsafe_b64decode(text.replace("+", "-").replace("/", "_"))
        except (ValueError, TypeError):
            raise InvalidAddress("The address is not base64.") from None
        if len(raw) != 36 or raw[0] not in _FRIENDLY_TAGS or raw[1] != 0:
            raise InvalidAddress("Only basechain (workchain 0) addresses are accepted.")
        if crc16(raw[:34]) != raw[34:]:
            raise InvalidAddress("The address checksum is wrong.")
    try:
        address = Address(text)
    except Exception:  # noqa: BLE001 - pytoniq raises several unrelated types on bad input
        raise InvalidAddress("The address is not valid.") from None
    if address.wc != 0 or len(address.hash_part) != 32:
        raise InvalidAddress("Only basechain addresses with a 32-byte hash are accepted.")
    return address


def raw(address: Address) -> str:
    """The stored form: `0:<64 hex>`."""
    return address.to_str(is_user_friendly=False)


def friendly(address: Address, *, bounceable: bool = False, testnet: bool = False) -> str:
    """The displayed form: non-bounceable (`UQ…`/`0Q…`) for wallets, bounceable for contracts."""
    return address.to_str(
        is_user_friendly=True, is_url_safe=True, is_bounceable=bounceable, is_test_only=testnet
    )


def shown(raw_address: str, *, contract: bool, testnet: bool) -> str:
    """A stored raw address as the API shows it: contracts bounceable (`EQ…`/`kQ…`), wallets
    non-bounceable (`UQ…`/`0Q…`); the test-only flag off mainnet."""
    return friendly(Address(raw_address), bounceable=contract, testnet=testnet)
