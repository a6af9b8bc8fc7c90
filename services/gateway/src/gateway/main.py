"""`gateway-api`: the gateway under uvicorn with uvloop and httptools (`gateway.server`).

uvicorn's access log is off and its logging config is left alone, so every line goes through
`scifikpi_common.logging` (JSON). Behind a load balancer, list it in GATEWAY_TRUSTED_PROXY_IPS so
the client IP (rate limits, X-Forwarded-For) comes from its X-Forwarded-For.
"""

from __future__ import annotations

import uvicorn
from scifikpi_common.logging import configure_logging

from gateway.server import CoalescingHttpToolsProtocol
from gateway.settings import get_settings


def run_api() -> None:
    settings = get_settings()
    configure_logging(settings.service_name, level=settings.log_level, fmt=settings.log_format)
    uvicorn.run(
        "gateway.app:create_app",
        factory=True,
        host=settings.http_host,
        port=settings.http_port,
        workers=settings.workers,
        loop="uvloop",
        http=CoalescingHttpToolsProtocol,  # httptools, one write per small response
        lifespan="on",
        access_log=False,
        log_config=None,
        server_header=False,
        proxy_headers=bool(settings.trusted_proxy_ips),
        forwarded_allow_ips=settings.trusted_proxy_ips or None,
        timeout_keep_alive=30,
    )


if __name__ == "__main__":
    run_api()
