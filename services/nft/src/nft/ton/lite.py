"""LiteProvider: the production provider, pytoniq's LiteBalancer over liteservers.

The global config (liteservers, validator init block) is read from `NFT_TON_LITESERVER_CONFIG` or,
for testnet when unset, from the vendored `config/testnet-global.config.json`; it is never fetched
at run time (pytoniq's `from_mainnet_config()` does a blocking HTTP GET). Mainnet requires an
explicit config: operations point it at their private liteservers.

Every pytoniq error is translated: an external the liteserver refused to apply → MessageRejected;
everything else (liteserver errors, timeouts, no alive peers, transport errors, and pytoniq's
BaseException-derived ContractError/WalletError) → ChainUnavailable (GetMethodFailed for a failed
get-method).
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from pytoniq import LiteBalancer
from pytoniq.contract.contract import ContractError
from pytoniq.liteclient.balancer import BalancerError
from pytoniq.liteclient.client import LiteClientError, LiteServerError, RunGetMethodError

from nft.ton.provider import ChainUnavailable, GetMethodFailed, MessageRejected

if TYPE_CHECKING:
    from pytoniq_core import Address, Transaction
    from pytoniq_core.tlb.account import SimpleAccount

    from nft.settings import NftSettings

TESTNET_CONFIG_PATH = Path(__file__).parent / "config" / "testnet-global.config.json"

_T = TypeVar("_T")
_NOT_ACCEPTED = re.compile(
    r"(cannot apply external message|external message was not accepted|not accepted)",
    re.IGNORECASE,
)
_EXIT_CODE = re.compile(r"exit[ _]?code[=: ]+(-?\d+)", re.IGNORECASE)


class LiteConfigError(ValueError):
    """The liteserver config is missing or unusable (raised at start, never retried)."""


def load_liteserver_config(settings: NftSettings) -> dict[str, Any]:
    """The global config dict LiteBalancer.from_config needs, from a file only."""
    from nft.settings import TonNetwork

    path = settings.ton_liteserver_config
    if path is None:
        if settings.ton_network == TonNetwork.testnet:
            path = TESTNET_CONFIG_PATH
        elif settings.ton_network == TonNetwork.mainnet:
            raise LiteConfigError(
                "NFT_TON_LITESERVER_CONFIG is required for mainnet: point it at the global config "
                "JSON of your (private) liteservers"
            )
        else:
            raise LiteConfigError(f"network {settings.ton_network} does not use liteservers")
    try:
        config = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise LiteConfigError(f"cannot read liteserver config {path}: {exc}") from exc
    servers = config.get("liteservers") if isinstance(config, dict) else None
    if not servers:
        raise LiteConfigError(f"liteserver config {path} lists no liteservers")
    try:
        for ls in servers:
            int(ls["ip"]), int(ls["port"]), str(ls["id"]["key"])
        block = config["validator"]["init_block"]
        for key in ("workchain", "shard", "seqno", "root_hash", "file_hash"):
            block[key]
    except (KeyError, TypeError, ValueError) as exc:
        raise LiteConfigError(f"liteserver config {path} is malformed: {exc!r}") from exc
    return config


def map_error(exc: BaseException) -> Exception:
    """The provider error for a pytoniq/transport error (callers `raise map_error(e) from e`)."""
    if isinstance(exc, (ChainUnavailable, MessageRejected)):
        return exc
    if isinstance(exc, RunGetMethodError):
        return GetMethodFailed(str(exc), exit_code=exc.exit_code)
    if isinstance(exc, LiteServerError):
        text = f"{exc.message}"
        if _NOT_ACCEPTED.search(text):
            match = _EXIT_CODE.search(text)
            return MessageRejected(
                f"liteserver refused the external: {text[:300]}",
                exit_code=int(match.group(1)) if match else None,
            )
        return ChainUnavailable(f"liteserver error {exc.code}: {text[:300]}")
    if isinstance(exc, BalancerError):
        return ChainUnavailable(f"no usable liteserver: {exc}")
    if isinstance(exc, (asyncio.TimeoutError, TimeoutError)):
        return ChainUnavailable("liteserver request timed out")
    if isinstance(exc, LiteClientError):
        return ChainUnavailable(f"liteclient error: {exc}")
    if isinstance(exc, ContractError):  # BaseException subclass (WalletError too)
        return ChainUnavailable(f"pytoniq contract error: {exc}")
    if isinstance(exc, (OSError, ConnectionError)):
        return ChainUnavailable(f"network error: {exc}")
    return ChainUnavailable(f"unexpected liteserver failure: {type(exc).__name__}: {exc}")


def _passthrough(exc: BaseException) -> bool:
    """Cancellation, interpreter exit and programming errors are not chain failures."""
    return isinstance(
        exc, (asyncio.CancelledError, KeyboardInterrupt, SystemExit, GeneratorExit, TypeError)
    )


async def _guard(call: Callable[[], Awaitable[_T]]) -> _T:
    try:
        return await call()
    except BaseException as exc:  # noqa: BLE001 - ContractError/WalletError are BaseException
        if _passthrough(exc):
            raise
        raise map_error(exc) from exc


class LiteProvider:
    """Implements `TonProvider` over one started LiteBalancer."""

    def __init__(self, balancer: Any) -> None:
        self._balancer = balancer

    @classmethod
    async def start(cls, settings: NftSettings) -> LiteProvider:
        config = load_liteserver_config(settings)
        balancer = LiteBalancer.from_config(
            config,
            trust_level=settings.ton_trust_level,
            timeout=settings.ton_request_timeout_s,
        )
        await _guard(balancer.start_up)
        return cls(balancer)

    async def close(self) -> None:
        try:
            await self._balancer.close_all()
        except BaseException as exc:  # noqa: BLE001
            if _passthrough(exc):
                raise

    async def now(self) -> int:
        return int(time.time())

    async def raw_get_account_state(self, address: Address | str, block: Any = None) -> Any:
        return await _guard(lambda: self._balancer.raw_get_account_state(address, block))

    async def get_account_state(self, address: Address | str) -> SimpleAccount:
        return await _guard(lambda: self._balancer.get_account_state(address))

    async def run_get_method(
        self, address: Address | str, method: str | int, stack: list, block: Any = None
    ) -> list:
        return await _guard(lambda: self._balancer.run_get_method(address, method, stack, block))

    async def raw_send_message(self, message: bytes) -> int:
        return await _guard(lambda: self._balancer.raw_send_message(message))

    async def get_transactions(
        self,
        address: Address | str,
        count: int,
        from_lt: int | None = None,
        from_hash: bytes | None = None,
    ) -> list[Transaction]:
        return await _guard(
            lambda: self._balancer.get_transactions(address, count, from_lt, from_hash)
        )
