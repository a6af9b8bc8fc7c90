"""Process entry points: `nft-api`, `nft-worker`, `nft-relay`, `nft-scheduler`."""

from __future__ import annotations

from scifikpi_common import runner

from nft.consumers import consumers
from nft.models import make_outbox
from nft.settings import get_settings

processes = runner.ServiceProcesses("nft.app:create_app", get_settings, consumers, make_outbox)
run_api, run_worker, run_relay = processes.api, processes.worker, processes.relay


def run_scheduler() -> None:
    """The chain engine: mints, transfers, confirmations, and the purchase sweeper."""
    from nft.processes import run_chain_engine  # the TON stack loads only in this process

    settings = get_settings()
    runner.run_until_signalled(settings, "scheduler", lambda stop: run_chain_engine(settings, stop))
