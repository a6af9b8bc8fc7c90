"""`ledger-admin check`: exit 0 on a sound ledger, 1 naming the offenders; the journal is
append-only and the CHECK constraint backs up the guarded updates."""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
import uuid

import pytest
from _ledger_helpers import deliver, mined, paid
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError


async def _cli(database_url: str, *args: str) -> tuple[int, str, str]:
    env = {**os.environ, "LEDGER_DATABASE_URL": database_url, "LEDGER_ENVIRONMENT": "test"}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "ledger.cli",
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()
    return proc.returncode or 0, out.decode(), err.decode()


def test_console_script_is_installed() -> None:
    assert shutil.which("ledger-admin") is not None


async def test_check_passes_then_names_offenders(clean_db, engine, factory) -> None:
    user = uuid.uuid4()
    await deliver(factory, paid(user, 1000))
    await deliver(factory, mined(user, 3_000_000))
    code, out, _ = await _cli(clean_db, "check")
    assert code == 0, out
    assert '"ok": true' in out

    # tamper behind the engine's back: a balance no transfer explains, a user overdrawn
    async with engine.begin() as conn:
        await conn.execute(
            text("ALTER TABLE ledger.accounts DROP CONSTRAINT accounts_no_overdraft_check")
        )
        await conn.execute(
            text(
                "UPDATE ledger.accounts SET posted_debits = posted_debits + 5000000"
                " WHERE kind = 'user_points'"
            )
        )
    try:
        code, out, err = await _cli(clean_db, "check")
        assert code == 1
        for invariant in ("sum_zero", "balance_matches_journal", "no_negative_user_account"):
            assert invariant in err, err
        assert str(user) in err
    finally:
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    "UPDATE ledger.accounts SET posted_debits = posted_debits - 5000000"
                    " WHERE kind = 'user_points'"
                )
            )
            await conn.execute(
                text(
                    "ALTER TABLE ledger.accounts ADD CONSTRAINT accounts_no_overdraft_check CHECK"
                    " (user_id IS NULL OR posted_credits - posted_debits - pending_debits >= 0)"
                )
            )
    code, _, _ = await _cli(clean_db, "check")
    assert code == 0


async def test_check_exit_2_without_database() -> None:
    code, _, err = await _cli("postgresql+asyncpg://nobody@127.0.0.1:1/none", "check")
    assert code == 2, err
    code, _, err = await _cli("not a database url", "check")  # a clear error, no traceback
    assert code == 2 and "Traceback" not in err and '"ok":false' in err, err


async def test_journal_is_append_only_and_overdraft_is_refused(engine, factory) -> None:
    user = uuid.uuid4()
    await deliver(factory, mined(user, 1_000_000))
    for sql in (
        "UPDATE ledger.transfers SET amount = 1",
        "DELETE FROM ledger.transfers",
        "UPDATE ledger.accounts SET posted_debits = posted_debits + 2000000"
        " WHERE kind = 'user_points'",
    ):
        with pytest.raises(DBAPIError):
            async with engine.begin() as conn:
                await conn.execute(text(sql))
