"""HTTP notifications of the fake, with the delivery faults tests need.

YooKassa POSTs `{"type": "notification", "event": ..., "object": {...}}` to the shop's URL after a
state change and retries until it gets HTTP 200 (real: for about 24 hours; here: the
`retry_delays_ms` schedule). Each notification carries the object as it was when the event
happened, so a late or reordered one shows a stale state, like the real thing.

Delivery policy (`Delivery`): `mode` = `deliver` | `drop` (never sent) | `hold` (kept until
released, in any order you choose); `copies` = how many times it is sent (duplicates, sent
concurrently unless `parallel` is false); `delay_ms` = wait before the first attempt. A default
policy applies to every notification; an action (`pay`, `cancel`) can override it for the
notification it causes.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import aiohttp

from scifikpi_tools.standins.yookassa.values import iso, now

MODES = ("deliver", "drop", "hold")


@dataclass
class Delivery:
    mode: str = "deliver"
    copies: int = 1
    delay_ms: int = 0
    parallel: bool = True

    @classmethod
    def parse(cls, raw: Any, base: Delivery | None = None) -> Delivery:
        """A policy from JSON (missing fields from `base`); ValueError if malformed."""
        start = asdict(base or cls())
        if raw is None:
            return cls(**start)
        if not isinstance(raw, dict):
            raise ValueError("delivery must be an object")
        unknown = set(raw) - set(start)
        if unknown:
            raise ValueError(f"unknown delivery fields: {sorted(unknown)}")
        start.update(raw)
        policy = cls(**start)
        if policy.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}")
        if not isinstance(policy.copies, int) or not 1 <= policy.copies <= 100:
            raise ValueError("copies must be an integer from 1 to 100")
        if not isinstance(policy.delay_ms, int) or not 0 <= policy.delay_ms <= 600_000:
            raise ValueError("delay_ms must be an integer from 0 to 600000")
        if not isinstance(policy.parallel, bool):
            raise ValueError("parallel must be a boolean")
        return policy


@dataclass
class Notification:
    id: str
    event: str
    object_id: str
    payment_id: str
    payload: dict[str, Any]
    policy: Delivery
    created_at: str
    state: str = "scheduled"
    attempts: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self, *, with_payload: bool = True) -> dict[str, Any]:
        out = {
            "id": self.id,
            "event": self.event,
            "object_id": self.object_id,
            "payment_id": self.payment_id,
            "state": self.state,
            "delivery": asdict(self.policy),
            "created_at": self.created_at,
            "attempts": list(self.attempts),
        }
        if with_payload:
            out["payload"] = self.payload
        return out


class Notifier:
    def __init__(
        self,
        webhook_url: str | None = None,
        *,
        retry_delays_ms: Sequence[int] = (1000, 5000, 30000),
        timeout_s: float = 10.0,
    ) -> None:
        self.webhook_url = webhook_url
        self.default = Delivery()
        self.retry_delays_ms = list(retry_delays_ms)
        self.timeout_s = timeout_s
        self.notifications: dict[str, Notification] = {}
        self._counter = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self._session: aiohttp.ClientSession | None = None

    # ------------------------------------------------------------------ scheduling

    def notify(
        self, events: Sequence[tuple[str, dict[str, Any]]], policy: Delivery | None = None
    ) -> list[Notification]:
        created = []
        for event, obj in events:
            self._counter += 1
            notification = Notification(
                id=f"ntf_{self._counter:06d}",
                event=event,
                object_id=str(obj.get("id", "")),
                payment_id=str(obj.get("payment_id") or obj.get("id", "")),
                payload={"type": "notification", "event": event, "object": obj},
                policy=policy or self.default,
                created_at=iso(now()),
            )
            self.notifications[notification.id] = notification
            created.append(notification)
            if notification.policy.mode == "drop":
                notification.state = "dropped"
            elif notification.policy.mode == "hold":
                notification.state = "held"
            else:
                self._spawn(self._deliver(notification))
        return created

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def release(self, ids: Sequence[str] | None = None, order: str = "given") -> list[str]:
        """Deliver held notifications one after another, in the order asked (returns the ids)."""
        if ids:
            missing = [i for i in ids if i not in self.notifications]
            if missing:
                raise KeyError(missing)
            chosen = [self.notifications[i] for i in ids if self.notifications[i].state == "held"]
        else:
            chosen = [n for n in self.notifications.values() if n.state == "held"]
        if order == "reverse":
            chosen.reverse()
        elif order != "given":
            raise ValueError("order must be 'given' or 'reverse'")
        for notification in chosen:
            notification.state = "scheduled"

        async def in_order() -> None:
            for notification in chosen:
                await self._deliver(notification)

        self._spawn(in_order())
        return [n.id for n in chosen]

    def resend(self, notification_id: str, policy: Delivery | None = None) -> Notification:
        """Send an existing notification again (same payload), e.g. a late duplicate."""
        original = self.notifications[notification_id]
        return self.notify([(original.event, original.payload["object"])], policy)[0]

    def reset(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        self.notifications.clear()

    # ------------------------------------------------------------------ delivery

    async def _deliver(self, notification: Notification) -> None:
        policy = notification.policy
        if policy.delay_ms:
            notification.state = "delayed"
            await asyncio.sleep(policy.delay_ms / 1000)
        if not self.webhook_url:
            notification.state = "no_webhook"
            return
        notification.state = "delivering"
        copies = range(1, policy.copies + 1)
        if policy.parallel:
            results = await asyncio.gather(*(self._send_copy(notification, c) for c in copies))
        else:
            results = [await self._send_copy(notification, c) for c in copies]
        notification.state = "delivered" if all(results) else "failed"

    async def _send_copy(self, notification: Notification, copy: int) -> bool:
        delays = [0, *self.retry_delays_ms]
        for attempt, delay_ms in enumerate(delays, start=1):
            if delay_ms:
                await asyncio.sleep(delay_ms / 1000)
            url = self.webhook_url
            if not url:
                return False
            started = time.monotonic()
            record: dict[str, Any] = {
                "copy": copy,
                "attempt": attempt,
                "at": iso(now()),
                "url": url,
            }
            try:
                session = await self._client()
                async with session.post(url, json=notification.payload) as response:
                    await response.read()
                    record["status"] = response.status
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                record["error"] = f"{type(exc).__name__}: {exc}"
            record["ms"] = round((time.monotonic() - started) * 1000, 1)
            notification.attempts.append(record)
            if record.get("status") == 200:
                return True
        return False

    async def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.timeout_s),
                headers={"Content-Type": "application/json"},
            )
        return self._session

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._session is not None:
            await self._session.close()
