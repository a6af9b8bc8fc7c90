"""Run the Tansu broker in the foreground: `python -m scifikpi_tools.broker [--port 9092]`.

Prints `KAFKA_BOOTSTRAP_SERVERS=<host:port>` once the broker answers Kafka metadata requests and
every event topic (plus its `.dlq`) exists, then runs until SIGINT/SIGTERM. If the port is taken
a free one is used (the printed line tells which). `.ci/run` starts it in the background.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

from scifikpi_tools import localinfra
from scifikpi_tools.services import BROKER_PORT


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scifikpi_tools.broker", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=BROKER_PORT, help="0 = any free port")
    parser.add_argument("--partitions", type=int, default=6, help="partitions of the event topics")
    parser.add_argument("--no-topics", action="store_true", help="do not create the event topics")
    parser.add_argument("--log", type=Path, default=None, help="broker output file (default: here)")
    args = parser.parse_args(argv)

    stop = threading.Event()
    received: list[int] = []

    def on_signal(signum: int, _frame: object) -> None:
        received.append(signum)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    port = args.port
    if port and not localinfra.port_is_free(args.host, port):
        print(f"port {port} is taken; using a free port", file=sys.stderr, flush=True)
        port = 0
    broker = localinfra.start_tansu(args.host, port, log=args.log if args.log else sys.stderr)
    try:
        if not args.no_topics:
            localinfra.ensure_topics_sync(
                broker.bootstrap, localinfra.default_topics(), args.partitions
            )
        print(f"KAFKA_BOOTSTRAP_SERVERS={broker.bootstrap}", flush=True)
        while not stop.wait(0.5):
            if not broker.running():
                code = broker.process.returncode
                print(f"the broker exited with code {code}", file=sys.stderr, flush=True)
                return 1
    finally:
        broker.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
