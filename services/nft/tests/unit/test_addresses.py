"""`parse_user_address`: strict where pytoniq is lenient (`nft.ton.addresses`)."""

from __future__ import annotations

import base64

import pytest
from nft.domain import InvalidAddress
from nft.ton.addresses import friendly, parse_user_address, raw
from pytoniq_core import Address
from pytoniq_core.crypto.crc import crc16

# A hash whose base64 forms contain `+`/`/` (standard) vs `-`/`_` (URL-safe).
HASH = b"\xfb\xef\xbe" * 10 + b"\xff\xff"
RAW = "0:" + HASH.hex()


def encode(tag: int, wc: int, digest: bytes, *, url_safe: bool = True) -> str:
    body = bytes([tag, wc & 0xFF]) + digest
    data = body + crc16(body)
    return (base64.urlsafe_b64encode if url_safe else base64.b64encode)(data).decode()


@pytest.mark.parametrize(
    "value",
    [
        "", "   ", None, 0, 12345, b"0:" + b"00" * 32, ["0:" + "00" * 32],
        "hello world", "0:abcd", "0:" + "00" * 31, "0:" + "00" * 33, "0:" + "zz" * 32,
        "7:" + "00" * 32, "-1:" + "00" * 32, "0x:" + "00" * 32, ":" + "00" * 32,
    ],
)  # fmt: skip
def test_garbage_and_raw_edge_cases(value: object) -> None:
    with pytest.raises(InvalidAddress):
        parse_user_address(value)


def test_friendly_edge_cases() -> None:
    good = encode(0x51, 0, HASH)
    assert parse_user_address(good) == Address(RAW)
    with pytest.raises(InvalidAddress):  # 47 and 49 characters
        parse_user_address(good[:-1])
    with pytest.raises(InvalidAddress):
        parse_user_address(good + "A")
    flipped = good[:10] + ("B" if good[10] != "B" else "C") + good[11:]
    with pytest.raises(InvalidAddress, match="checksum"):  # one character changed: bad CRC16
        parse_user_address(flipped)
    bad_crc = base64.urlsafe_b64encode(base64.urlsafe_b64decode(good)[:-2] + b"\0\0").decode()
    with pytest.raises(InvalidAddress, match="checksum"):
        parse_user_address(bad_crc)
    with pytest.raises(InvalidAddress):  # tag 0x22 with a valid CRC (pytoniq accepts it)
        parse_user_address(encode(0x22, 0, HASH))
    with pytest.raises(InvalidAddress):  # workchain 7, valid CRC (pytoniq accepts it)
        parse_user_address(encode(0x11, 7, HASH))
    with pytest.raises(InvalidAddress):  # masterchain
        parse_user_address(encode(0x11, -1, HASH))
    with pytest.raises(InvalidAddress):  # not base64 at all, 48 characters
        parse_user_address("!" * 48)


def test_both_base64_alphabets() -> None:
    url_safe = encode(0x11, 0, HASH, url_safe=True)
    standard = encode(0x11, 0, HASH, url_safe=False)
    assert any(c in url_safe for c in "-_") and any(c in standard for c in "+/")
    assert parse_user_address(url_safe) == parse_user_address(standard) == Address(RAW)


def test_all_four_forms_and_raw_are_one_address() -> None:
    address = Address(RAW)
    forms = {
        prefix: address.to_str(is_bounceable=b, is_test_only=t)
        for prefix, b, t in (("EQ", True, False), ("UQ", False, False),
                             ("kQ", True, True), ("0Q", False, True))
    }  # fmt: skip
    for prefix, text in forms.items():
        assert text.startswith(prefix)
        parsed = parse_user_address(text)
        assert parsed == address
        assert raw(parsed) == RAW
    assert parse_user_address(RAW) == address
    assert parse_user_address("  " + RAW.upper() + "\n") == address
    assert raw(parse_user_address(forms["kQ"])) == RAW


def test_display_forms() -> None:
    address = parse_user_address(RAW)
    assert friendly(address).startswith("UQ")
    assert friendly(address, testnet=True).startswith("0Q")
    assert friendly(address, bounceable=True).startswith("EQ")
    assert parse_user_address(friendly(address)) == address
