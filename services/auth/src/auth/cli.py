"""`auth-admin`: create an admin account or promote an existing user to admin.

    auth-admin create-admin --email ops@example.com [--password-stdin] [--country US]
    auth-admin promote --email someone@example.com

Uses the same use cases and unit of work as the API, so a created admin is announced through the
outbox like any registration.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import sys
from collections.abc import Sequence

from pydantic import TypeAdapter, ValidationError
from pydantic_extra_types.country import CountryAlpha2
from scifikpi_common.db import (
    UnitOfWork,
    committing,
    process_database,
)
from scifikpi_common.errors import AppError
from scifikpi_common.logging import configure_logging
from scifikpi_common.republish import add_outbox_commands, outbox_main
from sqlalchemy.exc import DBAPIError, OperationalError, ProgrammingError

from auth import handlers
from auth.domain import UserNotFound
from auth.handlers import AuthDeps
from auth.models import make_outbox
from auth.settings import AuthSettings, get_settings


class CliError(Exception):
    """A problem to print as one line before exiting with status 1."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="auth-admin", description="Administer SciFiKPI auth accounts."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    add_outbox_commands(sub)  # outbox status | republish (scifikpi_common.republish)
    create = sub.add_parser("create-admin", help="create an active admin account")
    create.add_argument("--email", required=True)
    create.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from the first line of stdin "
        "(otherwise one is generated and printed)",
    )
    create.add_argument(
        "--country", default="US", help="ISO 3166-1 alpha-2 country code (default: US)"
    )
    promote = sub.add_parser("promote", help="give an existing user the admin role")
    promote.add_argument("--email", required=True)
    return parser


def _read_password() -> str:
    line = sys.stdin.readline()
    password = line.rstrip("\r\n")
    if not password:
        raise CliError("no password on stdin")
    return password


async def _create_admin(args: argparse.Namespace, settings: AuthSettings, uow: UnitOfWork) -> str:
    try:
        country = str(TypeAdapter(CountryAlpha2).validate_python(args.country))
    except ValidationError:
        raise CliError(f"{args.country!r} is not an ISO 3166-1 alpha-2 country code") from None
    generated = not args.password_stdin
    password = secrets.token_urlsafe(18) if generated else _read_password()
    deps = AuthDeps.from_settings(settings)
    async with committing(uow):
        user = await handlers.create_admin(args.email, password, country, uow, deps)
    lines = [f"created admin {user.email} (id {user.id}, status {user.status})"]
    if generated:
        lines.append(f"generated password (shown once): {password}")
    return "\n".join(lines)


async def _promote(args: argparse.Namespace, uow: UnitOfWork) -> str:
    try:
        async with committing(uow):
            user, changed = await handlers.promote_to_admin(args.email, uow)
    except UserNotFound:
        raise CliError(f"no user with email {args.email.strip().lower()}") from None
    if not changed:
        return f"{user.email} (id {user.id}) is already an admin"
    return f"promoted {user.email} (id {user.id}) to admin"


async def _run(args: argparse.Namespace, settings: AuthSettings) -> str:
    """One unit of work for the command, committed by it (the CLI is an edge)."""
    async with (
        process_database(
            settings.database_url, make_outbox(), name="auth.admin", pool_size=1
        ) as db,
        db.uow_factory() as uow,
    ):
        if args.command == "create-admin":
            return await _create_admin(args, settings, uow)
        return await _promote(args, uow)


def _quiet_logging(settings: AuthSettings) -> None:
    """Warnings and errors only, on stderr: stdout is for the command's result."""
    configure_logging("auth", level="WARNING", fmt=settings.log_format, stream=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "outbox":
        return outbox_main(args, get_settings().database_url, make_outbox())
    try:
        settings = get_settings()
        _quiet_logging(settings)
        print(asyncio.run(_run(args, settings)))
        return 0
    except CliError as exc:
        message = str(exc)
    except AppError as exc:  # the same problems the API answers with
        message = exc.detail or exc.title
    except (OperationalError, OSError) as exc:
        message = f"cannot reach the database ({type(exc).__name__}); is DATABASE_URL right?"
    except ProgrammingError as exc:
        message = f"database not ready ({type(exc.orig).__name__}); run the auth migrations first"
    except DBAPIError as exc:
        message = f"database error ({type(exc.orig).__name__})"
    except ValidationError as exc:  # settings
        message = f"invalid configuration: {exc.errors()[0].get('msg')}"
    print(f"auth-admin: error: {message}", file=sys.stderr)
    return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
