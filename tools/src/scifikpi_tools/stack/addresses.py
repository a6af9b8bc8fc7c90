"""Where every part of a stack listens: the ports, planned once before anything starts, and the
URLs made of them (APIs, the gateway, Swagger, the stand-ins and the webhooks they call)."""

from __future__ import annotations

from collections.abc import Sequence

from scifikpi_tools import localinfra
from scifikpi_tools.services import GATEWAY_PORT, Process, Service, Standin
from scifikpi_tools.stack.workspace import StackError

HOST = "127.0.0.1"
API_PREFIX = "/api/v1"
#: where the stand-ins deliver webhooks: the public routes, through the gateway
STRIPE_WEBHOOK_PATH = f"{API_PREFIX}/payments/webhooks/stripe"
YOOMONEY_WEBHOOK_PATH = f"{API_PREFIX}/payments/webhooks/yoomoney"


class StackAddresses:
    """The ports and URLs of a stack of `services` and `standins`.

    `port_base=8000` keeps the default ports (gateway 8000, auth 8001, broker 9092...), another
    value shifts every port by the same amount, `None` takes free ports everywhere (tests).
    """

    def __init__(
        self, services: Sequence[Service], standins: Sequence[Standin], port_base: int | None
    ) -> None:
        self.services = tuple(services)
        self.standins = tuple(standins)
        self.port_base = port_base
        self.ports: dict[str, int] = {}

    @property
    def processes(self) -> list[Process]:
        return [p for svc in self.services for p in svc.process_list()]

    def service(self, name: str) -> Service:
        return next(s for s in self.services if s.name == name)

    def _plan_ports(self) -> None:
        """A port for every API, every process with metrics and every stand-in; with fixed
        ports, StackError (and advice) when one is taken."""
        offset = 0 if self.port_base is None else self.port_base - GATEWAY_PORT
        wanted: dict[str, int] = {}
        for proc in self.processes:
            if proc.is_api:
                wanted[proc.name] = self.service(proc.service).http_port + offset
            elif proc.metrics_port is not None:
                wanted[proc.name] = proc.metrics_port + offset
        for standin in self.standins:
            wanted[standin.name] = standin.port + offset
        if self.port_base is None:
            self.ports = {name: localinfra.free_port(HOST) for name in wanted}
            return
        self.ports = wanted
        busy = [f"{n} {p}" for n, p in wanted.items() if not localinfra.port_is_free(HOST, p)]
        if busy:
            raise StackError(
                "ports already in use: " + ", ".join(busy) + ". Another stack running? "
                "Stop it, or shift every port with --ports-from N (e.g. --ports-from 18000)."
            )

    def url(self, service: str) -> str:
        return f"http://{HOST}:{self.ports[f'{service}-api']}"

    @property
    def gateway_url(self) -> str:
        gateway = next(s for s in self.services if s.is_gateway)
        return self.url(gateway.name)

    @property
    def docs_url(self) -> str:
        return self.gateway_url + "/docs"

    @property
    def api_urls(self) -> dict[str, str]:
        return {svc.name: self.url(svc.name) for svc in self.services if "api" in svc.processes}

    def standin_url(self, name: str) -> str:
        """Base URL of a provider stand-in: `localstripe`, `yookassa`."""
        return f"http://{HOST}:{self.ports[name]}"

    @property
    def localstripe_url(self) -> str | None:
        return self.standin_url("localstripe") if "localstripe" in self.ports else None

    @property
    def yookassa_url(self) -> str | None:
        return self.standin_url("yookassa") if "yookassa" in self.ports else None

    @property
    def stripe_webhook_url(self) -> str:
        return self.gateway_url + STRIPE_WEBHOOK_PATH

    @property
    def yoomoney_webhook_url(self) -> str:
        return self.gateway_url + YOOMONEY_WEBHOOK_PATH
