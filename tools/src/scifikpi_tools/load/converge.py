"""After the load: does everything the users set in motion finish, and do the books balance?

Per user, through the gateway as the frontend would read it: the account is active (deposit
credited), every payment is final and succeeded, every purchase is `completed` or `failed`
(failed ones released their hold: nothing stays reserved), every transfer is `completed`, and the
points equal what the completed sessions credit minus the completed purchases' prices (a session
past its end counts: the scheduler must have credited it). Then `ledger-admin check` on the
stack's database.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx

from scifikpi_tools.bench.cabinet import API

MICRO = Decimal("0.000001")


def _micro(points: str) -> int:
    return int(Decimal(points) / MICRO)


def _status(api: httpx.Client, path: str, auth: dict[str, str]) -> Any:
    r = api.get(path, headers=auth)
    return r.json().get("status") if r.status_code == 200 else r.status_code


def _credited(api: httpx.Client, flows: Any, auth: dict[str, str], out: list[str]) -> int:
    """Micro-points the user's completed sessions credit; accelerated ones must be completed."""
    credited, cursor = 0, None
    while True:
        params: dict[str, Any] = {"limit": 100} | ({"cursor": cursor} if cursor else {})
        page = api.get("/mining/sessions", headers=auth, params=params)
        if page.status_code != 200:
            out.append(f"GET /mining/sessions {page.status_code}")
            return credited
        body = page.json()
        for s in body["items"]:
            if s["status"] == "completed":
                credited += s["target_micro"]
            elif s["id"] in flows.accelerated:
                out.append(f"accelerated session {s['id']} {s['status']}")
        cursor = body.get("next_cursor")
        if not cursor:
            return credited


def pending_of(api: httpx.Client, flows: Any, price_micro: int) -> list[str]:
    """What of one user's flows has not converged yet (empty: all of it has)."""
    auth = {"Authorization": f"Bearer {flows.token}"}
    out: list[str] = []
    # a sign-up abandoned before paying stays pending, rightly
    if flows.payments and _status(api, "/auth/me", auth) != "active":
        out.append("account not active")
    for payment_id in flows.payments:
        status = _status(api, f"/payments/{payment_id}", auth)
        if status != "succeeded":
            out.append(f"payment {payment_id} {status}")
    completed = 0
    for purchase_id in flows.purchases:
        status = _status(api, f"/nft/purchases/{purchase_id}", auth)
        completed += status == "completed"
        if status not in ("completed", "failed"):
            out.append(f"purchase {purchase_id} {status}")
    for transfer_id in flows.transfers:
        status = _status(api, f"/nft/transfers/{transfer_id}", auth)
        if status != "completed":
            out.append(f"transfer {transfer_id} {status}")
    credited = _credited(api, flows, auth, out)
    r = api.get("/balance", headers=auth)
    if r.status_code != 200:
        return [*out, f"GET /balance {r.status_code}"]
    points = r.json()["points"]
    reserved, total = _micro(points["reserved"]), _micro(points["total"])
    if reserved:
        out.append(f"{reserved} micro-points still reserved")
    if total != credited - completed * price_micro:
        out.append(
            f"points {total} micro, sessions and purchases say {credited - completed * price_micro}"
        )
    return out


def ledger_check(database_url: str | None) -> tuple[bool, str]:
    """`ledger-admin check` against the stack's database, as `make ledger-check` runs it."""
    if not database_url:
        return False, "no database URL: ledger-admin check not run"
    done = subprocess.run(  # noqa: S603 - our own console script
        [str(Path(sys.executable).parent / "ledger-admin"), "check"],
        capture_output=True, text=True, timeout=120, check=False,
        env={**os.environ, "DATABASE_URL": database_url, "ENVIRONMENT": "local"},
    )  # fmt: skip
    return done.returncode == 0, (done.stdout + done.stderr).strip()


def converge(gateway_url: str, flows: list[Any], *, price_micro: int, limit_s: float,
             database_url: str | None) -> dict[str, Any]:  # fmt: skip
    """Re-checks the users not yet converged every second until none is left or `limit_s`."""
    started = time.monotonic()
    users = [f for f in flows if f.token]
    left = list(users)
    pending: list[str] = []
    with httpx.Client(base_url=gateway_url + API, timeout=30) as api:
        while True:
            pending, still = [], []
            for f in left:
                found = pending_of(api, f, price_micro)
                if found:
                    still.append(f)
                    pending.extend(found)
            left = still
            if not left or time.monotonic() - started > limit_s:
                break
            time.sleep(1.0)
    seconds = time.monotonic() - started
    ok, output = ledger_check(database_url)
    counts = {
        "users": len(users),
        "payments": sum(len(f.payments) for f in users),
        "accelerations": sum(len(f.accelerated) for f in users),
        "purchases": sum(len(f.purchases) for f in users),
        "transfers": sum(len(f.transfers) for f in users),
        "not converged users": len(left),
    }
    return {
        "ok": not left, "seconds": seconds, "limit_s": limit_s, "counts": counts,
        "pending": pending, "ledger_ok": ok, "ledger_output": output[-2000:],
    }  # fmt: skip
