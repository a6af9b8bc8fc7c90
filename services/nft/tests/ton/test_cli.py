"""`nft-admin` against the local chain in the test database."""

from __future__ import annotations

import asyncio

import pytest
from nft.cli import main
from nft.settings import DEV_CUSTODY_PRIVATE_KEY, NftSettings, get_settings
from nft.ton.local import LocalChain


@pytest.fixture
def cli_env(clean_db: str, settings: NftSettings, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("DATABASE_URL", clean_db)
    monkeypatch.setenv("ENVIRONMENT", "test")
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9")
    monkeypatch.setenv("NFT_TON_NETWORK", "local")
    monkeypatch.setenv("NFT_PUBLIC_BASE_URL", settings.public_base_url)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_cli_deploy_custody_and_fund(cli_env: None, capsys: pytest.CaptureFixture[str]) -> None:
    async def _reset() -> None:
        chain = await LocalChain.open(get_settings().database_url)
        await chain.reset()
        await chain.close()

    asyncio.run(_reset())
    assert main(["custody"]) == 1  # nothing deployed yet
    out = capsys.readouterr()
    assert "NOT READY" in out.out and "deploy-collection" in out.err

    assert main(["deploy-collection"]) == 0
    assert main(["deploy-collection"]) == 0  # idempotent
    capsys.readouterr()

    assert main(["custody"]) == 0
    out = capsys.readouterr().out
    assert "status:           OK" in out
    assert (
        "raw:            0:" in out and "non-bounceable: 0Q" in out and "bounceable:     kQ" in out
    )
    assert "code hash:      ok" in out and "next index:     0" in out
    assert DEV_CUSTODY_PRIVATE_KEY not in out

    assert main(["fund", "--ton", "2.5"]) == 0
    assert "funded 2.5 TON" in capsys.readouterr().out
    assert main(["fund", "--ton", "abc"]) == 1
    assert "not an amount" in capsys.readouterr().err


def test_cli_item_shows_an_items_on_chain_owner(
    cli_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    from nft.ton.custody import Custody

    async def _mint_one() -> tuple[str, str]:
        settings = get_settings()
        chain = await LocalChain.open(settings.database_url)
        try:
            await chain.reset()
            custody = Custody.from_settings(chain, settings)
            from nft.ton.local import bootstrap_local

            await bootstrap_local(chain, custody)
            signed = custody.sign(
                [custody.mint_message(0, "x.json")],
                query_id=0,
                created_at=await custody.created_at(),
            )
            await custody.send(signed)
            return custody.item_address(0).to_str(), custody.address.to_str(is_user_friendly=False)
        finally:
            await chain.close()

    item, custody_raw = asyncio.run(_mint_one())
    assert main(["item", item, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["active"] is True and data["initialized"] is True and data["index"] == 0
    assert data["owner"] == data["custody"] == custody_raw
    assert data["collection"] == data["expected_collection"]

    assert main(["item", "0:" + "ab" * 32, "--json"]) == 0  # nothing there
    assert json.loads(capsys.readouterr().out)["active"] is False
    assert main(["item", "0:abcd"]) == 1
    assert "raw address" in capsys.readouterr().err
