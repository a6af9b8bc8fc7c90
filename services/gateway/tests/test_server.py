"""The coalescing HTTP protocol: one write per small response, same bytes, nothing held back.

The protocol is driven directly with a transport that records its writes, so the number of
writes is observable (on a real socket, two sends may or may not arrive as one read).
"""

from __future__ import annotations

import asyncio
from typing import Any

import uvicorn
from gateway.server import CoalescingHttpToolsProtocol, CoalescingTransport
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

GET = b"GET /x HTTP/1.1\r\nhost: t\r\n\r\n"


class RecordingTransport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: Any) -> None:
        assert not self.closed, "written after close"
        self.writes.append(bytes(data))

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return default

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


async def small(scope: Any, receive: Any, send: Any) -> None:
    await send(
        {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]}
    )
    await send({"type": "http.response.body", "body": b"ok"})


async def streamed(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await asyncio.sleep(0.05)
    await send({"type": "http.response.body", "body": b"late", "more_body": True})
    await send({"type": "http.response.body", "body": b""})


async def echo_body(scope: Any, receive: Any, send: Any) -> None:
    body = (await receive())["body"]
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"%d" % len(body))]})  # fmt: skip
    await send({"type": "http.response.body", "body": body})


def connect(app: Any, protocol: type[HttpToolsProtocol]) -> tuple[Any, RecordingTransport]:
    config = uvicorn.Config(app, http=protocol, lifespan="off", log_config=None)
    config.load()
    proto = protocol(config=config, server_state=ServerState(), app_state={})
    transport = RecordingTransport()
    proto.connection_made(transport)
    return proto, transport


async def settle() -> None:
    for _ in range(10):
        await asyncio.sleep(0)


async def test_small_response_is_one_write_of_the_same_bytes() -> None:
    plain, plain_t = connect(small, HttpToolsProtocol)
    ours, ours_t = connect(small, CoalescingHttpToolsProtocol)
    for proto in (plain, ours):
        proto.data_received(GET + GET)  # two requests, pipelined on one connection
    await settle()
    assert len(plain_t.writes) == 4  # uvicorn alone: head, body, head, body
    assert len(ours_t.writes) == 2  # one per response
    assert b"".join(ours_t.writes) == b"".join(plain_t.writes)
    assert ours_t.writes[0].startswith(b"HTTP/1.1 200 OK\r\n") and ours_t.writes[0].endswith(b"ok")


async def test_a_streamed_head_leaves_within_the_loop_turn() -> None:
    proto, transport = connect(streamed, CoalescingHttpToolsProtocol)
    proto.data_received(GET)
    await settle()
    assert len(transport.writes) == 1 and transport.writes[0].startswith(b"HTTP/1.1 200 OK")
    await asyncio.sleep(0.1)
    assert b"".join(transport.writes).endswith(b"4\r\nlate\r\n0\r\n\r\n")


async def test_100_continue_is_not_held_back() -> None:
    proto, transport = connect(echo_body, CoalescingHttpToolsProtocol)
    proto.data_received(
        b"POST /x HTTP/1.1\r\nhost: t\r\nexpect: 100-continue\r\ncontent-length: 3\r\n\r\n"
    )
    await settle()
    assert transport.writes == [b"HTTP/1.1 100 Continue\r\n\r\n"]  # the client may send now
    proto.data_received(b"abc")
    await settle()
    assert transport.writes[1].startswith(b"HTTP/1.1 200 OK") and transport.writes[1].endswith(
        b"abc"
    )


async def test_close_flushes_what_is_held() -> None:
    real = RecordingTransport()
    wrapped = CoalescingTransport(real, asyncio.get_running_loop())
    wrapped.hold_next = True
    wrapped.write(b"head")
    assert real.writes == []
    wrapped.close()
    assert real.writes == [b"head"] and real.closed
    await settle()  # the end-of-turn flush finds nothing left and writes nothing after close
    assert real.writes == [b"head"]
