"""The chain provider port: the small subset of pytoniq's LiteClient API that pytoniq wallet
classes and our code use, so the same code runs on the local emulated chain and on liteservers,
and the two errors every provider raises. The implementations (`nft.ton.local`, `nft.ton.lite`)
import only this module; `nft.ton.factory` picks one."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from pytoniq_core import Address, Transaction
    from pytoniq_core.tlb.account import Account, ShardAccount, SimpleAccount


class ChainUnavailable(Exception):
    """The chain could not be reached or did not answer in time: transient, retry later."""


class MessageRejected(Exception):
    """An external message was refused before execution (bad signature, replay, expired: e.g.
    wallet exit 33/35/36). It did not execute and never will as sent."""

    def __init__(self, reason: str, exit_code: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.exit_code = exit_code


class GetMethodFailed(ChainUnavailable):
    """A get-method did not run (account not active, non-zero exit): a liteserver's
    RunGetMethodError. A ChainUnavailable, so callers that only know the two errors retry; code that
    can tell "not deployed" apart checks the account state first."""

    def __init__(self, reason: str, exit_code: int | None = None) -> None:
        super().__init__(reason)
        self.exit_code = exit_code


@runtime_checkable
class TonProvider(Protocol):
    async def raw_get_account_state(
        self, address: Address | str, block: Any = None
    ) -> tuple[Account | None, ShardAccount | None]: ...

    async def get_account_state(self, address: Address | str) -> SimpleAccount: ...

    async def run_get_method(
        self, address: Address | str, method: str | int, stack: list, block: Any = None
    ) -> list: ...

    async def raw_send_message(self, message: bytes) -> int: ...

    async def get_transactions(
        self,
        address: Address | str,
        count: int,
        from_lt: int | None = None,
        from_hash: bytes | None = None,
    ) -> list[Transaction]: ...

    async def now(self) -> int:
        """Chain unix time (liteservers: the wall clock)."""
        ...

    async def close(self) -> None: ...
