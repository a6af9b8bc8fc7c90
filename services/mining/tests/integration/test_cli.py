"""`mining-admin outbox`: the same operator commands as every other service's admin CLI."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sys


async def _cli(database_url: str, *args: str) -> tuple[int, str, str]:
    env = {**os.environ, "MINING_DATABASE_URL": database_url, "MINING_ENVIRONMENT": "test"}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "mining.cli",
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()
    return proc.returncode or 0, out.decode(), err.decode()


def test_console_script_is_installed() -> None:
    assert shutil.which("mining-admin") is not None


async def test_outbox_status_reports_the_mining_outbox(clean_db: str) -> None:
    code, out, err = await _cli(clean_db, "outbox", "status")
    assert code == 0, err
    report = json.loads(out)
    assert report["ok"] is True, report


async def test_an_unreachable_database_exits_2() -> None:
    code, _, err = await _cli("postgresql+asyncpg://nobody@127.0.0.1:1/none", "outbox", "status")
    assert code == 2, err
    assert '"ok":false' in err.replace(" ", "")
