"""Per-client rate limiting: a sliding-window counter per (route group, client IP).

The count of the current fixed window plus the previous window's count weighted by how much of
it still overlaps the sliding window; integer arithmetic only. Rejected requests are not
counted, so a client that honours `Retry-After` gets in again. Backends: Redis (one atomic Lua
script run per request, shared by every gateway replica) when REDIS_URL is set, in-process
otherwise.
If Redis fails, the in-process limiter takes over until it answers again (limits stay, only per
replica) rather than letting everything through or failing requests.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import time
from dataclasses import dataclass
from typing import Any, Protocol

import hiredis
from scifikpi_common.logging import get_logger

from gateway.resp import RedisUnavailable, RespClient, encode

log = get_logger(__name__)


@dataclass(frozen=True, slots=True)
class Bucket:
    limit: int
    window_s: int


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    retry_after_s: int = 0


class RateLimiter(Protocol):
    async def hit(self, group: str, client: str, bucket: Bucket) -> Decision: ...

    async def close(self) -> None: ...


def _decide(cur: int, prev: int, bucket: Bucket, elapsed_ms: int) -> Decision:
    """`cur` already includes this request. Allowed iff prev*(W-e) + cur*W <= limit*W."""
    w = bucket.window_s * 1000
    if prev * (w - elapsed_ms) + cur * w <= bucket.limit * w:
        return Decision(True)
    cur -= 1  # this request is not counted
    if cur >= bucket.limit or prev == 0:
        # only a later window admits it, once this one's `cur` (its previous window by then)
        # weighs little enough: cur*(W-e') + W <= limit*W, i.e. e' >= W*(cur-limit+1)/cur
        wait_ms = w - elapsed_ms + -(-w * (cur - bucket.limit + 1) // cur)
    else:  # the previous window's weight must fall: prev*(W-e') <= (limit-cur-1)*W
        room = bucket.limit - cur - 1
        wait_ms = max(w - (room * w) // prev - elapsed_ms, 1)
    return Decision(False, max(1, math.ceil(wait_ms / 1000)))


class MemoryRateLimiter:
    """Counters in a dict of this process; old windows are swept once per window."""

    def __init__(self) -> None:
        self._counts: dict[tuple[str, str, int, int], int] = {}
        self._next_sweep = 0.0
        self._max_window_ms = 1000

    async def hit(self, group: str, client: str, bucket: Bucket) -> Decision:
        return self.hit_now(group, client, bucket, time.time())

    def hit_now(self, group: str, client: str, bucket: Bucket, now: float) -> Decision:
        now_ms = int(now * 1000)
        w = bucket.window_s * 1000
        idx, elapsed = divmod(now_ms, w)
        counts = self._counts
        key = (group, client, w, idx)
        cur = counts.get(key, 0) + 1
        prev = counts.get((group, client, w, idx - 1), 0)
        decision = _decide(cur, prev, bucket, elapsed)
        if decision.allowed:
            counts[key] = cur
        if w > self._max_window_ms:
            self._max_window_ms = w
        if now >= self._next_sweep:
            self._sweep(now_ms)
        return decision

    def _sweep(self, now_ms: int) -> None:
        # A window is dead once it is neither current nor previous; with several bucket sizes,
        # keep everything younger than two of the longest windows (cheap and safe).
        horizon = now_ms - 2 * self._max_window_ms
        # key = (group, client, window_ms, index): the window ends at (index + 1) * window_ms
        self._counts = {k: v for k, v in self._counts.items() if (k[3] + 1) * k[2] > horizon}
        self._next_sweep = now_ms / 1000 + self._max_window_ms / 1000

    async def close(self) -> None:
        return None


# KEYS[1] current window, KEYS[2] previous window; ARGV limit, window_ms, elapsed_ms.
_LUA = """
local cur = redis.call('INCR', KEYS[1])
if cur == 1 then redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]) * 2) end
local prev = tonumber(redis.call('GET', KEYS[2]) or '0')
local w = tonumber(ARGV[2])
if prev * (w - tonumber(ARGV[3])) + cur * w > tonumber(ARGV[1]) * w then
  redis.call('DECR', KEYS[1])
  return {cur, prev}
