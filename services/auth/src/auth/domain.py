"""Auth domain: accounts and tokens as values, and the rules for them (email normalization, password
policy, tax ids, the deposit minimum), with the problems they raise.

Pure functions and frozen dataclasses; no database, no web framework. `repository.py` maps rows
to these values; use cases (`handlers.py`) change state only through the repository's writes.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from types import ModuleType
from uuid import UUID

from scifikpi_common.errors import (
    AppError,
    Conflict,
    InvalidToken,
    KeepsChanges,
    RateLimited,
    ValidationFailed,
)
from scifikpi_common.events.auth import REGISTRATION_MINIMUM_USD_MINOR
from scifikpi_common.money import (
    CURRENCY_EXPONENTS,
    UnknownCurrency,
    smallest_amount_worth,
)
from stdnum import get_cc_module
from stdnum.exceptions import InvalidChecksum, ValidationError


class AccountType(StrEnum):
    individual = "individual"
    legal_entity = "legal_entity"


class Role(StrEnum):
    user = "user"
    admin = "admin"


class UserStatus(StrEnum):
    pending_payment = "pending_payment"
    active = "active"
    blocked = "blocked"


class FailureScope(StrEnum):
    """What a failed-login counter counts: attempts on one account, or from one client IP."""

    account = "account"
    ip = "ip"


@dataclass(frozen=True, slots=True)
class CompanyDetails:
    name: str
    tax_id: str
    representative_full_name: str
    representative_position: str | None = None


@dataclass(frozen=True, slots=True)
class Registration:
    """A new account as the client asked for it (command of `handlers.register`)."""

    email: str
    password: str = field(repr=False)
    account_type: AccountType
    country: str
    initial_deposit_minor: int
    initial_deposit_currency: str
    full_name: str | None = None
    company: CompanyDetails | None = None
    role: Role = Role.user
    status: UserStatus = UserStatus.pending_payment


@dataclass(frozen=True, slots=True)
class User:
    """An account as stored: an individual (`full_name`) or a legal entity (`company`)."""

    id: UUID
    email: str
    password_hash: str = field(repr=False)
    account_type: AccountType
    role: Role
    status: UserStatus
    country: str
    full_name: str | None
    company: CompanyDetails | None
    initial_deposit_minor: int
    initial_deposit_currency: str
    created_at: datetime
    updated_at: datetime
    activated_at: datetime | None = None
    activation_payment_id: str | None = None


@dataclass(frozen=True, slots=True)
class RefreshToken:
    """One refresh token (we keep only its digest); a login starts a family, each rotation adds a
    member to it."""

    id: UUID
    user_id: UUID
    family_id: UUID
    token_hash: bytes = field(repr=False)
    created_at: datetime
    expires_at: datetime
    rotated_at: datetime | None = None
    replaced_by: UUID | None = None
    revoked_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Session:
    """A signed-in session: the user, a fresh access token and the refresh token for it."""

    user: User
    access_token: str = field(repr=False)
    refresh_token: str = field(repr=False)
    refresh_token_id: UUID
    expires_in: int


# --------------------------------------------------------------------------- problems


class EmailTaken(Conflict):
    slug, title = "email-taken", "Email already registered"


class WeakPassword(ValidationFailed):
    slug, title = "weak-password", "Password does not meet the policy"


class InvalidTaxId(ValidationFailed):
    slug, title = "invalid-tax-id", "Tax id is not valid for the country"


class UnsupportedCurrency(ValidationFailed):
    slug, title = "unsupported-currency", "Currency is not supported"


class DepositBelowMinimum(ValidationFailed):
    slug, title = "deposit-below-minimum", "Initial deposit is below the minimum"


class InvalidCredentials(KeepsChanges, InvalidToken):
    slug, title = "invalid-credentials", "Invalid email or password"
    headers = None  # not a bearer-token problem

    def __init__(self) -> None:
        # One fixed text for a wrong password and an unknown email: no account enumeration.
        super().__init__("The email or password is incorrect.")


class TooManyLoginAttempts(RateLimited):
    slug, title = "too-many-login-attempts", "Too many login attempts"

    def __init__(self, retry_after_s: int) -> None:
        super().__init__(
            "Too many failed login attempts. Try again later.",
            headers={"Retry-After": str(retry_after_s)},
            retry_after_s=retry_after_s,
        )


class InvalidRefreshToken(InvalidToken):
    slug, title = "invalid-refresh-token", "Invalid refresh token"
    headers = None

    def __init__(self) -> None:
        super().__init__("The refresh token is unknown, expired or revoked.")


class RefreshTokenReused(KeepsChanges, InvalidToken):
    slug, title = "refresh-token-reused", "Refresh token reused"
    headers = None

    def __init__(self) -> None:
        super().__init__(
            "This refresh token was already used; every session of its login has been revoked. "
            "Log in again."
        )


class AccountBlocked(AppError):
    status, slug, title = 403, "account-blocked", "Account blocked"


class UserNotFound(LookupError):
    """No account has this email (the admin CLI's `promote`)."""


# --------------------------------------------------------------------------- email


def normalize_email(email: str) -> str:
    """Trimmed and lower-cased: the form we store, compare and keep unique."""
    return email.strip().lower()


# --------------------------------------------------------------------------- password policy

PASSWORD_MIN_LENGTH = 10
PASSWORD_MAX_LENGTH = 128

#: A small deny-list of the most common passwords of at least the minimum length (lower-cased),
#: separated by whitespace.
_COMMON_PASSWORDS = """
1234567890 12345678910 0987654321 1111111111 0000000000 123456789a 123123123123 1q2w3e4r5t
1qaz2wsx3edc qwertyuiop qwerty1234 qwerty12345 qwerty123456 qwertyuiop1 asdfghjkl1 zxcvbnm123
password12 password123 password1234 password!1 passw0rd123 p@ssw0rd123 iloveyou12 iloveyou123
letmein123 welcome123 welcome1234 admin12345 administrator changeme123 football123 baseball123
superman123 trustno1234 sunshine123 princess123 dragon12345 monkey12345 abc1234567 abcdefghij
abcd123456 aa12345678 a123456789 q1w2e3r4t5 zaq12wsxcde 1qazxsw23edc michael123 jennifer123
computer123 starwars123 whatever123 scifikpi123 scifikpi2024 scifikpi2025 qazwsxedcrfv
11111111111 123456789012 987654321 passwordpassword mypassword1 mypassword123
"""
COMMON_PASSWORDS = frozenset(_COMMON_PASSWORDS.split())


def password_problems(password: str, email: str) -> list[str]:
    """Everything wrong with a new password (empty if it is acceptable)."""
    problems: list[str] = []
    if len(password) < PASSWORD_MIN_LENGTH:
        problems.append(f"must be at least {PASSWORD_MIN_LENGTH} characters long")
    if len(password) > PASSWORD_MAX_LENGTH:
        problems.append(f"must be at most {PASSWORD_MAX_LENGTH} characters long")
    lowered = password.lower()
    local_part = normalize_email(email).partition("@")[0]
    if len(local_part) >= 3 and local_part in lowered:
        problems.append("must not contain the email address")
    if lowered in COMMON_PASSWORDS:
        problems.append("is too common")
    return problems


def check_password_policy(password: str, email: str) -> None:
    problems = password_problems(password, email)
    if problems:
        raise WeakPassword("The password " + "; ".join(problems) + ".", problems=problems)


# --------------------------------------------------------------------------- tax ids

#: Country -> the python-stdnum module that validates a company's tax id there. Countries not
#: listed fall back to the module stdnum registers as the country's `vat`, then `tin`.
TAX_ID_MODULES: dict[str, str] = {
    "RU": "stdnum.ru.inn",  # ИНН: 10 digits for companies, 12 for sole proprietors
    "US": "stdnum.us.ein",
    "UA": "stdnum.ua.edrpou",
    "BY": "stdnum.by.unp",
}


def tax_id_module(country: str) -> ModuleType | None:
    """The stdnum module that validates tax ids of `country` (ISO alpha-2), if any."""
    name = TAX_ID_MODULES.get(country.upper())
    if name is not None:
        return importlib.import_module(name)
    for kind in ("vat", "tin"):
        module = get_cc_module(country.lower(), kind)
        if isinstance(module, ModuleType):  # what stdnum returns: the validating module
            return module
    return None


def _module_label(module: ModuleType) -> str:
    doc = (module.__doc__ or module.__name__).strip().splitlines()[0]
    return doc.rstrip(".")


def validate_tax_id(tax_id: str, country: str) -> str:
    """The tax id in its compact form, or `InvalidTaxId` saying why it was refused."""
    module = tax_id_module(country)
    if module is None:
        raise InvalidTaxId(
            f"Tax ids of country {country} cannot be validated, so legal entities from it "
            "cannot register yet.",
            country=country,
        )
    try:
        return str(module.validate(tax_id))
    except InvalidChecksum as exc:
        reason = "its check digits are wrong"
        cause: ValidationError = exc
    except ValidationError as exc:
        reason = str(exc).rstrip(".").lower() or "it is malformed"
        cause = exc
    raise InvalidTaxId(
        f"The tax id is not a valid {_module_label(module)} for {country}: {reason}.",
        country=country,
        scheme=module.__name__.removeprefix("stdnum."),
    ) from cause


# --------------------------------------------------------------------------- the $10 minimum


def minimum_deposit_minor(currency: str, fx_rates: dict[str, Decimal]) -> int:
    """The smallest amount of `currency` (minor units) worth at least USD 10.00 at `fx_rates`."""
    return max(smallest_amount_worth(REGISTRATION_MINIMUM_USD_MINOR, currency, fx_rates), 1)


def supported_currencies(fx_rates: dict[str, Decimal]) -> list[str]:
    return sorted(set(fx_rates) & set(CURRENCY_EXPONENTS))


def check_initial_deposit(amount_minor: int, currency: str, fx_rates: dict[str, Decimal]) -> None:
    """Refuse an initial deposit in an unknown currency or below the USD 10.00 equivalent."""
    try:
        minimum = minimum_deposit_minor(currency, fx_rates)
    except UnknownCurrency:
        supported = supported_currencies(fx_rates)
        raise UnsupportedCurrency(
            f"Currency {currency} is not supported; use one of {', '.join(supported)}.",
            supported_currencies=supported,
        ) from None
    if amount_minor < minimum:
        raise DepositBelowMinimum(
            f"The initial deposit must be worth at least USD 10.00: at least {minimum} minor units "
            f"of {currency}.",
            minimum={"amount_minor": minimum, "currency": currency},
            minimum_usd={"amount_minor": REGISTRATION_MINIMUM_USD_MINOR, "currency": "USD"},
        )


def payment_meets_minimum(amount_minor: int, currency: str, fx_rates: dict[str, Decimal]) -> bool:
    try:
        return amount_minor >= minimum_deposit_minor(currency, fx_rates)
    except UnknownCurrency:
        return False
