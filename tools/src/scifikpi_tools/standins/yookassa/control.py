"""Clients of the fake's control API (`/_control/...`): async for tests and the stack, sync for
scripts. Every method returns the decoded JSON answer and raises `httpx.HTTPStatusError` on an
error answer."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any

import httpx


def _delivery(
    mode: str | None, copies: int | None, delay_ms: int | None, parallel: bool | None
) -> dict[str, Any] | None:
    policy = {
        k: v
        for k, v in (
            ("mode", mode),
            ("copies", copies),
            ("delay_ms", delay_ms),
            ("parallel", parallel),
        )
        if v is not None
    }
    return policy or None


class ControlClient:
    """`await control.pay(payment_id, mode="drop")`, `await control.notifications(...)`..."""

    def __init__(self, base_url: str, timeout: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout

    async def _call(self, method: str, path: str, body: Any = None, **params: Any) -> Any:
        query = {k: v for k, v in params.items() if v is not None}
        async with httpx.AsyncClient(base_url=self.base_url, timeout=self.timeout) as client:
            response = await client.request(method, path, json=body, params=query or None)
        response.raise_for_status()
        return response.json()

    async def config(self) -> dict[str, Any]:
        return await self._call("GET", "/_control/config")

    async def configure(
        self,
        *,
        webhook_url: str | None | type[Ellipsis] = ...,
        delivery: dict[str, Any] | None = None,
        retry_delays_ms: Sequence[int] | None = None,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {}
        if webhook_url is not ...:
            body["webhook_url"] = webhook_url
        if delivery is not None:
            body["delivery"] = delivery
        if retry_delays_ms is not None:
            body["retry_delays_ms"] = list(retry_delays_ms)
        return await self._call("PATCH", "/_control/config", body)

    async def set_webhook(self, url: str | None) -> dict[str, Any]:
        return await self.configure(webhook_url=url)

    async def pay(
        self,
        payment_id: str,
        *,
        mode: str | None = None,
        copies: int | None = None,
        delay_ms: int | None = None,
        parallel: bool | None = None,
    ) -> dict[str, Any]:
        """The customer pays; the delivery arguments shape the notification this causes."""
        body: dict[str, Any] = {}
        delivery = _delivery(mode, copies, delay_ms, parallel)
        if delivery:
            body["delivery"] = delivery
        return await self._call("POST", f"/_control/payments/{payment_id}/pay", body)

    async def cancel(
        self,
        payment_id: str,
        *,
        reason: str | None = None,
        party: str | None = None,
        mode: str | None = None,
        copies: int | None = None,
        delay_ms: int | None = None,
        parallel: bool | None = None,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {k: v for k, v in (("reason", reason), ("party", party)) if v}
        delivery = _delivery(mode, copies, delay_ms, parallel)
        if delivery:
            body["delivery"] = delivery
        return await self._call("POST", f"/_control/payments/{payment_id}/cancel", body)

    async def payments(self) -> list[dict[str, Any]]:
        return (await self._call("GET", "/_control/payments"))["items"]

    async def notifications(
        self,
        *,
        payment_id: str | None = None,
        event: str | None = None,
        state: str | None = None,
    ) -> list[dict[str, Any]]:
        return (
            await self._call(
                "GET", "/_control/notifications", payment_id=payment_id, event=event, state=state
            )
        )["items"]

    async def release(self, ids: Sequence[str] | None = None, *, order: str = "given") -> list[str]:
        body = {"ids": list(ids) if ids else None, "order": order}
        return (await self._call("POST", "/_control/notifications/release", body))["released"]

    async def resend(self, notification_id: str, **delivery: Any) -> dict[str, Any]:
        body = {"delivery": delivery} if delivery else {}
        return await self._call("POST", f"/_control/notifications/{notification_id}/resend", body)

    async def add_fault(self, **fault: Any) -> dict[str, Any]:
        return await self._call("POST", "/_control/faults", fault)

    async def clear_faults(self) -> None:
        await self._call("DELETE", "/_control/faults")

    async def reset(self) -> None:
        await self._call("POST", "/_control/reset")

    async def wait_for_notifications(
        self,
        *,
        count: int = 1,
        timeout_s: float = 10.0,
        settled: bool = True,
        **filters: Any,
    ) -> list[dict[str, Any]]:
        """Poll until at least `count` notifications match `filters` (and, with `settled`, none
        of them is still scheduled/delayed/delivering)."""
        deadline = time.monotonic() + timeout_s
        while True:
            items = await self.notifications(**filters)
            busy = {"scheduled", "delayed", "delivering"}
            if len(items) >= count and (not settled or not any(n["state"] in busy for n in items)):
                return items
            if time.monotonic() > deadline:
                raise TimeoutError(f"notifications {filters} not settled in {timeout_s}s: {items}")
            await asyncio.sleep(0.05)


class SyncControlClient:
    """The same calls for scripts (`scifikpi_tools.standins.pay`)."""

    def __init__(self, base_url: str, timeout: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        with httpx.Client(base_url=self.base_url, timeout=self.timeout) as client:
            response = client.request(method, path, json=body)
        response.raise_for_status()
        return response.json()

    def pay(self, payment_id: str, delivery: dict[str, Any] | None = None) -> dict[str, Any]:
        body = {"delivery": delivery} if delivery else {}
        return self._call("POST", f"/_control/payments/{payment_id}/pay", body)

    def cancel(
        self, payment_id: str, reason: str | None = None, delivery: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"reason": reason} if reason else {}
        if delivery:
            body["delivery"] = delivery
        return self._call("POST", f"/_control/payments/{payment_id}/cancel", body)

    def configure(self, **body: Any) -> dict[str, Any]:
        return self._call("PATCH", "/_control/config", body)

    def notifications(self) -> list[dict[str, Any]]:
        return self._call("GET", "/_control/notifications")["items"]