end
return {cur, prev}
"""


class RedisRateLimiter:
    """Shared counters in Redis; keys use a hash tag so both windows live in one cluster slot.

    The hits of all requests arriving in the same event-loop turn go to Redis as one write of
    EVALSHA commands (`gateway.resp`, replies matched in order; batches overlap on the wire);
    every hit is still its own atomic script run. NOSCRIPT (Redis restarted or flushed its
    scripts) loads the script and runs the batch again, once.
    """

    def __init__(
        self, url: str, prefix: str, *, timeout_s: float = 0.5, retry_after_failure_s: float = 5.0
    ) -> None:
        self._redis = RespClient(url, timeout_s=timeout_s)
        self._prefix = prefix
        self._fallback = MemoryRateLimiter()
        self._down_until = 0.0
        self._retry_after_failure_s = retry_after_failure_s
        self._pending: list[tuple[bytes, asyncio.Future[Any]]] = []
        self._flushing: set[asyncio.Task[None]] = set()

    async def hit(self, group: str, client: str, bucket: Bucket) -> Decision:
        now = time.time()
        if now < self._down_until:
            return self._fallback.hit_now(group, client, bucket, now)
        w = bucket.window_s * 1000
        idx, elapsed = divmod(int(now * 1000), w)
        base = f"{self._prefix}rl:{{{group}:{client}}}:"
        command = _SCRIPT_CALL + encode_args(
            f"{base}{idx}", f"{base}{idx - 1}", bucket.limit, w, elapsed
        )
        loop = asyncio.get_running_loop()
        result: asyncio.Future[Any] = loop.create_future()
        self._pending.append((command, result))
        if len(self._pending) == 1:
            task = loop.create_task(self._flush())
            self._flushing.add(task)
            task.add_done_callback(self._flushing.discard)
        try:
            cur, prev = await result
        except Exception as exc:  # Redis down or slow: keep limiting, per replica
            if time.time() >= self._down_until:
                log.warning("rate_limit_redis_failed", error=repr(exc))
                self._down_until = time.time() + self._retry_after_failure_s
            return self._fallback.hit_now(group, client, bucket, now)
        return _decide(int(cur), int(prev), bucket, elapsed)

    async def _flush(self) -> None:
        await asyncio.sleep(0)  # let the other requests of this loop turn join the batch
        batch, self._pending = self._pending, []
        try:
            results = await self._run([command for command, _ in batch])
        except Exception as exc:
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        for (_, future), res in zip(batch, results, strict=True):
            if not future.done():
                future.set_result(res)

    async def _run(self, commands: list[bytes]) -> list[Any]:
        replies = await self._redis.execute(commands)
        if any(_is_error(r, b"NOSCRIPT") for r in replies):
            replies = await self._redis.execute([_SCRIPT_LOAD, *commands])
            replies = replies[1:]
        for reply in replies:
            if _is_error(reply):
                raise RedisUnavailable(f"Redis answered an error: {reply}")
        return replies

    async def close(self) -> None:
        for task in list(self._flushing):
            await task
        await self._redis.close()


_SHA = hashlib.sha1(_LUA.encode()).hexdigest().encode()  # noqa: S324 - Redis names scripts so
#: `EVALSHA <sha> 2` of an 8-element command; the two keys and three arguments follow
_SCRIPT_CALL = b"*8\r\n$7\r\nEVALSHA\r\n$40\r\n%s\r\n$1\r\n2\r\n" % _SHA
_SCRIPT_LOAD = encode(["SCRIPT", "LOAD", _LUA])


def encode_args(current: str, previous: str, limit: int, window_ms: int, elapsed_ms: int) -> bytes:
    """The script's keys and arguments in RESP (the hot path: one format, no loop)."""
    a, b = current.encode(), previous.encode()
    c, d, e = b"%d" % limit, b"%d" % window_ms, b"%d" % elapsed_ms
    return b"$%d\r\n%s\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n" % (
        len(a), a, len(b), b, len(c), c, len(d), d, len(e), e
    )  # fmt: skip


def _is_error(reply: Any, kind: bytes | None = None) -> bool:
    if not isinstance(reply, hiredis.ReplyError):
        return False
    return kind is None or str(reply).encode().startswith(kind)


def create_rate_limiter(redis_url: str | None, prefix: str) -> RateLimiter:
    return RedisRateLimiter(redis_url, prefix) if redis_url else MemoryRateLimiter()
