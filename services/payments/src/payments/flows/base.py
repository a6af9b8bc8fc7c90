"""What every flow has: one unit of work per step, committed by the flow, and the provider port
called between steps, timed and counted."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from typing import TypeVar

from scifikpi_common.db import UnitOfWork, UnitOfWorkFactory, committing
from scifikpi_common.logging import get_logger

from payments.domain import Payment, Transition
from payments.metrics import PAYMENT_OUTCOMES, PROVIDER_LATENCY, PROVIDER_REQUESTS
from payments.providers import (
    PaymentProvider,
    ProviderNotFound,
    ProviderRejected,
    Providers,
    ProviderUnavailable,
)
from payments.settings import PaymentsSettings

log = get_logger(__name__)
T = TypeVar("T")


def count_transition(payment: Payment, t: Transition | None) -> None:
    if t is not None and t.changed:
        PAYMENT_OUTCOMES.labels(payment.provider, payment.purpose, t.after.value).inc()


def backoff(attempts: int, maximum: float, base: float = 1.0) -> float:
    return float(min(maximum, base * 2 ** min(max(attempts - 1, 0), 20)))


class Flow:
    """An edge, like a route or a process: it opens a unit of work per step (`step()`), runs one
    use case in it and commits it, and calls the provider only between steps, never with a
    transaction open. It runs no SQL and changes no state itself."""

    def __init__(
        self, uow: UnitOfWorkFactory, providers: Providers, settings: PaymentsSettings
    ) -> None:
        self.uow = uow
        self.providers = providers
        self.settings = settings

    @asynccontextmanager
    async def step(self) -> AsyncIterator[UnitOfWork]:
        """One unit of work, committed when the block succeeds (`committing`)."""
        async with self.uow() as uow, committing(uow):
            yield uow

    def provider(self, name: str) -> PaymentProvider:
        return self.providers[name]

    async def call(self, provider: str, operation: str, call: Awaitable[T]) -> T:
        """Time and count a provider call; anything unexpected counts as "outcome unknown"."""
        started = time.perf_counter()
        outcome = "ok"
        try:
            return await call
        except ProviderNotFound:
            outcome = "not_found"
            raise
        except ProviderRejected:
            outcome = "rejected"
            raise
        except ProviderUnavailable:
            outcome = "unavailable"
            raise
        except Exception as exc:
            outcome = "unavailable"
            log.exception("provider_call_crashed", provider=provider, operation=operation)
            raise ProviderUnavailable(f"{type(exc).__name__} while calling {provider}") from exc
        finally:
            PROVIDER_REQUESTS.labels(provider, operation, outcome).inc()
            PROVIDER_LATENCY.labels(provider, operation).observe(time.perf_counter() - started)
