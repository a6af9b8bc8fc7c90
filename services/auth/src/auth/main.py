"""Process entry points: `auth-api`, `auth-worker`, `auth-relay`.

The API and the relay are the common ones; the worker runs the consumers and, beside them, the
housekeeping loop (`processes.housekeeping`: expired refresh tokens, ended login-failure windows).
"""

from __future__ import annotations

import asyncio

from scifikpi_common import runner

from auth.consumers import consumers
from auth.models import make_outbox
from auth.processes import housekeeping
from auth.settings import get_settings

processes = runner.ServiceProcesses("auth.app:create_app", get_settings, consumers, make_outbox)
run_api, run_relay = processes.api, processes.relay


def run_worker() -> None:
    """Consumers plus housekeeping, in one process, until SIGTERM/SIGINT."""
    settings = get_settings()

    async def body(stop: asyncio.Event) -> None:
        await asyncio.gather(
            runner.consume_until_stopped(settings, consumers, make_outbox(), stop),
            housekeeping(settings, stop),
        )

    runner.run_until_signalled(settings, "worker", body)
