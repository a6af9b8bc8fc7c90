"""`python -m scifikpi_tools.standins.yookassa`: run the YooKassa fake in the foreground."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from scifikpi_tools.standins import DEV_YOOKASSA_SECRET_KEY, DEV_YOOKASSA_SHOP_ID, YOOKASSA_PORT
from scifikpi_tools.standins.process import LOOPBACK, serve


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m scifikpi_tools.standins.yookassa",
        description="A fake of the YooKassa API v3 with a control API and a payment page.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="loopback address to bind")
    parser.add_argument("--port", type=int, default=YOOKASSA_PORT)
    parser.add_argument(
        "--shop-id", default=os.environ.get("YOOKASSA_FAKE_SHOP_ID", DEV_YOOKASSA_SHOP_ID)
    )
    parser.add_argument(
        "--secret-key",
        default=os.environ.get("YOOKASSA_FAKE_SECRET_KEY", DEV_YOOKASSA_SECRET_KEY),
    )
    parser.add_argument(
        "--webhook-url",
        default=os.environ.get("YOOKASSA_FAKE_WEBHOOK_URL") or None,
        help="where notifications go (also settable at /_control/config)",
    )
    parser.add_argument(
        "--public-url", default=None, help="base of confirmation_url (default http://host:port)"
    )
    parser.add_argument(
        "--retry-delays-ms",
        default="1000,5000,30000",
        help="delays between delivery attempts of a notification that did not get HTTP 200",
    )
    args = parser.parse_args(argv)
    if args.host not in LOOPBACK:
        print(f"refusing to bind {args.host!r}: the fake listens on loopback only", file=sys.stderr)
        return 2
    delays = [int(d) for d in args.retry_delays_ms.split(",") if d.strip()]

    from scifikpi_tools.standins.yookassa.app import build_app

    public = args.public_url or f"http://{args.host}:{args.port}"
    app = build_app(args.shop_id, args.secret_key, public, args.webhook_url, delays)
    print(
        f"YooKassa fake: API {public}/v3 (shop {args.shop_id}), control {public}/_control, "
        f"webhook {args.webhook_url or '(none yet)'}",
        flush=True,
    )
    return serve(app, args.host, args.port)


if __name__ == "__main__":
    sys.exit(main())
