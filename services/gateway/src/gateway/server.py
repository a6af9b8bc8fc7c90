"""uvicorn's httptools protocol, writing each response head together with its body.

uvicorn writes the status line and headers as soon as the app sends `http.response.start`, and
the body in a second `transport.write`: with TCP_NODELAY that is two `send` calls and two
segments per response, and on loopback each send also pays for the receiver's wake-up. A
profile of the gateway under `wrk -c50` put 19 % of its CPU on the head write alone (ADR 0008).

Here the transport is wrapped: the first write of each request cycle (its head; an interim
`100 Continue` goes at once) is held until the next write, which carries it, or until the end
of the current event-loop turn (`call_soon`), whichever comes first; `close()` flushes it too.
Bytes are never reordered and never held past the turn, so a streamed response's head leaves
as soon as the app yields; only the number of syscalls changes. Pass
`http=CoalescingHttpToolsProtocol` to uvicorn.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"  # interim: sent at once, the head still held


class CoalescingTransport:
    """Delegates to the real transport; `hold_next` makes the next write wait for its company."""

    __slots__ = ("_held", "_loop", "_transport", "hold_next")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._held: bytes | None = None
        self.hold_next = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        held = self._held
        if held is not None:
            self._held = None
            self._transport.write(held + bytes(data))
        elif self.hold_next and data and data != _CONTINUE:
            self.hold_next = False
            self._held = bytes(data)
            self._loop.call_soon(self.flush)
        else:
            self._transport.write(data)

    def flush(self) -> None:
        held = self._held
        if held is not None:
            self._held = None
            if not self._transport.is_closing():
                self._transport.write(held)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def __getattr__(self, name: str) -> Any:  # is_closing, pause_reading, get_extra_info, ...
        return getattr(self._transport, name)


class CoalescingHttpToolsProtocol(HttpToolsProtocol):
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(CoalescingTransport(transport, self.loop))  # type: ignore[arg-type]

    def _start_asgi_task(self, cycle: Any, app: Any) -> None:
        self.transport.hold_next = True  # type: ignore[attr-defined]
        super()._start_asgi_task(cycle, app)
