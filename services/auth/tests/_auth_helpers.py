"""Helpers shared by the auth tests (importable because conftest puts this folder on sys.path)."""
# ruff: noqa: S105, S106  (test credentials)

from __future__ import annotations

import itertools
import uuid
from typing import Any

PASSWORD = "correct horse battery"

_ips = itertools.count(1)


def unique_email(prefix: str = "user") -> str:
    return f"{prefix}.{uuid.uuid4().hex[:10]}@example.com"


def fresh_ip() -> str:
    n = next(_ips)
    return f"198.51.{n // 250}.{n % 250 + 1}"


def individual(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "account_type": "individual",
        "email": unique_email(),
        "password": PASSWORD,
        "country": "RU",
        "full_name": "Ada Lovelace",
        "initial_deposit": {"amount_minor": 1000, "currency": "USD"},
    }
    body.update(overrides)
    return body


def legal_entity(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "account_type": "legal_entity",
        "email": unique_email("company"),
        "password": PASSWORD,
        "country": "RU",
        "company": {
            "name": "Sberbank",
            "tax_id": "7707083893",
            "representative": {"full_name": "Ivan Petrov", "position": "CFO"},
        },
        "initial_deposit": {"amount_minor": 80000, "currency": "RUB"},
    }
    body.update(overrides)
    return body
