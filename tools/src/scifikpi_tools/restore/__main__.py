"""Run the restore drill (see the package docstring): `python -m scifikpi_tools.restore --help`."""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import httpx

from scifikpi_tools.chaos.books import pending_outbox
from scifikpi_tools.restore import cluster, verify
from scifikpi_tools.restore.barman import COMPRESSION, SERVER_NAME, ObjectStore, start_object_store
from scifikpi_tools.restore.flows import Journey, Writer
from scifikpi_tools.stack import LocalStack
from scifikpi_tools.stack.launcher import TEST_ENV

STACK_ENV = {**TEST_ENV, "MINING_SESSION_DURATION_S": "3600"}


@dataclass
class Report:
    archive_timeout_s: int
    target_time: str = ""
    backup_id: str = ""
    base_backup_s: float = 0.0
    archive_lag_s: float = 0.0
    download_s: float = 0.0
    replay_s: float = 0.0
    restore_s: float = 0.0  # barman-cloud-restore start → the copy promoted, accepting writes
    services_ready_s: float = 0.0  # → the services' APIs answering on the copy
    objects: dict[str, int] = field(default_factory=dict)
    rows: dict[str, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


async def settle(database_url: str, timeout_s: float = 60) -> None:
    """Until every outbox is drained: nothing of a batch is still on its way."""
    deadline = time.monotonic() + timeout_s
    while pending := await pending_outbox(database_url):
        if time.monotonic() > deadline:
            raise RuntimeError(f"outboxes not drained: {pending}")
        await asyncio.sleep(0.25)


_T0 = time.monotonic()


def say(text: str) -> None:
    print(f"[{time.monotonic() - _T0:6.1f} s] {text}", flush=True)


class Drill:
    def __init__(self, args: argparse.Namespace, work: Path) -> None:
        self.args, self.work = args, work
        self.report = Report(archive_timeout_s=args.archive_timeout)
        self.before: list[Journey] = []
        self.after: list[Journey] = []

    async def write_and_back_up(self, store: ObjectStore, primary: cluster.DrillPostgres) -> tuple:
        db = primary.url_for("scifikpi")
        stack = LocalStack(
            data_dir=self.work / "stack",
            port_base=None,
            database_url=db,
            extra_env=STACK_ENV,
            output=self.work / "stack.log",
        )
        say(f"starting the stack on the drill's Postgres (log {self.work / 'stack.log'})")
        async with stack, httpx.AsyncClient(base_url=stack.gateway_url, timeout=15) as client:
            say("stack ready")
            assert stack.localstripe_url is not None
            writer = Writer(client, stack.localstripe_url)
            await writer.create_item(stack.database_url)
            n = self.args.users
            self.before = await writer.batch("a", n)
            await settle(db)
            say(f"batch a: {n} users paid, mined, bought an NFT; base backup...")
            started = time.monotonic()
            store.run(
                "barman-cloud-backup", f"--{COMPRESSION}", "--immediate-checkpoint",
                "-h", "127.0.0.1", "-p", str(primary.port), "-U", "postgres",
                store.destination, SERVER_NAME,
            )  # fmt: skip
            self.report.base_backup_s = round(time.monotonic() - started, 2)
            say(f"base backup in {self.report.base_backup_s} s")
            self.before += await writer.batch("b", n)
            await settle(db)
            self.report.target_time, at_target = await verify.snapshot(db)
            say(f"batch b done; target time {self.report.target_time}")
            await asyncio.sleep(1.0)
            self.after = await writer.batch("c", n)
            await settle(db)
            _, final = await verify.snapshot(db)
            say("batch c done (after the target); waiting for its WAL to be archived")
            self.report.archive_lag_s = round(
                await verify.wait_archived(primary.url, self.args.archive_timeout * 4 + 30), 2
            )
        return at_target, final

    async def restore(self, store: ObjectStore) -> cluster.DrillPostgres:
        listed = store.run("barman-cloud-backup-list", "--format", "json", store.destination,
                           SERVER_NAME)  # fmt: skip
        backups = json.loads(listed.stdout)["backups_list"]
        self.report.backup_id = backups[-1]["backup_id"]
        started = time.monotonic()
        data = cluster.new_restore_dir(self.work)
        store.run("barman-cloud-restore", "--target-time", self.report.target_time,
                  store.destination, SERVER_NAME, self.report.backup_id, str(data))  # fmt: skip
        self.report.download_s = round(time.monotonic() - started, 2)
        copy = cluster.prepare_restored(self.work, store.restore_command(), self.report.target_time)
        replay = time.monotonic()
        copy.start()
        await copy.wait_promoted()
        self.report.replay_s = round(time.monotonic() - replay, 2)
        self.report.restore_s = round(time.monotonic() - started, 2)
        return copy

    async def check(self, copy: cluster.DrillPostgres, at_target: verify.Rows,
                    final: verify.Rows, restore_started: float) -> None:  # fmt: skip
        _, restored = await verify.snapshot(copy.url_for("scifikpi"))
        self.report.rows, problems = verify.compare(at_target, final, restored)
        self.report.problems += problems
        self.report.problems += await verify.ledger_clean(copy.url_for("scifikpi"))
        stack = verify.read_stack(copy.url, self.work)
        async with stack:
            self.report.services_ready_s = round(time.monotonic() - restore_started, 2)
            self.report.problems += await verify.read_paths(stack, self.before, self.after)

    async def run(self) -> Report:
        cluster.make_work_dir_reachable(self.work)
        store = start_object_store(self.work)
        primary = cluster.init_primary(
            self.work, store.archive_command(), self.args.archive_timeout
        )
        copy: cluster.DrillPostgres | None = None
        try:
            primary.start()
            at_target, final = await self.write_and_back_up(store, primary)
            primary.stop()
            keys = store.keys()
            self.report.objects = {
                part: sum(f"/{SERVER_NAME}/{part}/" in k for k in keys) for part in ("base", "wals")
            }
            say(f"objects under {store.destination}/{SERVER_NAME}/: {self.report.objects}")
            restore_started = time.monotonic()
            copy = await self.restore(store)
            say(f"restored and promoted in {self.report.restore_s} s; checking the copy")
            await self.check(copy, at_target, final, restore_started)
        finally:
            for pg in (copy, primary):
                if pg is not None:
                    try:
                        pg.stop("immediate")
                    except Exception as exc:  # noqa: BLE001 - reported, the rest still stops
                        say(f"!! stopping {pg.data_dir}: {exc}")
            store.stop()
        return self.report


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m scifikpi_tools.restore")
    parser.add_argument("--users", type=int, default=2, help="users per batch (three batches)")
    parser.add_argument("--archive-timeout", type=int, default=5, help="archive_timeout, seconds")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    parser.add_argument("--json", action="store_true", help="also print the report as JSON")
    return parser


def _print(report: Report) -> None:
    say("\nrestore drill")
    say(f"  target time          {report.target_time} (backup {report.backup_id})")
    say(f"  objects              {report.objects} (base/, wals/ under the server name)")
    for label, text in report.rows.items():
        say(f"  {label:<20} {text}")
    say(f"  base backup          {report.base_backup_s} s")
    say(f"  archive lag          {report.archive_lag_s} s (archive_timeout "
        f"{report.archive_timeout_s} s: the data-loss window, RPO)")  # fmt: skip
    say(f"  restore time         {report.restore_s} s (download {report.download_s} s, "
        f"replay + promote {report.replay_s} s)")  # fmt: skip
    say(f"  services on the copy {report.services_ready_s} s after the restore began (RTO)")
    say(f"  load average         {Path('/proc/loadavg').read_text().strip()}")
    for problem in report.problems:
        say(f"  !! {problem}")
    say(f"  verdict              {'FAIL' if report.problems else 'PASS'}")


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="restore-drill-"))
    say(f"restore drill in {work}; load average {Path('/proc/loadavg').read_text().strip()}")
    drill = Drill(args, work)
    try:
        report = asyncio.run(drill.run())
    except Exception as exc:  # noqa: BLE001 - the verdict says why
        drill.report.problems.append(f"{type(exc).__name__}: {exc}")
        report = drill.report
    _print(report)
    if args.json:
        say(json.dumps(asdict(report)))
    if args.keep or report.problems:
        say(f"work directory kept: {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)
    return 1 if report.problems else 0


if __name__ == "__main__":
    sys.exit(main())
