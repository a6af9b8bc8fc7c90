"""Injected faults (`/_control/faults`): make the next matching API calls fail, before the
request is applied or after it."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from scifikpi_tools.standins.yookassa.shared import FAULTS, error_response
from scifikpi_tools.standins.yookassa.values import ApiError


@dataclass
class Fault:
    status: int = 500
    count: int = 1
    method: str | None = None
    path: str | None = None  # a prefix of the request path, e.g. "/v3/payments"
    when: str = "before"  # before: nothing happens; after: the request is applied first
    delay_ms: int = 0

    def matches(self, request: web.Request) -> bool:
        return (
            self.count > 0
            and (self.method is None or self.method.upper() == request.method)
            and (self.path is None or request.path.startswith(self.path))
        )

    def response(self) -> web.Response:
        if self.status == 500:
            return error_response(
                ApiError(500, "internal_server_error", "Internal server error (injected fault)")
            )
        codes = {429: "too_many_requests", 403: "forbidden", 400: "invalid_request"}
        if self.status in codes:
            return error_response(ApiError(self.status, codes[self.status], "Injected fault"))
        return web.Response(status=self.status, text="injected fault")


def take_fault(request: web.Request, when: str) -> Fault | None:
    for fault in request.app[FAULTS]:
        if fault.when == when and fault.matches(request):
            fault.count -= 1
            return fault
    return None
