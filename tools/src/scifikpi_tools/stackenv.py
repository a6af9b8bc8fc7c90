"""A running `make run` stack seen from outside: its `.local/stack.env` and the `--url` /
`--running` options every tool that drives a stack offers (fuzz, load)."""

from __future__ import annotations

import argparse
import shlex
from dataclasses import dataclass
from pathlib import Path

API = "/api/v1"
DEFAULT_ENV_FILE = ".local/stack.env"


@dataclass(frozen=True)
class RunningStack:
    """The values of a stack.env, and where the gateway and the stand-ins answer: the gateway is
    NFT_PUBLIC_BASE_URL minus /api/v1; the stand-ins' ports (localstripe 8420, the YooKassa fake
    8421) are shifted as the gateway's port is from 8000."""

    values: dict[str, str]
    gateway_url: str
    port_shift: int

    def standin_url(self, default_port: int) -> str:
        return f"http://127.0.0.1:{default_port + self.port_shift}"


def read_stack_env(env_file: Path) -> RunningStack:
    values: dict[str, str] = {}
    for line in env_file.read_text().splitlines():
        key, sep, value = line.partition("=")
        if sep:
            values[key] = shlex.split(value)[0] if value else ""
    gateway = values["NFT_PUBLIC_BASE_URL"].removesuffix(API)
    return RunningStack(values, gateway, int(gateway.rsplit(":", 1)[1]) - 8000)


def add_target_arguments(parser: argparse.ArgumentParser) -> None:
    """`--url URL` (a running gateway) or `--running [STACK_ENV]` (the `make run` stack);
    neither: the tool starts a fresh local stack."""
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--url", help="a running gateway (default: start a fresh local stack)")
    where.add_argument(
        "--running", nargs="?", const=DEFAULT_ENV_FILE, metavar="STACK_ENV",
        help=f"the `make run` stack, from its stack.env (default {DEFAULT_ENV_FILE})",
    )  # fmt: skip
