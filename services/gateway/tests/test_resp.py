"""The limiter's Redis client and the Redis limiter itself, against the real Redis here."""

from __future__ import annotations

import asyncio
import socket
import time

import pytest
import redis.asyncio as redis
from gateway.ratelimit import Bucket, MemoryRateLimiter, RedisRateLimiter
from gateway.resp import RedisUnavailable, RespClient, encode

REDIS_URL = "redis://127.0.0.1:6379/0"


def test_encode() -> None:
    assert encode(["GET", "k", 12]) == b"*3\r\n$3\r\nGET\r\n$1\r\nk\r\n$2\r\n12\r\n"


async def test_concurrent_batches_get_their_own_replies(redis_prefix: str) -> None:
    client = RespClient(REDIS_URL)
    try:
        keys = [f"{redis_prefix}{i}" for i in range(50)]

        async def incr_twice(key: str) -> list[object]:
            return await client.execute([encode(["INCR", key]), encode(["INCRBY", key, 10])])

        replies = await asyncio.gather(*(incr_twice(k) for k in keys))
        assert replies == [[1, 11]] * 50
        error = (await client.execute([encode(["NOSUCHCOMMAND"])]))[0]
        assert isinstance(error, Exception)  # an error reply is a value, the connection lives on
        assert await client.execute([encode(["GET", keys[0]])]) == [b"11"]
    finally:
        await client.close()


async def test_database_from_the_url(redis_prefix: str) -> None:
    client = RespClient("redis://127.0.0.1:6379/5")
    try:
        await client.execute([encode(["SET", f"{redis_prefix}db", "five"])])
    finally:
        await client.close()
    assert await redis.from_url("redis://127.0.0.1:6379/5").get(f"{redis_prefix}db") == b"five"
    assert await redis.from_url(REDIS_URL).get(f"{redis_prefix}db") is None


async def test_a_silent_server_times_out_and_the_next_call_reconnects(redis_prefix: str) -> None:
    accepted: list[asyncio.StreamWriter] = []

    async def silent(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(writer)

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client = RespClient(f"redis://127.0.0.1:{port}/0", timeout_s=0.2)
    try:
        started = time.monotonic()
        with pytest.raises(RedisUnavailable, match="did not answer"):
            await client.execute([encode(["PING"])])
        assert 0.15 < time.monotonic() - started < 1.0
        with pytest.raises(RedisUnavailable):
            await client.execute([encode(["PING"])])
        assert len(accepted) == 2  # the timed-out connection was dropped, a new one made
    finally:
        await client.close()
        server.close()
        for writer in accepted:
            writer.close()


async def test_refused_connection_and_bad_auth_are_unavailable() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    with pytest.raises(RedisUnavailable, match="cannot connect"):
        await RespClient(f"redis://127.0.0.1:{closed}/0").execute([encode(["PING"])])
    # this Redis has no password: AUTH is refused, and so is the connection
    with pytest.raises(RedisUnavailable, match="refused the connection setup"):
        await RespClient("redis://:wrong@127.0.0.1:6379/0").execute([encode(["PING"])])
    with pytest.raises(ValueError, match="redis://"):
        RespClient("http://127.0.0.1:6379")


async def test_redis_limiter_decides_as_the_in_process_one(redis_prefix: str) -> None:
    limiter = RedisRateLimiter(REDIS_URL, redis_prefix)
    memory = MemoryRateLimiter()
    bucket = Bucket(limit=5, window_s=60)
    try:
        # 8 requests at once (one batch), then 2 more: the first 5 only get in
        burst = await asyncio.gather(*(limiter.hit("g", "ip", bucket) for _ in range(8)))
        more = [await limiter.hit("g", "ip", bucket) for _ in range(2)]
        now = time.time()
        expected = [memory.hit_now("g", "ip", bucket, now) for _ in range(10)]
        assert [d.allowed for d in burst + more] == [d.allowed for d in expected]
        assert [d.allowed for d in burst] == [True] * 5 + [False] * 3
        assert all(d.retry_after_s >= 1 for d in more)
        assert limiter._down_until == 0.0  # Redis answered every time: no fallback
    finally:
        await limiter.close()


async def test_redis_limiter_reloads_a_flushed_script(redis_prefix: str) -> None:
    limiter = RedisRateLimiter(REDIS_URL, redis_prefix)
    bucket = Bucket(limit=2, window_s=60)
    try:
        assert (await limiter.hit("g", "ip", bucket)).allowed
        await redis.from_url(REDIS_URL).script_flush()  # as a Redis restart would
        assert (await limiter.hit("g", "ip", bucket)).allowed
        assert not (await limiter.hit("g", "ip", bucket)).allowed  # the count survived
        assert limiter._down_until == 0.0
    finally:
        await limiter.close()


def test_script_arguments_encode_as_resp() -> None:
    from gateway.ratelimit import encode_args

    assert encode_args("k:1", "k:0", 600, 60_000, 5) == encode(["k:1", "k:0", 600, 60_000, 5])[4:]
