"""`ledger-admin`: operator commands.

ledger-admin check     verify the ledger invariants; prints a JSON report, exits 1 naming the
                       offenders when something is off (2 when the database cannot be reached
                       or has no ledger schema)
ledger-admin sweep     expire due holds now (what ledger-scheduler does in a loop)
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from typing import Any

import orjson
from scifikpi_common.db import (
    process_database,
)
from scifikpi_common.logging import configure_logging
from scifikpi_common.republish import add_outbox_commands, outbox_main
from sqlalchemy.exc import ArgumentError, DBAPIError

from ledger import handlers
from ledger.models import make_outbox
from ledger.processes import sweep_once
from ledger.settings import LedgerSettings, get_settings


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ledger-admin", description="Operate SciFiKPI ledger.")
    sub = parser.add_subparsers(dest="command", required=True)
    add_outbox_commands(sub)  # outbox status | republish (scifikpi_common.republish)
    sub.add_parser("check", help="verify the ledger invariants (exit 1 on any problem)")
    sub.add_parser("sweep", help="expire due holds now")
    return parser


async def _run(args: argparse.Namespace, settings: LedgerSettings) -> dict[str, Any]:
    async with process_database(
        settings.database_url, make_outbox(), name="ledger.admin", pool_size=2
    ) as db:
        if args.command == "sweep":
            expired = await sweep_once(db.uow_factory, settings.sweep_batch_size)
            return {"ok": True, "expired": expired}
        async with db.uow_factory() as uow:  # read-only: nothing to commit
            return (await handlers.check_invariants(uow)).as_dict()


def main(argv: Sequence[str] | None = None, settings: LedgerSettings | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "outbox":
        return outbox_main(args, get_settings().database_url, make_outbox())
    settings = settings or get_settings()
    configure_logging("ledger", level="WARNING", fmt="console")
    try:
        result = asyncio.run(_run(args, settings))
    except (OSError, ConnectionError, DBAPIError, ArgumentError) as exc:
        # unreachable, not migrated, or DATABASE_URL is not a database URL
        print(orjson.dumps({"ok": False, "error": repr(exc)}).decode(), file=sys.stderr)
        return 2
    print(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode())
    if not result["ok"]:
        for problem in result.get("problems", []):
            print(f"OFFENDER {orjson.dumps(problem).decode()}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
