"""The capacity report of a run: `report.json` (every figure), `load.png` (requests/s, p50/p99
per kind and errors against users) and `report.html` (the charts and the tables), in one
directory, plus the text the command prints."""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

from scifikpi_tools.load.figures import TARGETS_MS, Capacity, Step, busiest, capacity, saturation


def summary(steps: list[Step], convergence: dict[str, Any] | None = None) -> dict[str, Any]:
    """The verdict of a run: capacity, what saturated, convergence."""
    cap = capacity(steps)
    at = next((s for s in steps if s.users == cap.first_miss_users), steps[-1] if steps else None)
    previous = None
    if at is not None and steps.index(at) > 0:
        previous = steps[steps.index(at) - 1]
    return {
        "targets_p99_ms": TARGETS_MS,
        "capacity": {
            "users": cap.held_users,
            "rps": cap.held_rps,
            "first_miss_users": cap.first_miss_users,
            "reasons": cap.reasons,
        },
        "saturated": saturation(at, previous) if at is not None else [],
        "busiest": busiest(at) if at is not None else [],
        "at_users": at.users if at is not None else None,
        "convergence": convergence,
    }


def text(steps: list[Step], verdict: dict[str, Any]) -> str:
    lines = [
        "users   req/s   fail   hot p50/p99   read p50/p99   write p50/p99  (ms)  load average"
    ]
    for s in steps:

        def pair(k: str, s: Step = s) -> str:
            f = s.kinds.get(k)
            if not f or not f["requests"]:
                return "    -/-     "
            return f"{f['p50_ms']:5.0f}/{f['p99_ms']:<6.0f}"

        lines.append(
            f"{s.users:5d} {s.total.get('rps', 0):7.1f} {s.failures:6d}   {pair('hot')}   "
            f"{pair('read')}    {pair('write')}       {s.load_average}"
        )
    cap = verdict["capacity"]
    targets = ", ".join(f"{k} {v:.0f} ms" for k, v in verdict["targets_p99_ms"].items())
    if cap["users"] is None:
        lines.append(f"capacity: no step held (p99 targets {targets}, zero errors)")
    else:
        lines.append(
            f"capacity: {cap['users']} users, {cap['rps']:.1f} req/s held the p99 targets "
            f"({targets}) with zero errors"
        )
    if cap["first_miss_users"] is not None:
        lines.append(f"  {cap['first_miss_users']} users missed: {'; '.join(cap['reasons'])}")
    where = f"at {verdict['at_users']} users" if verdict["at_users"] is not None else ""
    if verdict["saturated"]:
        lines.append(f"saturated first {where}: " + "; ".join(verdict["saturated"]))
    else:
        lines.append(f"nothing saturated {where}; busiest: " + ", ".join(verdict["busiest"]))
    conv = verdict.get("convergence")
    if conv is not None:
        state = "converged" if conv["ok"] else "DID NOT converge"
        lines.append(
            f"chain: {state} in {conv['seconds']:.1f} s (limit {conv['limit_s']:.0f} s): "
            + ", ".join(f"{k} {v}" for k, v in conv["counts"].items())
        )
        lines += [f"  pending: {p}" for p in conv["pending"][:10]]
        lines.append(f"ledger-admin check: {'clean' if conv['ledger_ok'] else 'NOT clean'}")
        if not conv["ledger_ok"]:
            lines.append(f"  {conv['ledger_output'][:500]}")
    return "\n".join(lines)


def charts(steps: list[Step], path: Path) -> None:
    """Three panels against users: requests/s, p50 and p99 per kind (targets dashed), errors."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    users = [s.users for s in steps]
    fig, (rps, lat, err) = plt.subplots(3, 1, figsize=(8, 10), sharex=True)
    rps.plot(users, [s.total.get("rps", 0) for s in steps], marker="o")
    rps.set_ylabel("requests/s")
    rps.set_title("Stepped load through the gateway")
    for i, (k, target) in enumerate(TARGETS_MS.items()):
        color = f"C{i}"
        lat.plot(users, [s.kinds.get(k, {}).get("p99_ms", 0) for s in steps], marker="o",
                 color=color, label=f"{k} p99")  # fmt: skip
        lat.plot(users, [s.kinds.get(k, {}).get("p50_ms", 0) for s in steps], marker=".",
                 linestyle=":", color=color, label=f"{k} p50")  # fmt: skip
        lat.axhline(target, color=color, linestyle="--", linewidth=0.8)
    lat.set_ylabel("ms")
    lat.set_yscale("symlog", linthresh=10)
    lat.legend(fontsize="small", ncol=3)
    err.bar(users, [s.failures for s in steps], width=max(users) * 0.04 if users else 1)
    err.set_ylabel("failed requests")
    err.set_xlabel("users")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _table(rows: list[list[Any]], head: list[str]) -> str:
    cells = "".join(f"<th>{html.escape(h)}</th>" for h in head)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows
    )
    return f"<table><tr>{cells}</tr>{body}</table>"


def write(out: Path, steps: list[Step], verdict: dict[str, Any], meta: dict[str, Any]) -> Path:
    """Writes report.json, load.png and report.html into `out`; returns the HTML's path."""
    out.mkdir(parents=True, exist_ok=True)
    data = {"meta": meta, "verdict": verdict, "steps": [s.to_dict() for s in steps]}
    (out / "report.json").write_text(json.dumps(data, indent=2, default=str))
    charts(steps, out / "load.png")
    rows = [
        [s.users, f"{s.total.get('rps', 0):.1f}", s.failures]
        + [
            f"{s.kinds[k]['p50_ms']:.0f} / {s.kinds[k]['p99_ms']:.0f}" if k in s.kinds else "-"
            for k in TARGETS_MS
        ]
        + [", ".join(f"{n} {c}" for n, c in s.errors.items()) or "-", s.load_average]
        for s in steps
    ]
    head = ["users", "req/s", "failures"] + [f"{k} p50 / p99 ms" for k in TARGETS_MS]
    steps_table = _table(rows, head + ["errors", "load average"])
    names = sorted({n for s in steps for n in s.requests})
    per_name = _table(
        [
            [n]
            + [
                f"{s.requests[n]['rps']:.1f} r/s, {s.requests[n]['p99_ms']:.0f} ms"
                if n in s.requests else "-"
                for s in steps
            ]
            for n in names
        ],
        ["request"] + [f"{s.users} users" for s in steps],
    )  # fmt: skip
    resources = _table(
        [
            [s.users, ", ".join(busiest(s, 6)),
             ", ".join(f"{a} {c}" for a, c in sorted(s.db_connections.items())) or "-",
             ", ".join(f"{g} {lag}" for g, lag in sorted(s.lag.items()) if lag) or "0"]
            for s in steps
        ],
        ["users", "CPU (% of a core)", "DB connections", "consumer lag"],
    )  # fmt: skip
    page = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>SciFiKPI load report</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse;margin:1em 0}}
td,th{{border:1px solid #ccc;padding:3px 8px;font-size:90%}}pre{{background:#f4f4f4;padding:1em}}
</style></head><body>
<h1>SciFiKPI load report</h1>
<pre>{html.escape(text(steps, verdict))}</pre>
<img src="load.png" alt="requests/s, p50/p99 and errors against users">
<h2>Steps</h2>{steps_table}
<h2>Requests</h2>{per_name}
<h2>Resources at the end of each step</h2>{resources}
<h2>Run</h2><pre>{html.escape(json.dumps(meta, indent=2, default=str))}</pre>
</body></html>
"""
    (out / "report.html").write_text(page)
    return out / "report.html"


__all__ = ["Capacity", "charts", "summary", "text", "write"]
