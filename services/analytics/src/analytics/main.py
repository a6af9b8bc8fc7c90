"""Process entry points: `analytics-api` and `analytics-worker` (no relay: it publishes nothing)."""

from __future__ import annotations

from scifikpi_common import runner

from analytics.consumers import consumers
from analytics.models import make_outbox
from analytics.settings import get_settings

processes = runner.ServiceProcesses(
    "analytics.app:create_app", get_settings, consumers, make_outbox
)
run_api, run_worker = processes.api, processes.worker
