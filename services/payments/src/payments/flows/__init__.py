"""Flows: the steps of the service that call a payment provider between two transactions.

A provider call may take seconds, so it never runs inside a database transaction. A flow is an
edge, like a route or a process: it opens one unit of work per step (`Flow.step()`), calls one
use case (`payments.handlers`) in it and commits it, then calls the provider with no transaction
open, then records the answer in a new unit of work. The handlers on either side never commit;
routes, processes and the CLI call a flow wherever a provider call is involved.

- `create`: our row, then the provider's create call, then its answer;
- `refunds`: the refund request, then the provider's refund, then its answer;
- `events`: stored webhooks applied to payments (YooKassa's re-fetched from its API first);
- `reconcile`: unfinished payments re-checked, re-sent, canceled or expired.
"""

from __future__ import annotations

from scifikpi_common.db import UnitOfWorkFactory

from payments.flows.base import Flow
from payments.flows.create import CreateOutcome, PaymentCreation
from payments.flows.events import ProviderEvents
from payments.flows.reconcile import Reconciliation
from payments.flows.refunds import Refunds
from payments.providers import Providers
from payments.settings import PaymentsSettings


class PaymentFlows:
    """Every flow of the service over one unit-of-work factory and one set of providers."""

    def __init__(
        self, uow: UnitOfWorkFactory, providers: Providers, settings: PaymentsSettings
    ) -> None:
        self.providers = providers
        self.settings = settings
        self.creation = PaymentCreation(uow, providers, settings)
        self.refunds = Refunds(uow, providers, settings)
        self.events = ProviderEvents(uow, providers, settings)
        self.reconciliation = Reconciliation(uow, providers, settings)


__all__ = [
    "CreateOutcome",
    "Flow",
    "PaymentCreation",
    "PaymentFlows",
    "ProviderEvents",
    "Reconciliation",
    "Refunds",
]
