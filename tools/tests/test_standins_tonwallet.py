"""The TON wallet stand-in: a persistent key, and proofs the nft service's own verifier (the code
behind POST /nft/wallets/verify) accepts for that wallet and only for it."""

from __future__ import annotations

import json
import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest
from nft.ton.proof import verify_ton_proof
from nft.wallets.domain import ProofInvalid, ProofRejected
from nft.wallets.schemas import WalletVerifyRequest
from scifikpi_tools.standins.tonwallet import Wallet, main


def _verify(body: dict, *, domains: tuple[str, ...] = ("localhost:4200",)):
    return verify_ton_proof(
        WalletVerifyRequest.model_validate(body).to_proof(),
        allowed_domains=domains,
        now=datetime.now(UTC),
        max_age_s=900,
    )


def test_the_key_file_makes_the_same_wallet_every_time(tmp_path: Path, capsys) -> None:
    key_file = tmp_path / "wallet.key"
    assert main(["--key-file", str(key_file), "address"]) == 0
    first = capsys.readouterr().out
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert main(["--key-file", str(key_file), "address"]) == 0
    assert capsys.readouterr().out == first
    assert first.startswith("raw:            0:") and "non-bounceable: 0Q" in first


def test_its_proof_verifies_for_its_address_and_no_other(tmp_path: Path, capsys) -> None:
    key_file = tmp_path / "wallet.key"
    assert main(["--key-file", str(key_file), "proof", "c0ffee"]) == 0
    body = json.loads(capsys.readouterr().out)
    verified = _verify(body)
    assert verified.address.to_str(is_user_friendly=False) == body["address"]
    other = Wallet.generate().proof("c0ffee")
    with pytest.raises(ProofInvalid):  # someone else's state init for this address
        _verify({**body, "proof": {**body["proof"], "state_init": other["proof"]["state_init"]}})
    with pytest.raises(ProofRejected):
        _verify(body, domains=("scifikpi.example",))
