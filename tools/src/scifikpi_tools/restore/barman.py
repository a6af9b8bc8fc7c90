"""The object store and the barman-cloud tools the drill runs.

The S3 endpoint is moto's server (`moto_server`, PyPI `moto[server]`) on a free loopback port, with
a bucket made for the run. The tools are PyPI `barman[cloud]`, what CloudNativePG's Barman Cloud
plugin runs in the instance pods: `barman-cloud-wal-archive` (archive_command),
`barman-cloud-backup`, `barman-cloud-restore` and `barman-cloud-wal-restore` (restore_command).

Postgres runs as user `postgres` when the drill runs as root, and the archive/restore commands run
as that user. The venv's interpreter may live where `postgres` cannot reach (e.g. under /root), so
each tool gets a small shell wrapper in the run's directory that runs the same barman modules with
an interpreter `postgres` can execute (the venv's own, else the system's of the same minor version)
and the venv's site-packages. The wrappers also carry the object store's address and the moto
credentials (dummy values; a real cluster gets its credentials from a Secret).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import time
from dataclasses import dataclass
from pathlib import Path

import boto3
import httpx

from scifikpi_tools import localinfra

#: the chart's defaults (values.yaml `postgres.cnpg.backup.destinationPath`, cluster name)
BUCKET = "scifikpi-backups"
PREFIX = "postgres"
SERVER_NAME = "scifikpi-pg"
#: the chart's ObjectStore `wal.compression` and `data.compression`
COMPRESSION = "gzip"
#: moto accepts any key; these never leave the run's directory
CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "drill",
    "AWS_SECRET_ACCESS_KEY": "drill-secret",  # noqa: S105 - moto's dummy credentials
    "AWS_DEFAULT_REGION": "us-east-1",
}
TOOLS = {
    "barman-cloud-wal-archive": "barman.clients.cloud_walarchive",
    "barman-cloud-backup": "barman.clients.cloud_backup",
    "barman-cloud-restore": "barman.clients.cloud_restore",
    "barman-cloud-wal-restore": "barman.clients.cloud_walrestore",
    "barman-cloud-backup-list": "barman.clients.cloud_backup_list",
}


def as_postgres() -> list[str]:
    """The prefix that runs a command as the Postgres user (none unless we are root)."""
    return ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []


def _interpreter_for_postgres() -> str:
    """An interpreter of this Python's minor version that the Postgres user can execute."""
    candidates = [sys.executable, f"/usr/bin/python{sys.version_info[0]}.{sys.version_info[1]}"]
    for candidate in candidates:
        probe = [*as_postgres(), candidate, "-c", "import sys; print(sys.version_info[:2])"]
        done = subprocess.run(probe, capture_output=True, text=True, check=False, timeout=30)  # noqa: S603
        if done.returncode == 0 and done.stdout.strip() == str(tuple(sys.version_info[:2])):
            return candidate
    raise RuntimeError(
        "no Python the postgres user can run: " + ", ".join(candidates) + " (chmod, or run as it)"
    )


@dataclass
class ObjectStore:
    """moto's S3 server, the bucket, and the wrapped barman-cloud commands."""

    endpoint: str
    process: subprocess.Popen[bytes]
    bin_dir: Path

    @property
    def destination(self) -> str:
        """`destinationPath` of the chart's ObjectStore."""
        return f"s3://{BUCKET}/{PREFIX}"

    def tool(self, name: str) -> str:
        return str(self.bin_dir / name)

    def common_args(self) -> list[str]:
        return ["--cloud-provider", "aws-s3", "--endpoint-url", self.endpoint]

    def archive_command(self) -> str:
        return (
            f"{self.tool('barman-cloud-wal-archive')} {' '.join(self.common_args())} "
            f"--{COMPRESSION} "
            f"{self.destination} {SERVER_NAME} %p"
        )

    def restore_command(self) -> str:
        return (
            f"{self.tool('barman-cloud-wal-restore')} {' '.join(self.common_args())} "
            f"{self.destination} {SERVER_NAME} %f %p"
        )

    def run(self, name: str, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        """Run a barman-cloud tool as the Postgres user; raises with its output on failure."""
        command = [*as_postgres(), self.tool(name), *self.common_args(), *args]
        done = subprocess.run(command, capture_output=True, text=True, check=False, timeout=timeout)  # noqa: S603
        if done.returncode != 0:
            raise RuntimeError(f"{name} failed ({done.returncode}): {done.stderr[-2000:]}")
        return done

    def keys(self) -> list[str]:
        """Every object key under the destination prefix."""
        s3 = self._client()
        keys: list[str] = []
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=PREFIX):
            keys += [o["Key"] for o in page.get("Contents", [])]
        return keys

    def _client(self):  # type: ignore[no-untyped-def]
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name=CREDENTIALS["AWS_DEFAULT_REGION"],
            aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        )

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


def _write_wrappers(bin_dir: Path, endpoint: str) -> None:
    bin_dir.mkdir(parents=True, exist_ok=True)
    python = _interpreter_for_postgres()
    site = sysconfig.get_paths()["purelib"]
    env = " ".join(f"{k}={v}" for k, v in CREDENTIALS.items())
    for name, module in TOOLS.items():
        script = bin_dir / name
        script.write_text(
            "#!/bin/sh\n"
            f"# {name} of barman[cloud] (the venv's), runnable by the postgres user\n"
            f"export PYTHONPATH={site} {env}\n"
            f'exec {python} -m {module} "$@"\n'
        )
        script.chmod(0o755)


def start_object_store(work: Path) -> ObjectStore:
    """moto's S3 server on a free loopback port, the bucket, the wrapped tools."""
    port = localinfra.free_port()
    moto = shutil.which("moto_server", path=str(Path(sys.executable).parent)) or "moto_server"
    log = (work / "moto.log").open("wb")
    process = subprocess.Popen(  # noqa: S603
        [moto, "-H", "127.0.0.1", "-p", str(port)], stdout=log, stderr=subprocess.STDOUT
    )
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            httpx.get(endpoint, timeout=1)
            break
        except httpx.HTTPError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise RuntimeError(f"moto_server did not start (see {work / 'moto.log'})") from None
            time.sleep(0.2)
    store = ObjectStore(endpoint=endpoint, process=process, bin_dir=work / "bin")
    try:
        store._client().create_bucket(Bucket=BUCKET)
        _write_wrappers(store.bin_dir, endpoint)
    except BaseException:
        store.stop()
        raise
    return store
