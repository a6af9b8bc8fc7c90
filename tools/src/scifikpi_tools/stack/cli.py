"""Command line: `make run`, `scifikpi-stack`, `python -m scifikpi_tools.stack`."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from scifikpi_tools import localinfra
from scifikpi_tools.services import GATEWAY_PORT
from scifikpi_tools.stack.launcher import LocalStack, StackError, find_root

#: a second SIGINT/SIGTERM at least this long after the first forces SIGKILL
FORCE_AFTER_S = 1.5

DESCRIPTION = (
    "Start the whole SciFiKPI stack locally: Postgres (DATABASE_URL or embedded), the broker "
    "(KAFKA_BOOTSTRAP_SERVERS or Tansu), migrations, and every service process; Ctrl-C stops it."
)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="scifikpi-stack", description=DESCRIPTION)
    parser.add_argument(
        "--ports-from",
        type=int,
        default=int(os.environ["SCIFIKPI_PORTS_FROM"])
        if os.environ.get("SCIFIKPI_PORTS_FROM")
        else GATEWAY_PORT,
        help="gateway port; every other port shifts by the same amount "
        "(env SCIFIKPI_PORTS_FROM; default 8000)",
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="local state (embedded Postgres data); default ./.local",
    )
    parser.add_argument(
        "--log-format",
        choices=("json", "console"),
        default=os.environ.get("LOG_FORMAT") or ("console" if sys.stdout.isatty() else "json"),
        help="log format of the services (env LOG_FORMAT; console on a terminal, else json)",
    )
    parser.add_argument(
        "--ready-timeout", type=float, default=120.0, help="seconds to wait for every /readyz"
    )
    parser.add_argument(
        "--stop-postgres",
        action="store_true",
        help="stop an embedded PostgreSQL left running in the data dir, then exit",
    )
    return parser


async def _run(args: argparse.Namespace) -> int:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    stack = LocalStack(
        data_dir=args.data_dir,
        port_base=args.ports_from,
        database_url=os.environ.get("DATABASE_URL") or None,
        kafka_bootstrap_servers=os.environ.get("KAFKA_BOOTSTRAP_SERVERS") or None,
        log_format=args.log_format,
        ready_timeout=args.ready_timeout,
    )

    first_signal_at: list[float] = []

    def on_signal(sig: signal.Signals) -> None:
        now = time.monotonic()
        if first_signal_at:
            # `uv run` and the terminal both deliver one Ctrl-C: a repeat within a moment is
            # the same keypress; a later one means "now"
            if now - first_signal_at[0] >= FORCE_AFTER_S:
                stack.output.say(f"{sig.name} again: killing everything now")
                stack.supervisor.kill_all()
            return
        first_signal_at.append(now)
        stack.output.say(f"{sig.name}: stopping (press Ctrl-C again to kill at once)")
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal, sig)

    starting = asyncio.create_task(stack.start())
    stopper = asyncio.create_task(stop.wait())
    code = 0
    try:
        await asyncio.wait({starting, stopper}, return_when=asyncio.FIRST_COMPLETED)
        if starting.done():
            starting.result()  # raises StackError if startup failed
            stack.output.say(await stack.banner())
            await stop.wait()
        else:
            starting.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await starting
    except StackError as exc:
        stack.output.say(f"!! {exc}")
        code = 1
    except Exception as exc:  # noqa: BLE001 - reported, then everything is stopped
        stack.output.say(f"!! startup failed: {type(exc).__name__}: {exc}")
        code = 1
    finally:
        stopper.cancel()
        await stack.stop()
        stack.output.say("stopped")
    return code


def stop_leftover_postgres(data_dir: Path) -> None:
    pid_file = data_dir / "pgdata" / "postmaster.pid"
    if not pid_file.exists():
        print(f"no embedded PostgreSQL running in {data_dir / 'pgdata'}")
        return
    handle = localinfra.start_embedded_postgres(
        data_dir / "pgdata"
    )  # attaches to the running server
    handle.stop()
    print(f"stopped the embedded PostgreSQL in {data_dir / 'pgdata'}")


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.stop_postgres:
        stop_leftover_postgres((args.data_dir or find_root() / ".local").resolve())
        return 0
    try:
        return asyncio.run(_run(args))
    except KeyboardInterrupt:
        return 0
