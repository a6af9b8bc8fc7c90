"""HTTP routes of the payments service: translate requests to use cases, results to responses.

Routes that only touch our database run one use case and commit once (`committing`); the create
and refund routes run a flow (`payments.flows`), which commits its own unit of work before and
after the provider call it makes.
"""

from __future__ import annotations

import re
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Body, Depends, Header, Query, Request, Response, status
from scifikpi_common.app import UoW
from scifikpi_common.db import committing
from scifikpi_common.errors import (
    Forbidden,
    InvalidCursor,
    InvalidToken,
    MissingIdempotencyKey,
    PayloadTooLarge,
    UpstreamUnavailable,
)
from scifikpi_common.logging import get_logger
from scifikpi_common.network import client_ip
from scifikpi_common.openapi import required_header
from scifikpi_common.problems import problem_responses
from scifikpi_common.security import CurrentAdmin, CurrentPrincipal

from payments import handlers
from payments.domain import (
    IDEMPOTENCY_KEY_MAX,
    AccountNotActive,
    AccountNotPendingPayment,
    CurrencyNotSupportedByProvider,
    DepositBelowMinimum,
    IdempotencyKeyReused,
    InvalidIdempotencyKey,
    InvalidWebhookSignature,
    MalformedWebhook,
    PaymentNotFound,
    PaymentNotRefundable,
    PaymentRequest,
    ProviderRejectedPayment,
    QuoteNotAllowed,
    QuoteRequired,
    RefundStatus,
    UnsupportedCurrency,
    WebhookSourceForbidden,
    check_idempotency_key,
)
from payments.flows import PaymentFlows
from payments.metrics import WEBHOOKS
from payments.schemas import (
    YOOKASSA_NOTIFICATION_BODY,
    PaymentIn,
    PaymentOut,
    PaymentPage,
    RefundIn,
    RefundOut,
    TopupIn,
    WebhookAck,
)
from payments.settings import PaymentsSettings
from payments.webhooks import ip_allowed, parse_yookassa, verify_stripe

log = get_logger(__name__)


def get_flows(request: Request) -> PaymentFlows:
    flows: PaymentFlows = request.app.state.flows
    return flows


def get_settings(request: Request) -> PaymentsSettings:
    settings: PaymentsSettings = request.app.state.settings
    return settings


Flows = Annotated[PaymentFlows, Depends(get_flows)]
Settings = Annotated[PaymentsSettings, Depends(get_settings)]
IDEMPOTENCY_KEY_DOC = (
    "The same key with the same body returns the same payment; with "
    "another body it is refused (422). Up to 255 printable ASCII characters."
)
IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", include_in_schema=False)]
#: documents the header as required (the route refuses its absence with its own 400)
IDEMPOTENCY_KEY_PARAMETER = required_header(
    "Idempotency-Key", IDEMPOTENCY_KEY_DOC, max_length=IDEMPOTENCY_KEY_MAX
)

CREATE_PROBLEMS = problem_responses(
    MissingIdempotencyKey,
    InvalidToken,
    AccountNotActive,
    AccountNotPendingPayment,
    PayloadTooLarge,
    UnsupportedCurrency,
    CurrencyNotSupportedByProvider,
    DepositBelowMinimum,
    QuoteRequired,
    QuoteNotAllowed,
    InvalidIdempotencyKey,
    IdempotencyKeyReused,
    ProviderRejectedPayment,
    UpstreamUnavailable,
)

router = APIRouter(tags=["payments"])


_PREFIX = re.compile(r"^(/[A-Za-z0-9._~-]+)+$")


def _location(request: Request, payment_id: UUID) -> str:
    """Where the payment can be read, as the client called us (behind the gateway: /api/v1)."""
    prefix = request.headers.get("x-forwarded-prefix", "")
    return f"{prefix if _PREFIX.match(prefix) else ''}/payments/{payment_id}"


async def _create(
    flows: PaymentFlows,
    principal: CurrentPrincipal,
    request: PaymentRequest,
    idempotency_key: str | None,
    http: Request,
    response: Response,
) -> PaymentOut:
    if idempotency_key is None or not idempotency_key.strip():
        raise MissingIdempotencyKey(
            "Send an Idempotency-Key header (e.g. a UUID) so a retry cannot pay twice."
        )
    key = check_idempotency_key(idempotency_key)
    outcome = await flows.creation.create(principal, request, key)
    if not outcome.created:
        response.status_code = status.HTTP_200_OK
        response.headers["Idempotent-Replayed"] = "true"
    response.headers["Location"] = _location(http, outcome.payment.id)
    return PaymentOut.of(outcome.payment)


