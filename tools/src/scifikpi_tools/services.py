"""The services of the local stack, in one declarative table.

Adding a service (payments, mining, ledger, nft, analytics...) is one `Service(...)` line in
`SERVICES`: its name (also its package, env prefix and `services/<name>/` directory), its HTTP
port, the processes it runs (each a console script `<name>-<process>` from its pyproject; a
service that publishes nothing, like analytics, runs no relay) and whether it owns a database
schema (then `alembic -c services/<name>/alembic.ini upgrade head` runs first).

Worker processes serve Prometheus metrics on their own port: `9100 + n` for the worker and
`9110 + n` for the relay, where `n = http_port - 8000` (auth: 8001 -> 9101, 9111).

The payment-provider stand-ins (`STANDINS`: localstripe on 8420, the YooKassa fake on 8421) start
before the services; their ports shift with the others.
"""

from __future__ import annotations

from dataclasses import dataclass

GATEWAY_PORT = 8000
BROKER_PORT = 9092

#: metrics port = base + (http_port - GATEWAY_PORT) per process kind (APIs serve their own)
METRICS_PORT_BASE = {"worker": 9100, "relay": 9110, "scheduler": 9120}


@dataclass(frozen=True)
class Process:
    """One OS process of a service."""

    service: str
    kind: str  # "api", "worker", "relay", ...
    metrics_port: int | None

    @property
    def name(self) -> str:
        """Process name, also its console script: `auth-api`, `auth-worker`..."""
        return f"{self.service}-{self.kind}"

    @property
    def script(self) -> str:
        return self.name

    @property
    def is_api(self) -> bool:
        return self.kind == "api"


@dataclass(frozen=True)
class Service:
    name: str
    http_port: int
    processes: tuple[str, ...] = ("api", "worker", "relay")
    has_db: bool = True
    #: the gateway reaches the other services' APIs (GATEWAY_<NAME>_URL)
    is_gateway: bool = False

    @property
    def env_prefix(self) -> str:
        return self.name.upper().replace("-", "_") + "_"

    def process_list(self) -> list[Process]:
        return [
            Process(
                service=self.name,
                kind=kind,
                metrics_port=(
                    METRICS_PORT_BASE[kind] + self.http_port - GATEWAY_PORT
                    if kind in METRICS_PORT_BASE
                    else None
                ),
            )
            for kind in self.processes
        ]


#: Everything `make run` starts, in start order. The gateway last: it fronts the others.
SERVICES: tuple[Service, ...] = (
    Service("auth", 8001),
    Service("payments", 8002, processes=("api", "worker", "relay", "scheduler")),
    Service("mining", 8003, processes=("api", "worker", "relay", "scheduler")),
    Service("ledger", 8004, processes=("api", "worker", "relay", "scheduler")),
    Service("nft", 8005, processes=("api", "worker", "relay", "scheduler")),
    # consumes every topic, publishes nothing: no relay (its outbox stays empty), no scheduler
    Service("analytics", 8006, processes=("api", "worker")),
    Service("gateway", GATEWAY_PORT, processes=("api",), has_db=False, is_gateway=True),
)


@dataclass(frozen=True)
class Standin:
    """A provider stand-in process (`python -m <module> --host 127.0.0.1 --port <port> ...`)."""

    name: str  # also its process name in the stack's output
    port: int
    module: str
    provider: str  # the payments provider it stands in for


#: Started before the services by `make run` (scifikpi_tools.standins; docs/payments-local.md).
STANDINS: tuple[Standin, ...] = (
    Standin("localstripe", 8420, "scifikpi_tools.standins.localstripe", "stripe"),
    Standin("yookassa", 8421, "scifikpi_tools.standins.yookassa", "yoomoney"),
)


def port_offsets(
    services: tuple[Service, ...] = SERVICES, standins: tuple[Standin, ...] = STANDINS
) -> tuple[int, ...]:
    """Every fixed port of the stack minus the gateway port (what `--ports-from` shifts)."""
    ports = {BROKER_PORT, *(s.port for s in standins)}
    for svc in services:
        for proc in svc.process_list():
            ports.add(svc.http_port if proc.is_api else proc.metrics_port or svc.http_port)
    return tuple(sorted(p - GATEWAY_PORT for p in ports))
