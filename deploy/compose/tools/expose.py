"""Expose a loopback-only server of a container on the compose network.

    python expose.py --listen 0.0.0.0:8420 --target 127.0.0.1:18420 -- CMD [ARG ...]

The provider stand-ins (tools/src/scifikpi_tools/standins) refuse to bind anything but loopback:
on a developer machine every interface means the LAN. Inside a container the other containers of
the stack must reach them, so this starts CMD (the stand-in, on `--target`), waits until it
accepts connections, then relays TCP from `--listen` to it. It exits with CMD's exit code when CMD
ends, and stops CMD on SIGTERM/SIGINT (then exiting 0). Standard library only; mounted read-only by
docker-compose.yml.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Sequence

CHUNK = 64 * 1024
STOP = threading.Event()


def _on_signal(signum: int, _frame: object) -> None:
    STOP.set()


def _address(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {text!r}")
    return host.strip("[]"), int(port)


def _accepts(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(CHUNK):
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
    except (ConnectionError, OSError):
        pass


async def _relay(
    client_reader: asyncio.StreamReader,
    client_writer: asyncio.StreamWriter,
    target: tuple[str, int],
) -> None:
    try:
        upstream_reader, upstream_writer = await asyncio.open_connection(*target)
    except OSError:
        client_writer.close()
        return
    try:
        await asyncio.gather(
            _pipe(client_reader, upstream_writer), _pipe(upstream_reader, client_writer)
        )
    finally:
        for writer in (upstream_writer, client_writer):
            writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await writer.wait_closed()


def _stop(child: subprocess.Popen[bytes], timeout: float = 10.0) -> int:
    if child.poll() is None:
        child.terminate()
        try:
            child.wait(timeout)
        except subprocess.TimeoutExpired:
            child.kill()
    return child.wait()


def _until_stopped(child: subprocess.Popen[bytes]) -> None:
    while not STOP.wait(0.2) and child.poll() is None:
        pass


async def _serve(
    child: subprocess.Popen[bytes], listen: tuple[str, int], target: tuple[str, int]
) -> int:
    server = await asyncio.start_server(
        lambda r, w: _relay(r, w, target), listen[0], listen[1], reuse_address=True
    )
    print(f"expose: {listen[0]}:{listen[1]} -> {target[0]}:{target[1]}", flush=True)
    try:
        await asyncio.to_thread(_until_stopped, child)
    finally:
        server.close()
    code = await asyncio.to_thread(_stop, child)
    return 0 if STOP.is_set() else code


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--listen", type=_address, required=True, help="HOST:PORT to accept on")
    parser.add_argument("--target", type=_address, required=True, help="HOST:PORT of CMD")
    parser.add_argument("--ready-timeout", type=float, default=60.0)
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- CMD [ARG ...]")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no command given after --")
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, _on_signal)
    child = subprocess.Popen(command)  # noqa: S603 - the command line of this container
    deadline = time.monotonic() + args.ready_timeout
    while not _accepts(*args.target):
        if child.poll() is not None:
            return child.returncode or 1
        if STOP.is_set():
            _stop(child)
            return 0
        if time.monotonic() > deadline:
            print(f"expose: {args.target} did not accept connections in time", file=sys.stderr)
            _stop(child)
            return 1
        time.sleep(0.1)
    return asyncio.run(_serve(child, args.listen, args.target))


if __name__ == "__main__":
    sys.exit(main())