@router.post(
    "/payments",
    status_code=status.HTTP_201_CREATED,
    response_model=PaymentOut,
    responses={200: {"model": PaymentOut, "description": "Replay of the key"}, **CREATE_PROBLEMS},
    openapi_extra=IDEMPOTENCY_KEY_PARAMETER,
)
async def create_payment(
    body: Annotated[PaymentIn, Body()],
    principal: CurrentPrincipal,
    flows: Flows,
    http: Request,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> PaymentOut:
    """Start a payment with Stripe (client_secret) or YooMoney (confirmation_url)."""
    return await _create(flows, principal, body.to_request(), idempotency_key, http, response)


@router.get(
    "/payments",
    response_model=PaymentPage,
    responses=problem_responses(InvalidToken, InvalidCursor),
)
async def list_payments(
    principal: CurrentPrincipal,
    uow: UoW,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> PaymentPage:
    """The caller's payments, newest first, cursor-paged."""
    rows, next_cursor = await handlers.list_payments(uow, principal.user_id, cursor, limit)
    return PaymentPage(items=[PaymentOut.of(p) for p in rows], next_cursor=next_cursor)


@router.get(
    "/payments/{payment_id}",
    response_model=PaymentOut,
    responses=problem_responses(InvalidToken, PaymentNotFound),
)
async def get_payment(payment_id: UUID, principal: CurrentPrincipal, uow: UoW) -> PaymentOut:
    """One of the caller's payments (another user's answers 404)."""
    return PaymentOut.of(await handlers.get_payment(uow, payment_id, principal))


@router.post(
    "/balance/topup",
    status_code=status.HTTP_201_CREATED,
    response_model=PaymentOut,
    responses={200: {"model": PaymentOut, "description": "Replay of the key"}, **CREATE_PROBLEMS},
    openapi_extra=IDEMPOTENCY_KEY_PARAMETER,
    tags=["balance"],
)
async def topup(
    body: Annotated[TopupIn, Body()],
    principal: CurrentPrincipal,
    flows: Flows,
    http: Request,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> PaymentOut:
    """Top up the balance: a `topup` payment (active accounts)."""
    return await _create(flows, principal, body.to_request(), idempotency_key, http, response)


# --------------------------------------------------------------------------- admin

admin_router = APIRouter(tags=["admin"])


@admin_router.post(
    "/admin/payments/{payment_id}/refund",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=RefundOut,
    responses={
        200: {"model": RefundOut, "description": "Refunded"},
        **problem_responses(InvalidToken, Forbidden, PaymentNotFound, PaymentNotRefundable),
    },
)
async def refund_payment(
    payment_id: UUID,
    admin: CurrentAdmin,
    flows: Flows,
    response: Response,
    body: Annotated[RefundIn | None, Body()] = None,
) -> RefundOut:
    """Refund a succeeded payment in full (once; asking again returns the same refund)."""
    reason = body.reason if body is not None else RefundIn().reason
    refund, payment = await flows.refunds.refund(
        payment_id, reason=reason, requested_by=f"admin:{admin.user_id}"
    )
    if refund.status is not RefundStatus.requested:
        response.status_code = status.HTTP_200_OK
    return RefundOut.of(refund, payment)


# --------------------------------------------------------------------------- webhooks

webhook_router = APIRouter(prefix="/payments/webhooks", tags=["webhooks"])


@webhook_router.post(
    "/stripe",
    response_model=WebhookAck,
    responses=problem_responses(InvalidWebhookSignature, MalformedWebhook, PayloadTooLarge),
)
async def stripe_webhook(request: Request, uow: UoW, settings: Settings) -> WebhookAck:
    """Stripe events, verified by their signature; stored once and processed asynchronously."""
    raw = await request.body()
    try:
        event = verify_stripe(
            raw,
            request.headers.get("stripe-signature"),
            settings.stripe_webhook_secrets,
            tolerance_s=settings.stripe_webhook_tolerance_s,
        )
    except InvalidWebhookSignature:
        WEBHOOKS.labels("stripe", "invalid_signature").inc()
        log.warning("webhook_rejected", provider="stripe", reason="invalid signature")
        raise
    except MalformedWebhook:
        WEBHOOKS.labels("stripe", "malformed").inc()
        raise
    async with committing(uow):
        new = await handlers.store_provider_event(uow, event)
    WEBHOOKS.labels("stripe", "accepted" if new else "duplicate").inc()
    log.info(
        "webhook_received",
        provider="stripe",
        provider_event_id=event.event_id,
        event_type=event.event_type,
        duplicate=not new,
    )
    return WebhookAck(duplicate=not new)


@webhook_router.post(
    "/yoomoney",
    response_model=WebhookAck,
    responses=problem_responses(WebhookSourceForbidden, MalformedWebhook, PayloadTooLarge),
    openapi_extra={"requestBody": YOOKASSA_NOTIFICATION_BODY},
)
async def yoomoney_webhook(request: Request, uow: UoW, settings: Settings) -> WebhookAck:
    """YooKassa notifications from its address list; the payment is re-fetched before use."""
    peer = request.client.host if request.client else None
    source = client_ip(
        peer, request.headers.get("x-forwarded-for"), settings.trusted_proxy_networks
    )
    if not ip_allowed(source, settings.yookassa_networks):
        WEBHOOKS.labels("yoomoney", "forbidden_source").inc()
        log.warning("webhook_rejected", provider="yoomoney", reason="source not allowed", ip=source)
        raise WebhookSourceForbidden("Notifications are accepted from YooKassa's addresses only.")
    try:
        event = parse_yookassa(await request.body())
    except MalformedWebhook:
        WEBHOOKS.labels("yoomoney", "malformed").inc()
        raise
    async with committing(uow):
        new = await handlers.store_provider_event(uow, event)
    WEBHOOKS.labels("yoomoney", "accepted" if new else "duplicate").inc()
    log.info(
        "webhook_received",
        provider="yoomoney",
        provider_event_id=event.event_id,
        event_type=event.event_type,
        duplicate=not new,
    )
    return WebhookAck(duplicate=not new)
