"""A pipelining Redis client for the rate limiter's one command: batches of EVALSHA, one write.

redis-py's asyncio pipeline costs ~30 µs of gateway CPU per rate-limit hit (a pipeline object,
command packing and encoding per argument, a pooled connection, a retry wrapper, a read per
reply); the limiter needs none of it. Here one connection writes each batch of commands as
one RESP buffer and matches replies in order (hiredis parses them), so batches of concurrent
requests overlap on the wire instead of waiting for each other (ADR 0008).

Failures are the caller's to handle (the limiter falls back to in-process counters): a reply
that does not come within `timeout_s`, or a lost connection, fails every batch in flight and
drops the connection (its reply stream can no longer be matched); the next batch reconnects.
URLs: redis://[[user]:password@]host[:port][/db], rediss:// (TLS), unix://[[user]:password@]/path.
"""

from __future__ import annotations

import asyncio
import ssl
from collections import deque
from collections.abc import Sequence
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import hiredis


class RedisUnavailable(Exception):
    """No connection, a lost one, or no reply in time."""


def encode(args: Sequence[bytes | str | int]) -> bytes:
    """One command in RESP: `*<n>` then `$<len>` and each argument."""
    out = [b"*%d\r\n" % len(args)]
    for arg in args:
        raw = arg if isinstance(arg, bytes) else str(arg).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(raw), raw))
    return b"".join(out)


class _Batch:
    __slots__ = ("future", "replies", "size", "timer")

    def __init__(self, future: asyncio.Future[list[Any]], size: int) -> None:
        self.future = future
        self.size = size
        self.replies: list[Any] = []
        self.timer: asyncio.TimerHandle | None = None


class _Protocol(asyncio.Protocol):
    def __init__(self, on_lost: Any) -> None:
        self.reader = hiredis.Reader()
        self.transport: asyncio.Transport | None = None
        self.batches: deque[_Batch] = deque()
        self.on_lost = on_lost

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.reader.feed(data)
        batches = self.batches
        while batches:
            reply = self.reader.gets()
            if reply is False:
                return
            batch = batches[0]
            batch.replies.append(reply)
            if len(batch.replies) == batch.size:
                batches.popleft()
                if batch.timer is not None:
                    batch.timer.cancel()
                if not batch.future.done():
                    batch.future.set_result(batch.replies)

    def connection_lost(self, exc: Exception | None) -> None:
        self.fail(RedisUnavailable(f"connection to Redis lost: {exc!r}"))
        self.on_lost(self)

    def fail(self, error: Exception) -> None:
        while self.batches:
            batch = self.batches.popleft()
            if batch.timer is not None:
                batch.timer.cancel()
            if not batch.future.done():
                batch.future.set_exception(error)


class RespClient:
    """`await client.execute([cmd, ...])` -> the replies, in order (errors as values)."""

    def __init__(self, url: str, *, timeout_s: float = 0.5) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("redis", "rediss", "unix"):
            raise ValueError(f"Redis URL must be redis://, rediss:// or unix://: {url!r}")
        self._scheme = parts.scheme
        self._host = parts.hostname or "127.0.0.1"
        self._port = parts.port or 6379
        self._path = unquote(parts.path) if parts.scheme == "unix" else ""
        query = parse_qs(parts.query)
        db = parts.path.lstrip("/") if parts.scheme != "unix" else ""
        self._db = int(db or query.get("db", ["0"])[0])
        self._username = unquote(parts.username) if parts.username else None
        self._password = unquote(parts.password) if parts.password else None
        self._timeout_s = timeout_s
        self._protocol: _Protocol | None = None
        self._connecting: asyncio.Task[_Protocol] | None = None

    async def execute(self, commands: Sequence[bytes]) -> list[Any]:
        """Sends the encoded `commands` in one write and waits for all their replies."""
        protocol = self._protocol
        if protocol is None or protocol.transport is None or protocol.transport.is_closing():
            protocol = await self._connect()
        return await self._send(protocol, b"".join(commands), len(commands))

    def _send(self, protocol: _Protocol, data: bytes, size: int) -> asyncio.Future[list[Any]]:
        loop = asyncio.get_running_loop()
        batch = _Batch(loop.create_future(), size)
        batch.timer = loop.call_later(self._timeout_s, self._timed_out, protocol)
        protocol.batches.append(batch)
        protocol.transport.write(data)  # type: ignore[union-attr]
        return batch.future

    def _timed_out(self, protocol: _Protocol) -> None:
        protocol.fail(RedisUnavailable(f"Redis did not answer within {self._timeout_s} s"))
        if protocol.transport is not None:
            protocol.transport.close()  # the replies still owed would be taken for others'

    def _lost(self, protocol: _Protocol) -> None:
        if self._protocol is protocol:
            self._protocol = None

    async def _connect(self) -> _Protocol:
        if self._connecting is None or self._connecting.done():
            self._connecting = asyncio.get_running_loop().create_task(self._open())
        return await asyncio.shield(self._connecting)

    async def _open(self) -> _Protocol:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self._timeout_s):
                if self._scheme == "unix":
                    _, protocol = await loop.create_unix_connection(
                        lambda: _Protocol(self._lost), self._path
                    )
                else:
                    tls = ssl.create_default_context() if self._scheme == "rediss" else None
                    _, protocol = await loop.create_connection(
                        lambda: _Protocol(self._lost), self._host, self._port, ssl=tls
                    )
        except (OSError, TimeoutError) as exc:
            raise RedisUnavailable(f"cannot connect to Redis: {exc!r}") from exc
        setup = []
        if self._password is not None:
            auth = [self._username, self._password] if self._username else [self._password]
            setup.append(encode(["AUTH", *auth]))
        if self._db:
            setup.append(encode(["SELECT", self._db]))
        if setup:
            for reply in await self._send(protocol, b"".join(setup), len(setup)):
                if isinstance(reply, hiredis.ReplyError):
                    protocol.transport.close()  # type: ignore[union-attr]
                    raise RedisUnavailable(f"Redis refused the connection setup: {reply}")
        self._protocol = protocol
        return protocol

    async def close(self) -> None:
        protocol, self._protocol = self._protocol, None
        if protocol is not None and protocol.transport is not None:
            protocol.transport.close()
