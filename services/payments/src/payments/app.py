"""The payments API application (`uvicorn --factory payments.app:create_app`)."""

from __future__ import annotations

from fastapi import FastAPI
from scifikpi_common.app import create_service_app
from scifikpi_common.logging import get_logger
from scifikpi_common.security import JwksFetcher

from payments.api import admin_router, router, webhook_router
from payments.flows import PaymentFlows
from payments.models import make_outbox
from payments.providers import Providers, build_providers, close_providers
from payments.settings import PaymentsSettings, get_settings

log = get_logger(__name__)

DESCRIPTION = """Payments with Stripe (PaymentIntents) and YooMoney (YooKassa): the registration
deposit (at least USD 10.00), balance top-ups and mining acceleration.

`POST` requests that move money need an `Idempotency-Key` header. Provider webhooks are verified
(Stripe signature; YooKassa source address and a re-fetch from its API) and processed
asynchronously; a reconciliation loop finishes payments whose webhook never came.

Errors are `application/problem+json` with a stable `type` (`urn:scifikpi:problem:...`)."""


def create_app(
    settings: PaymentsSettings | None = None,
    *,
    providers: Providers | None = None,
    jwks_fetcher: JwksFetcher | None = None,
) -> FastAPI:
    settings = settings or get_settings()
    own_providers = providers is None
    state: dict[str, Providers] = {}

    async def on_startup(app: FastAPI) -> None:
        state["providers"] = providers if providers is not None else build_providers(settings)
        app.state.flows = PaymentFlows(app.state.uow_factory, state["providers"], settings)

    async def on_shutdown() -> None:
        if own_providers and "providers" in state:
            await close_providers(state.pop("providers"))

    app = create_service_app(
        settings,
        title="SciFiKPI payments",
        description=DESCRIPTION,
        routers=[router, admin_router, webhook_router],
        outbox=make_outbox(),
        jwks_fetcher=jwks_fetcher,
        on_startup=on_startup,
        on_shutdown=on_shutdown,
    )
    return app
