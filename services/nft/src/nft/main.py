"""Process entry points: `nft-api`, `nft-worker`, `nft-relay`."""

from __future__ import annotations

from scifikpi_common import runner

from nft.consumers import consumers
from nft.models import make_outbox
from nft.settings import get_settings


def run_api() -> None:
    runner.serve_api("nft.app:create_app", get_settings())


def run_worker() -> None:
    """Consumers of ledger events (none yet in this slice)."""
    runner.run_worker(get_settings(), consumers, make_outbox())


def run_relay() -> None:
    runner.run_relay(get_settings(), make_outbox())
