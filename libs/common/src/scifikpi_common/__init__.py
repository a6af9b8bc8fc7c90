"""Shared plumbing for SciFiKPI services.

Only code that would be identical in every service lives here: settings, the database unit of
work, the outbox and inbox, event envelopes and schemas, problem+json errors, logging, metrics,
tracing, health and JWT verification. No business rules of any one service.
"""
