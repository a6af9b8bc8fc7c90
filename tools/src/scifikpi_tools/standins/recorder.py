"""`WebhookRecorder`: a tiny HTTP receiver on loopback that records what the stand-ins send.

    async with WebhookRecorder() as hook:             # hook.url = http://127.0.0.1:<port>/hook
        ...point a stand-in at hook.url...
        [request] = await hook.wait_for(1)
        request.body, request.headers["Stripe-Signature"], request.json()

`statuses` scripts the answers (e.g. `[500, 500]` then 200 for the rest), to test retries.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from scifikpi_tools.localinfra import free_port


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    peer: str | None
    at: float = field(default_factory=time.monotonic)
    answered: int = 200

    def json(self) -> Any:
        return json.loads(self.body)


class WebhookRecorder:
    def __init__(self, statuses: Sequence[int] = (), path: str = "/hook") -> None:
        self.statuses = list(statuses)
        self.path = path
        self.received: list[Received] = []
        self.port = 0
        self._runner: web.AppRunner | None = None
        self._changed = asyncio.Event()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.path}"

    async def _handle(self, request: web.Request) -> web.Response:
        status = self.statuses.pop(0) if self.statuses else 200
        self.received.append(
            Received(
                path=request.path,
                headers=dict(request.headers),
                body=await request.read(),
                peer=request.remote,
                answered=status,
            )
        )
        self._changed.set()
        return web.Response(status=status, text="ok" if status < 400 else "no")

    async def start(self) -> WebhookRecorder:
        app = web.Application()
        app.router.add_post("/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        self.port = free_port()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def wait_for(self, count: int, timeout_s: float = 10.0) -> list[Received]:
        """Until at least `count` requests arrived; returns all of them."""
        deadline = time.monotonic() + timeout_s
        while len(self.received) < count:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"{len(self.received)} of {count} requests in {timeout_s}s")
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), left)
            except TimeoutError:
                continue
        return list(self.received)

    async def __aenter__(self) -> WebhookRecorder:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
