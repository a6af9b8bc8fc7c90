"""The stack's children, in start order: the provider stand-ins, each service's migrations (one
shot), then every service process, the long-running ones supervised (restarted when they die)."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from scifikpi_tools import localinfra
from scifikpi_tools.services import Process, Service, Standin
from scifikpi_tools.stack.addresses import HOST, StackAddresses
from scifikpi_tools.stack.workspace import StackError, console_script
from scifikpi_tools.supervisor import ChildSpec, Output, Supervisor, run_once

#: how long a stand-in may take to listen, and a migration to finish
STANDIN_START_S = 30
MIGRATION_S = 180


async def start_standins(
    supervisor: Supervisor,
    addresses: StackAddresses,
    argv_for: Callable[[Standin], list[str]],
    *,
    root: Path,
) -> None:
    """The provider stand-ins, supervised like the services, listening before the services
    start."""
    if not addresses.standins:
        return
    env = dict(os.environ)
    env["PYTHONUNBUFFERED"] = "1"
    for standin in addresses.standins:
        spec = ChildSpec(name=standin.name, argv=argv_for(standin), env=env, cwd=root)
        supervisor.start(spec)
    deadline = time.monotonic() + STANDIN_START_S
    for standin in addresses.standins:
        port = addresses.ports[standin.name]
        while not localinfra.port_accepts(HOST, port, timeout=0.2):
            if time.monotonic() > deadline:
                raise StackError(
                    f"{standin.name} did not listen on {HOST}:{port} within "
                    f"{STANDIN_START_S}s; see its output above"
                )
            await asyncio.sleep(0.05)
        supervisor.output.say(f"{standin.name}: {addresses.standin_url(standin.name)}")


async def migrate(
    services: Sequence[Service],
    env_for: Callable[[Process], dict[str, str]],
    *,
    root: Path,
    output: Output,
) -> None:
    """`alembic upgrade head` of every service with a database, one after the other."""
    for svc in services:
        if not svc.has_db:
            continue
        ini = root / "services" / svc.name / "alembic.ini"
        if not ini.is_file():
            raise StackError(f"{svc.name}: {ini} not found")
        env = env_for(svc.process_list()[0])
        argv = [sys.executable, "-m", "alembic", "-c", str(ini), "upgrade", "head"]
        output.say(f"migrating {svc.name}: alembic -c {ini.relative_to(root)} upgrade head")
        code = await run_once(
            f"{svc.name}-migrate", argv, env=env, cwd=root, output=output, timeout_s=MIGRATION_S
        )
        if code != 0:
            raise StackError(
                f"migrations of {svc.name} failed (exit code {code}); see the output above"
            )


def start_services(
    supervisor: Supervisor,
    processes: Sequence[Process],
    env_for: Callable[[Process], dict[str, str]],
    *,
    root: Path,
) -> None:
    """Every service process, each its console script, supervised."""
    for proc in processes:
        argv = console_script(proc.script)
        supervisor.start(ChildSpec(name=proc.name, argv=argv, env=env_for(proc), cwd=root))
