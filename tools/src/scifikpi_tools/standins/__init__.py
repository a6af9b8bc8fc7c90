"""Payment-provider stand-ins for the local stack and the tests: a machine with nothing but
Python runs every payment flow offline (the root README.md, docs/payments-local.md).

Every stand-in is reached by the same client code as production, only with another base URL:

- Stripe: `localstripe` (its aiohttp app, bound to loopback only, state cleared at start) on
  127.0.0.1:8420, `python -m scifikpi_tools.standins.localstripe`;
- YooKassa (YooMoney): our fake of the YooKassa HTTP API v3 with notification delivery control,
  on 127.0.0.1:8421, `python -m scifikpi_tools.standins.yookassa`.

`python -m scifikpi_tools.standins.pay stripe|yoomoney <id>` plays the customer paying
(docs/payments-local.md). `make run` starts both before the services (`scifikpi_tools.stack`).
"""

from __future__ import annotations

from scifikpi_tools.standins.process import StandinHandle

#: default ports (shifted with the stack's --ports-from like every other port)
LOCALSTRIPE_PORT = 8420
YOOKASSA_PORT = 8421

#: what the local stack configures (docs/payments-local.md)
DEV_STRIPE_SECRET_KEY = "sk_test_local"  # noqa: S105 - localstripe accepts any sk_ key
DEV_STRIPE_WEBHOOK_SECRET = "whsec_scifikpi_local_dev"  # noqa: S105 - a local test secret
DEV_YOOKASSA_SHOP_ID = "100500"
DEV_YOOKASSA_SECRET_KEY = "test_scifikpi_local_secret"  # noqa: S105 - a local test secret

__all__ = [
    "DEV_STRIPE_SECRET_KEY",
    "DEV_STRIPE_WEBHOOK_SECRET",
    "DEV_YOOKASSA_SECRET_KEY",
    "DEV_YOOKASSA_SHOP_ID",
    "LOCALSTRIPE_PORT",
    "YOOKASSA_PORT",
    "StandinHandle",
]
