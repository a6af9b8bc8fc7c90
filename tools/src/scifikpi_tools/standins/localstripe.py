"""localstripe (a stateful Stripe stand-in) on loopback only, with a clean state, for the stack.

localstripe's own CLI binds every interface (`('::', port)`) and reloads its state from a fixed
`/tmp/localstripe.pickle` that every instance on the machine shares. This entry point runs the same
aiohttp app instead:

    python -m scifikpi_tools.standins.localstripe [--host 127.0.0.1] [--port 8420]
        [--webhook-url URL --webhook-secret whsec_... [--webhook-event TYPE ...]]
        [--state-file PATH]

- binds `--host` only (loopback; anything else is refused);
- starts from an empty store, and keeps it in memory (`--state-file` persists it to a file of
  this instance instead of the shared pickle);
- registers the webhook given on the command line (so a restarted process gets it back), the same
  registration as `POST /_config/webhooks/{id}` (`register_webhook()` below does that over HTTP).

From Python: `start_localstripe(port=0) -> LocalstripeHandle(.url, .register_webhook(), .clear(),
.stop())`. Point the official SDK at it with
`stripe.StripeClient("sk_test_local", base_addresses={"api": handle.url})`.

Known gaps (shared/notes/payments.md §1): no Idempotency-Key support, no Checkout, no
`/v1/webhook_endpoints`, `confirm` refuses `payment_method` (set it on the PaymentIntent first:
`POST /v1/payment_intents/{id}` with `payment_method=pm_card_visa`, then confirm), only
`payment_intent.succeeded` / `payment_intent.payment_failed` among PaymentIntent events, no
webhook retries.
"""

from __future__ import annotations

import argparse
import logging
import pickle
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import IO

import httpx

from scifikpi_tools.standins.process import HOST, LOOPBACK, StandinHandle, serve, spawn

MODULE = "scifikpi_tools.standins.localstripe"
DEFAULT_WEBHOOK_ID = "scifikpi"


# ------------------------------------------------------------------------------- client side


def register_webhook(
    base_url: str,
    url: str,
    secret: str,
    events: Iterable[str] | None = None,
    *,
    webhook_id: str = DEFAULT_WEBHOOK_ID,
    timeout: float = 5.0,
) -> None:
    """Register (or replace) webhook `webhook_id` at a running localstripe.

    `POST /_config/webhooks/{id}` with `url`, `secret` and optional `events[]`; localstripe then
    POSTs every matching event to `url`, signed like Stripe (`Stripe-Signature: t=..,v1=..`).
    """
    data: dict[str, str | list[str]] = {"url": url, "secret": secret}
    if events:
        data["events[]"] = list(events)
    response = httpx.post(
        f"{base_url.rstrip('/')}/_config/webhooks/{webhook_id}", data=data, timeout=timeout
    )
    response.raise_for_status()


def clear(base_url: str, *, timeout: float = 5.0) -> None:
    """Empty a running localstripe's store (`DELETE /_config/data`); webhooks stay registered."""
    httpx.delete(f"{base_url.rstrip('/')}/_config/data", timeout=timeout).raise_for_status()


class LocalstripeHandle(StandinHandle):
    """A localstripe we started (see `start_localstripe`)."""

    def register_webhook(
        self,
        url: str,
        secret: str,
        events: Iterable[str] | None = None,
        *,
        webhook_id: str = DEFAULT_WEBHOOK_ID,
    ) -> None:
        register_webhook(self.url, url, secret, events, webhook_id=webhook_id)

    def clear(self) -> None:
        clear(self.url)


def start_localstripe(
    host: str = HOST,
    port: int = 0,
    *,
    webhook_url: str | None = None,
    webhook_secret: str | None = None,
    webhook_events: Sequence[str] = (),
    log: Path | IO[bytes] | int | None = None,
    timeout: float = 20.0,
) -> LocalstripeHandle:
    """Start localstripe on host:port (0 = a free port), empty, optionally with a webhook."""
    if host not in LOOPBACK:
        raise ValueError(f"localstripe is started on loopback only, not {host!r}")
    args: list[str] = []
    if webhook_url:
        if not webhook_secret:
            raise ValueError("webhook_url needs webhook_secret")
        args += ["--webhook-url", webhook_url, "--webhook-secret", webhook_secret]
        for event in webhook_events:
            args += ["--webhook-event", event]
    process, chosen = spawn(MODULE, args, host=host, port=port, log=log, timeout=timeout)
    return LocalstripeHandle(url=f"http://{host}:{chosen}", process=process, host=host, port=chosen)


# ------------------------------------------------------------------------------- server side


def _use_state_file(path: Path | None) -> None:
    """Keep localstripe's store in memory (or in `path`), never in the shared /tmp pickle."""
    from localstripe.resources import Store

    def dump_to_disk(self: Store) -> None:
        if path is not None:
            tmp = path.with_suffix(path.suffix + ".tmp")
            with tmp.open("wb") as f:
                pickle.dump(dict(self), f, protocol=pickle.HIGHEST_PROTOCOL)
            tmp.replace(path)

    def try_load_from_disk(self: Store) -> None:  # never: every start is clean
        return None

    Store.dump_to_disk = dump_to_disk  # type: ignore[method-assign]
    Store.try_load_from_disk = try_load_from_disk  # type: ignore[method-assign]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=f"python -m {MODULE}", description=__doc__.split("\n")[0])
    parser.add_argument("--host", default=HOST, help="loopback address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8420)
    parser.add_argument("--webhook-url", default=None)
    parser.add_argument("--webhook-secret", default=None)
    parser.add_argument(
        "--webhook-event", action="append", default=[], help="event type to send (repeatable)"
    )
    parser.add_argument("--webhook-id", default=DEFAULT_WEBHOOK_ID)
    parser.add_argument(
        "--state-file", type=Path, default=None, help="persist the store here (default: memory)"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.host not in LOOPBACK:
        print(
            f"refusing to bind {args.host!r}: the stand-in listens on loopback only",
            file=sys.stderr,
        )
        return 2
    if args.webhook_url and not args.webhook_secret:
        print("--webhook-url needs --webhook-secret", file=sys.stderr)
        return 2
    logging.basicConfig(stream=sys.stdout, level=logging.INFO, format="%(message)s")

    _use_state_file(args.state_file)
    from localstripe.resources import store
    from localstripe.server import app
    from localstripe.webhooks import register_webhook as register_locally

    dict.clear(store)  # the module-level store: empty, without touching any file
    if args.webhook_url:
        register_locally(
            args.webhook_id, args.webhook_url, args.webhook_secret, args.webhook_event or None
        )
        print(f"localstripe: webhook {args.webhook_id!r} -> {args.webhook_url}", flush=True)
    return serve(app, args.host, args.port)


if __name__ == "__main__":
    sys.exit(main())
