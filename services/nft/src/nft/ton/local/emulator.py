"""pytvm's bundled libemulator (the TON node's transaction emulator), loaded once per process.

Two pytvm 0.0.14 problems are worked around here: the engine is loaded from its path
(`EmulatorEngineC.default()` needs `pkg_resources`), and three uint64 ctypes signatures that
pytvm declares as 32-bit are fixed.
"""

from __future__ import annotations

import ctypes
import os

import pytvm
from pytoniq_core import Address, Cell, MessageAny, StateInit
from pytoniq_core.tlb.block import CurrencyCollection
from pytoniq_core.tlb.transaction import InternalMsgInfo
from pytvm.engine import EmulatorEngineC
from pytvm.transaction_emulator import TransactionEmulator

_engine: EmulatorEngineC | None = None
_emulators: dict[str, TransactionEmulator] = {}


def engine() -> EmulatorEngineC:
    """The process's emulator engine (the shared library, with fixed signatures)."""
    global _engine
    if _engine is None:
        path = os.path.join(
            os.path.dirname(pytvm.__file__), "engine", "libemulator-linux-x86_64.so"
        )
        eng = EmulatorEngineC(path)
        lib = eng.lib
        lib.transaction_emulator_set_lt.argtypes = [ctypes.c_void_p, ctypes.c_uint64]
        lib.tvm_emulator_set_c7.argtypes = [
            ctypes.c_void_p,
            ctypes.c_char_p,
            ctypes.c_uint32,
            ctypes.c_uint64,
            ctypes.c_char_p,
            ctypes.c_char_p,
        ]
        lib.tvm_emulator_send_internal_message.argtypes = [
            ctypes.c_void_p,
            ctypes.c_char_p,
            ctypes.c_uint64,
        ]
        eng.emulator_set_verbosity_level(0)
        _engine = eng
    return _engine


def transaction_emulator(config_b64: str) -> TransactionEmulator:
    """One emulator per blockchain config and process: creating one parses the config (~0.1 s).
    Sharing is safe: set_lt/set_unixtime/emulate run back to back with no await in between."""
    if config_b64 not in _emulators:
        _emulators[config_b64] = TransactionEmulator(config=config_b64.encode(), engine=engine())
    return _emulators[config_b64]


def internal_message(
    src: Address,
    dest: Address,
    value: int,
    *,
    body: Cell | None = None,
    init: StateInit | None = None,
    bounce: bool = True,
) -> MessageAny:
    info = InternalMsgInfo(
        ihr_disabled=True,
        bounce=bounce,
        bounced=False,
        src=src,
        dest=dest,
        value=CurrencyCollection(value, None),
        ihr_fee=0,
        fwd_fee=0,
        created_lt=0,
        created_at=0,
    )
    return MessageAny(info=info, init=init, body=body if body is not None else Cell.empty())
