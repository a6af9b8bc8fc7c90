"""Use cases of the auth service. HTTP routes, the Kafka consumer and the admin CLI all call these.

Each takes the unit of work, loads and writes through the repositories (explicit writes, no
tracked objects) and never commits: the edge that opened the unit of work commits once. Errors
marked `KeepsChanges` (failed-login counters, a revoked token family) are committed before the
edge answers (`scifikpi_common.db.committing`).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from uuid import UUID

from scifikpi_common.clock import utcnow
from scifikpi_common.db import UnitOfWork
from scifikpi_common.events import PaymentSucceeded, UserActivated, UserRegistered
from scifikpi_common.events.auth import DepositAmount
from scifikpi_common.ids import new_id
from scifikpi_common.logging import get_logger

from auth.domain import (
    AccountBlocked,
    AccountType,
    FailureScope,
    InvalidCredentials,
    InvalidRefreshToken,
    RefreshToken,
    RefreshTokenReused,
    Registration,
    Role,
    Session,
    TooManyLoginAttempts,
    User,
    UserNotFound,
    UserStatus,
    check_initial_deposit,
    check_password_policy,
    normalize_email,
    payment_meets_minimum,
    validate_tax_id,
)
from auth.passwords import PasswordHashing
from auth.repository import LoginFailureRepository, RefreshTokenRepository, UserRepository
from auth.settings import AuthSettings
from auth.tokens import AccessTokenIssuer, hash_refresh_token, new_refresh_token

log = get_logger(__name__)


@dataclass(frozen=True)
class AuthDeps:
    """What the use cases need besides the unit of work; built once per process."""

    settings: AuthSettings
    passwords: PasswordHashing
    tokens: AccessTokenIssuer

    @classmethod
    def from_settings(cls, settings: AuthSettings) -> AuthDeps:
        return cls(
            settings,
            PasswordHashing.from_settings(settings),
            AccessTokenIssuer.from_settings(settings),
        )


# --------------------------------------------------------------------------- registration


async def register(reg: Registration, uow: UnitOfWork, deps: AuthDeps) -> Session:
    """Create a `pending_payment` account, announce it (`UserRegistered`) and sign it in."""
    user = await create_user(reg, uow, deps)
    return await _start_session(user, uow, deps)


async def create_user(reg: Registration, uow: UnitOfWork, deps: AuthDeps) -> User:
    email = normalize_email(reg.email)
    check_password_policy(reg.password, email)
    check_initial_deposit(
        reg.initial_deposit_minor, reg.initial_deposit_currency, deps.settings.fx_rates
    )
    company = reg.company
    if company is not None:  # stored with the tax id in its compact form
        company = replace(company, tax_id=validate_tax_id(company.tax_id, reg.country))

    password_hash = await deps.passwords.hash(reg.password)
    now = utcnow()
    user = User(
        id=new_id(),
        email=email,
        password_hash=password_hash,
        account_type=reg.account_type,
        role=reg.role,
        status=reg.status,
        country=reg.country,
        full_name=reg.full_name if reg.account_type is AccountType.individual else None,
        company=company,
        initial_deposit_minor=reg.initial_deposit_minor,
        initial_deposit_currency=reg.initial_deposit_currency,
        created_at=now,
        updated_at=now,
        activated_at=now if reg.status is UserStatus.active else None,
    )
    # No "does it exist?" pre-check: the unique index decides, so two racing registrations of
    # one email leave exactly one user and the other gets 409 (`EmailTaken`).
    await UserRepository(uow.session).add(user)
    await uow.publish(
        UserRegistered(
            user_id=user.id,
            email=user.email,
            account_type=reg.account_type.value,
            country=user.country,
            initial_deposit=DepositAmount(
                amount_minor=reg.initial_deposit_minor, currency=reg.initial_deposit_currency
            ),
            registered_at=now,
        )
    )
    log.info(
        "user_registered",
        user_id=str(user.id),
        account_type=user.account_type,
        country=user.country,
    )
    return user


# --------------------------------------------------------------------------- login


def _window_start(now: datetime, window_s: int) -> datetime:
    epoch = int(now.timestamp())
    return datetime.fromtimestamp(epoch - epoch % window_s, UTC)


def _account_key(email: str) -> str:
    # The counter is kept per email whether or not the account exists (no enumeration), and
    # under a hash so the table holds no addresses.
    return hashlib.sha256(email.encode("utf-8")).hexdigest()


async def login(
    email: str, password: str, client_ip: str | None, uow: UnitOfWork, deps: AuthDeps
) -> Session:
    """Check the credentials (rate limited per account and per client IP) and sign in."""
    settings = deps.settings
    email = normalize_email(email)
    now = utcnow()
    window_start = _window_start(now, settings.login_window_s)
    account = (FailureScope.account, _account_key(email))
    keys = [account] + ([(FailureScope.ip, client_ip)] if client_ip else [])
    failures = LoginFailureRepository(uow.session)
    counts = await failures.counts(keys, window_start)
    limits = {
        FailureScope.account: settings.login_max_failures_per_account,
        FailureScope.ip: settings.login_max_failures_per_ip,
    }
    if any(counts.get(key, 0) >= limits[key[0]] for key in keys):
        retry_after = (
            int((window_start + timedelta(seconds=settings.login_window_s) - now).total_seconds())
            + 1
        )
        log.warning("login_rate_limited", client_ip=client_ip)
        raise TooManyLoginAttempts(max(retry_after, 1))

    users = UserRepository(uow.session)
    user = await users.get_by_email(email)
    if user is None:
        await deps.passwords.dummy_verify(password)
        valid = False
    else:
        valid = await deps.passwords.verify(user.password_hash, password)
    if not valid:
        # Checked-then-counted rather than counted-then-checked: the counter row is not locked
        # while argon2 runs, so a burst may overshoot the limit by at most its own concurrency.
        for scope, key in keys:
            await failures.record_failure(scope, key, window_start)
        log.info("login_failed", client_ip=client_ip, user_id=str(user.id) if user else None)
        raise InvalidCredentials()

    assert user is not None
    if user.status is UserStatus.blocked:
        raise AccountBlocked("This account is blocked. Contact support.")
    if deps.passwords.needs_rehash(user.password_hash):
        await users.set_password_hash(user.id, await deps.passwords.hash(password))
        log.info("password_rehashed", user_id=str(user.id))
    await failures.clear(*account)
    log.info("login_succeeded", user_id=str(user.id))
    return await _start_session(user, uow, deps)


# --------------------------------------------------------------------------- tokens


async def _start_session(
    user: User, uow: UnitOfWork, deps: AuthDeps, family_id: UUID | None = None
) -> Session:
    now = utcnow()
    plain, digest = new_refresh_token()
    token = RefreshToken(
        id=new_id(),
        user_id=user.id,
        family_id=family_id or new_id(),
        token_hash=digest,
        created_at=now,
        expires_at=now + timedelta(seconds=deps.settings.refresh_token_ttl_s),
    )
    await RefreshTokenRepository(uow.session).add(token)
    access = deps.tokens.issue(user_id=user.id, role=user.role, status=user.status, now=now)
    return Session(
        user=user,
        access_token=access.token,
        refresh_token=plain,
        refresh_token_id=token.id,
        expires_in=access.expires_in,
    )


async def refresh(refresh_token: str, uow: UnitOfWork, deps: AuthDeps) -> Session:
    """Rotate a refresh token; a token presented twice revokes its whole family."""
    tokens = RefreshTokenRepository(uow.session)
    row = await tokens.get_by_hash(hash_refresh_token(refresh_token), for_update=True)
    now = utcnow()
    if row is None or row.revoked_at is not None:
        raise InvalidRefreshToken()
    if row.rotated_at is not None:
        # Someone holds a copy of a spent token: end every session of this login.
        revoked = await tokens.revoke_family(row.family_id, now)
        log.warning(
            "refresh_token_reused",
            user_id=str(row.user_id),
            family_id=str(row.family_id),
            revoked=revoked,
        )
        raise RefreshTokenReused()
    if row.expires_at <= now:
        raise InvalidRefreshToken()
    user = await UserRepository(uow.session).get(row.user_id)
    if user is None or user.status is UserStatus.blocked:
        raise InvalidRefreshToken()
    session = await _start_session(user, uow, deps, family_id=row.family_id)
    await tokens.mark_rotated(row.id, replaced_by=session.refresh_token_id, at=now)
    return session


async def logout(refresh_token: str, uow: UnitOfWork) -> None:
    """Revoke the family of a refresh token; unknown or already revoked tokens are fine."""
    tokens = RefreshTokenRepository(uow.session)
    row = await tokens.get_by_hash(hash_refresh_token(refresh_token))
    if row is not None:
        await tokens.revoke_family(row.family_id, utcnow())
        log.info("logged_out", user_id=str(row.user_id), family_id=str(row.family_id))


async def get_user(user_id: UUID, uow: UnitOfWork) -> User | None:
    return await UserRepository(uow.session).get(user_id)


# --------------------------------------------------------------------------- activation


async def activate_on_payment(
    event: PaymentSucceeded, uow: UnitOfWork, fx_rates: dict[str, Decimal]
) -> bool:
    """A succeeded registration payment of at least the minimum activates a pending account."""
    context = {"user_id": str(event.user_id), "payment_id": str(event.payment_id)}
    if event.purpose != "registration":
        log.info(
            "payment_ignored", reason="not a registration payment", purpose=event.purpose, **context
        )
        return False
    users = UserRepository(uow.session)
    user = await users.get(event.user_id, for_update=True)
    if user is None:
        log.error("payment_ignored", reason="unknown user", **context)
        return False
    if user.status is not UserStatus.pending_payment:
        log.info("payment_ignored", reason=f"account is {user.status}", **context)
        return False
    if not payment_meets_minimum(event.amount_minor, event.currency, fx_rates):
        log.warning(
            "payment_ignored",
            reason="amount below the registration minimum",
            amount_minor=event.amount_minor,
            currency=event.currency,
            **context,
        )
        return False
    now = utcnow()
    await users.activate(user.id, payment_id=str(event.payment_id), at=now)
    await uow.publish(
        UserActivated(user_id=user.id, payment_id=str(event.payment_id), activated_at=now)
    )
    log.info("user_activated", **context)
    return True


# --------------------------------------------------------------------------- admin


ADMIN_ACTIVATION = "admin-cli"


async def create_admin(
    email: str, password: str, country: str, uow: UnitOfWork, deps: AuthDeps
) -> User:
    """An active admin account. It never pays a deposit, so its activation names no payment."""
    settings = deps.settings
    registration = Registration(
        email=email,
        password=password,
        account_type=AccountType.individual,
        country=country,
        full_name="Administrator",
        initial_deposit_minor=1000,
        initial_deposit_currency="USD"
        if "USD" in settings.fx_rates
        else sorted(settings.fx_rates)[0],
        role=Role.admin,
        status=UserStatus.active,
    )
    user = await create_user(registration, uow, deps)
    await uow.publish(
        UserActivated(user_id=user.id, payment_id=ADMIN_ACTIVATION, activated_at=user.created_at)
    )
    return user


async def promote_to_admin(email: str, uow: UnitOfWork) -> tuple[User, bool]:
    """Make an existing user an admin; returns the user and whether anything changed."""
    users = UserRepository(uow.session)
    user = await users.get_by_email(normalize_email(email), for_update=True)
    if user is None:
        raise UserNotFound(email)
    if user.role is Role.admin:
        return user, False
    user = await users.set_role(user.id, Role.admin, at=utcnow())
    log.info("user_promoted_to_admin", user_id=str(user.id))
    return user, True


# --------------------------------------------------------------------------- housekeeping


async def purge_expired(uow: UnitOfWork, settings: AuthSettings) -> tuple[int, int]:
    """Delete refresh tokens expired a day ago and login-failure windows that ended; returns how
    many of each."""
    now = utcnow()
    tokens = await RefreshTokenRepository(uow.session).delete_expired(now - timedelta(days=1))
    windows = await LoginFailureRepository(uow.session).delete_older_than(
        now - timedelta(seconds=2 * settings.login_window_s)
    )
    return tokens, windows
