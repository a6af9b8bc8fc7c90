"""Process entry points: `nft-api`, `nft-worker`, `nft-relay`, `nft-scheduler`."""

from __future__ import annotations

from scifikpi_common import runner

from nft.consumers import consumers
from nft.models import make_outbox
from nft.settings import get_settings


def run_api() -> None:
    runner.serve_api("nft.app:create_app", get_settings())


def run_worker() -> None:
    """Consumers of ledger events: reservations placed or rejected."""
    runner.run_worker(get_settings(), consumers, make_outbox())


def run_relay() -> None:
    runner.run_relay(get_settings(), make_outbox())


def run_scheduler() -> None:
    """The chain engine: mints, transfers, confirmations, and the purchase sweeper."""
    from nft import chain_loop  # the TON stack loads only in this process

    settings = get_settings()
    runner.run_until_signalled(settings, "scheduler", lambda stop: chain_loop.run(settings, stop))
