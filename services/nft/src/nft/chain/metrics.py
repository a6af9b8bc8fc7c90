"""The chain engine's metrics (`nft-scheduler`); alerts and runbook: docs/runbooks/nft.md."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

MESSAGES_SENT = Counter(
    "nft_ton_messages_sent_total", "Externals handed to the chain", ["kind", "result"]
)
MESSAGES_SETTLED = Counter(
    "nft_ton_messages_settled_total", "Signed externals settled, by outcome", ["kind", "outcome"]
)
OPEN_MESSAGES = Gauge("nft_ton_messages_open", "Signed externals not settled yet", ["kind"])
MINT_OUTCOMES = Counter(
    "nft_mint_outcomes_total",
    "Purchases leaving the mint step: minted, retried (re-signed) or failed, by cause",
    ["outcome"],
)
TRANSFER_OUTCOMES = Counter(
    "nft_transfer_outcomes_total",
    "Transfers leaving the send step: completed, retried (re-signed) or failed, by cause",
    ["outcome"],
)
CUSTODY_BALANCE = Gauge("nft_custody_balance_nano", "Balance of the custody wallet (nanoTON)")
CUSTODY_READY = Gauge(
    "nft_custody_ready", "1 when the custody wallet and the pinned collection check out on chain"
)
