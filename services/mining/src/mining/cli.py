"""`mining-admin`: operator commands.

mining-admin outbox status      the outbox: unpublished rows, oldest age, retained rows
mining-admin outbox republish   put retained rows back for the relay (a broker that lost them)
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from scifikpi_common.republish import add_outbox_commands, outbox_main

from mining.models import make_outbox
from mining.settings import get_settings


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mining-admin", description="Operate SciFiKPI mining.")
    sub = parser.add_subparsers(dest="command", required=True)
    add_outbox_commands(sub)  # outbox status | republish (scifikpi_common.republish)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    return outbox_main(args, get_settings().database_url, make_outbox())


if __name__ == "__main__":
    sys.exit(main())
