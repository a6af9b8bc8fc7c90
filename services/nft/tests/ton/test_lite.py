"""The liteserver provider without a network: config loading and error translation."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from nft.settings import NftSettings
from nft.ton.lite import (
    TESTNET_CONFIG_PATH,
    LiteConfigError,
    LiteProvider,
    load_liteserver_config,
    map_error,
)
from nft.ton.provider import ChainUnavailable, GetMethodFailed, MessageRejected, TonProvider
from pytoniq import LiteBalancer
from pytoniq.contract.contract import ContractError
from pytoniq.contract.wallets.wallet import WalletError
from pytoniq.liteclient.balancer import BalancerError
from pytoniq.liteclient.client import LiteServerError, RunGetMethodError

ADDR = "0:" + "ab" * 32


def _settings(**kw: Any) -> NftSettings:
    return NftSettings(environment="test", kafka_bootstrap_servers="127.0.0.1:9", **kw)


def test_testnet_uses_the_vendored_config() -> None:
    config = load_liteserver_config(_settings(ton_network="testnet"))
    assert config == json.loads(TESTNET_CONFIG_PATH.read_text())
    assert len(config["liteservers"]) >= 4
    # LiteBalancer accepts it (constructing does not connect)
    balancer = LiteBalancer.from_config(config, trust_level=2, timeout=5)
    assert len(balancer._peers) == len(config["liteservers"])


def test_mainnet_requires_an_explicit_config() -> None:
    with pytest.raises(LiteConfigError, match="NFT_TON_LITESERVER_CONFIG"):
        load_liteserver_config(_settings(ton_network="mainnet"))


def test_explicit_config_file_wins(tmp_path: Path) -> None:
    config = json.loads(TESTNET_CONFIG_PATH.read_text())
    config["liteservers"] = config["liteservers"][:1]
    path = tmp_path / "private.json"
    path.write_text(json.dumps(config))
    loaded = load_liteserver_config(_settings(ton_network="mainnet", ton_liteserver_config=path))
    assert len(loaded["liteservers"]) == 1


@pytest.mark.parametrize(
    "content",
    ["not json", "{}", '{"liteservers": []}', '{"liteservers": [{"ip": 1}], "validator": {}}'],
)
def test_bad_config_files_are_refused(tmp_path: Path, content: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(LiteConfigError):
        load_liteserver_config(_settings(ton_network="testnet", ton_liteserver_config=path))
    with pytest.raises(LiteConfigError):
        load_liteserver_config(
            _settings(ton_network="testnet", ton_liteserver_config=tmp_path / "missing.json")
        )


def test_external_not_accepted_is_message_rejected() -> None:
    exc = LiteServerError(
        0,
        "cannot apply external message to current state : External message was not accepted\n"
        "Cannot run message on account: inbound external message rejected by transaction "
        "ABCD: exitcode=36, steps=21, gas_used=0",
    )
    mapped = map_error(exc)
    assert isinstance(mapped, MessageRejected) and mapped.exit_code == 36


@pytest.mark.parametrize(
    "exc",
    [
        LiteServerError(651, "block is not in db"),
        BalancerError("have no alive peers"),
        TimeoutError(),
        TimeoutError(),
        ConnectionResetError("reset"),
        ContractError("contract does not have state_init attribute"),
        WalletError("must specify wallet private key!"),
    ],
)
def test_transient_errors_are_chain_unavailable(exc: BaseException) -> None:
    mapped = map_error(exc)
    assert type(mapped) is ChainUnavailable


def test_get_method_error_keeps_the_exit_code() -> None:
    mapped = map_error(RunGetMethodError(ADDR, "get_nft_data", -256))
    assert isinstance(mapped, GetMethodFailed) and isinstance(mapped, ChainUnavailable)
    assert mapped.exit_code == -256


class _FailingBalancer:
    """Stands in for a started LiteBalancer whose every call fails with `exc`."""

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc

    async def _fail(self, *args: Any, **kwargs: Any) -> Any:
        raise self.exc

    raw_get_account_state = get_account_state = run_get_method = _fail
    raw_send_message = get_transactions = close_all = _fail


async def test_provider_translates_every_call() -> None:
    provider = LiteProvider(_FailingBalancer(WalletError("boom")))
    assert isinstance(provider, TonProvider)
    calls = [
        provider.raw_get_account_state(ADDR),
        provider.get_account_state(ADDR),
        provider.run_get_method(ADDR, "seqno", []),
        provider.raw_send_message(b"x"),
        provider.get_transactions(ADDR, 5),
    ]
    for call in calls:
        with pytest.raises(ChainUnavailable):
            await call
    rejected = LiteProvider(
        _FailingBalancer(LiteServerError(0, "External message was not accepted"))
    )
    with pytest.raises(MessageRejected):
        await rejected.raw_send_message(b"x")
    await provider.close()  # errors on close are swallowed
    cancelled = LiteProvider(_FailingBalancer(asyncio.CancelledError()))
    with pytest.raises(asyncio.CancelledError):
        await cancelled.raw_send_message(b"x")


async def test_local_network_is_refused_in_production() -> None:
    from nft.ton.factory import open_provider

    settings = _settings(ton_network="local").model_copy(update={"environment": "production"})
    with pytest.raises(ValueError, match="refused in production"):
        await open_provider(settings)
