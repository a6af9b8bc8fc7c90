"""`make chaos --short` in CI: every phase (process kills, a Postgres crash restart, a broker
that comes back empty) converges and leaves exact books, with users paying through localstripe
and buying NFTs from an item with a small supply. The tool starts its own Postgres and broker, so
this needs nothing running; it takes about 2-2.5 minutes on an idle machine."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
from scifikpi_tools.chaos.nftbooks import chain_problems, purchase_problems

RUN_LIMIT_S = 330  # ~150 s idle; CI's busier machine has needed more than twice that


@pytest.mark.e2e
@pytest.mark.timeout(RUN_LIMIT_S + 30)
def test_short_chaos_run_converges_with_exact_books():
    command = [sys.executable, "-m", "scifikpi_tools.chaos", "--short", "--seed", "12"]
    try:
        run = subprocess.run(
            command, capture_output=True, text=True, timeout=RUN_LIMIT_S, check=False
        )
    except subprocess.TimeoutExpired as stuck:
        pytest.fail(
            f"chaos --short did not finish in {RUN_LIMIT_S} s:\n{_text(stuck.stdout)}\n"
            f"{_text(stuck.stderr)[-3000:]}"
        )
    out = run.stdout + run.stderr[-3000:]
    assert run.returncode == 0, out
    table = run.stdout.split("phase              flows")[-1]
    for phase in ("process kills", "postgres restart", "broker loss"):
        line = next(line for line in table.splitlines() if line.startswith(phase))
        assert " PASS " in line, out
        # the books were not vacuous: purchases were made, some completed, on the chain too
        nft = re.search(r"nft: (\d+) purchases, (\d+) completed", line)
        assert nft is not None and int(nft[2]) > 0, line
        assert re.search(r"chain (\d+) items = \1 nfts", line), line
        assert re.search(r"pay: (\d+)/\1 succeeded", line), line
    kills = re.findall(r"kill -9 (\S+) \(pid", run.stdout)
    assert kills, out  # the run really killed something
    assert any(k.startswith(("nft-", "payments-")) for k in kills), kills  # the money paths


def _text(output: bytes | str | None) -> str:
    if isinstance(output, bytes):
        return output.decode(errors="replace")
    return output or ""


# --- the NFT books' verdicts on rows the database could hold (no stack needed) ------------

CUSTODY = "0:" + "c" * 64


def _row(status, reason=None, held=None, resolution=None, resolved=None, price=500):
    return {"id": "p1", "status": status, "failure_reason": reason, "price": price,
            "held": held, "resolution": resolution, "resolved": resolved}  # fmt: skip


def test_purchase_books_accept_what_the_saga_may_leave():
    rows = [
        _row("completed", held=500, resolution="post", resolved=500),
        _row("failed", "sold_out"),  # never held
        _row("failed", "insufficient_points"),  # the hold was refused
        _row("failed", "mint_expired", held=500, resolution="void", resolved=500),
        _row("failed", "reservation_timeout", held=500, resolution="expire", resolved=500),
    ]
    assert purchase_problems(rows) == []


@pytest.mark.parametrize(
    "row",
    [
        _row("completed", held=500),  # hold never posted
        _row("completed", held=500, resolution="void", resolved=500),  # given away
        _row("completed", held=400, resolution="post", resolved=400),  # debited the wrong price
        _row("failed", "mint_expired", held=500),  # hold left open
        _row("failed", "mint_expired", held=500, resolution="post", resolved=500),  # charged
    ],
)
def test_purchase_books_flag_points_taken_or_never_released(row):
    assert len(purchase_problems([row])) == 1


def _item(index, owner=CUSTODY):
    return {"index": index, "address": f"0:{index:064x}", "owner": owner}


def _nft(index):
    return {"id": f"p{index}", "item_index": index, "item_address": f"0:{index:064x}"}


def test_chain_books_match_minted_items_to_completed_purchases():
    scanned = {"custody": CUSTODY, "items": [_item(0), _item(1), _item(2, owner=None)]}
    assert chain_problems(scanned, [_nft(0), _nft(1)]) == []
    # an item on the chain with no completed purchase, and a purchase with no item
    assert len(chain_problems(scanned, [_nft(0)])) == 1
    assert len(chain_problems(scanned, [_nft(0), _nft(1), _nft(2)])) == 1
    stolen = {"custody": CUSTODY, "items": [_item(0, owner="0:" + "d" * 64)]}
    assert chain_problems(stolen, [_nft(0)]) == [
        "item #0 owned by 0:" + "d" * 64 + ", not the custody wallet"
    ]
