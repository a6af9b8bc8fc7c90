"""The payments service's errors: each a problem with a stable slug (README "Problems")."""

from __future__ import annotations

from scifikpi_common.errors import AppError, Conflict, Forbidden, NotFound, ValidationFailed


class UnsupportedCurrency(ValidationFailed):
    slug, title = "unsupported-currency", "Currency is not supported"


class CurrencyNotSupportedByProvider(ValidationFailed):
    slug, title = "currency-not-supported-by-provider", "The provider does not take this currency"


class DepositBelowMinimum(ValidationFailed):
    slug, title = "deposit-below-minimum", "Registration deposit is below the minimum"


class QuoteRequired(ValidationFailed):
    slug, title = "quote-required", "An acceleration payment needs a quote_id"


class QuoteNotAllowed(ValidationFailed):
    slug, title = "quote-not-allowed", "Only acceleration payments take a quote_id"


class InvalidIdempotencyKey(ValidationFailed):
    slug, title = "idempotency-key-invalid", "Idempotency-Key is not acceptable"


class IdempotencyKeyReused(ValidationFailed):
    slug, title = "idempotency-key-reused", "Idempotency-Key was used with a different request"


class AccountNotPendingPayment(Conflict):
    slug, title = "account-not-pending-payment", "The account is not waiting for its deposit"


class AccountNotActive(Forbidden):
    slug, title = "account-not-active", "The account is not active"


class PaymentNotFound(NotFound):
    slug, title = "payment-not-found", "Payment not found"


class PaymentNotRefundable(Conflict):
    slug, title = "payment-not-refundable", "Only succeeded payments can be refunded"


class ProviderRejectedPayment(AppError):
    status, slug, title = 502, "provider-rejected", "The payment provider refused the request"


class InvalidWebhookSignature(AppError):
    status, slug, title = 400, "invalid-webhook-signature", "Webhook signature is not valid"


class MalformedWebhook(AppError):
    status, slug, title = 400, "malformed-webhook", "Webhook body is not understood"


class WebhookSourceForbidden(Forbidden):
    slug, title = "webhook-source-forbidden", "Webhook source address is not allowed"
