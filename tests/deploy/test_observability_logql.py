"""Every LogQL expression we ship parses with Grafana's own LogQL grammar.

Loki cannot run on this machine (no binary in any registry we may use), so a mistyped rule would
only fail in production, when the Loki ruler loads it. `@grafana/lezer-logql` is the grammar
Grafana's query editor parses LogQL with (pinned in tests/deploy/logql/package-lock.json); this
test runs it under Node over the Loki alert rules and the dashboard's Loki queries, and first
proves that it rejects broken expressions, so a pass means something.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from _observability_helpers import LOKI_RULES, dashboard_exprs, rules

LOGQL_DIR = Path(__file__).parent / "logql"
NPM_TIMEOUT_S = 300


@pytest.fixture(scope="module")
def node() -> str:
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        pytest.skip("Node.js and npm are not installed: the LogQL grammar runs under Node")
    installed = LOGQL_DIR / "node_modules" / "@grafana" / "lezer-logql" / "package.json"
    lock = LOGQL_DIR / "package-lock.json"
    stamp = LOGQL_DIR / "node_modules" / ".package-lock.json"  # npm writes it on install
    if not installed.exists() or not stamp.exists() or stamp.stat().st_mtime < lock.stat().st_mtime:
        subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=LOGQL_DIR,
            check=True,
            timeout=NPM_TIMEOUT_S,
        )
    return node


def parse(node: str, expressions: dict[str, str]) -> dict[str, dict[str, Any]]:
    run = subprocess.run(
        [node, "parse.mjs"],
        cwd=LOGQL_DIR,
        input=json.dumps(expressions),
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    parsed: dict[str, dict[str, Any]] = json.loads(run.stdout)
    return parsed


def shipped_expressions() -> dict[str, str]:
    expressions = {f"loki rule {rule['alert']}": rule["expr"] for rule in rules(LOKI_RULES)}
    for n, expr in enumerate(dashboard_exprs("loki")):
        expressions[f"dashboard loki query {n}"] = expr
    return expressions


def test_the_grammar_rejects_broken_logql(node: str) -> None:
    rule = next(iter(rules(LOKI_RULES)))["expr"]
    broken = {
        "unbalanced parenthesis": rule.replace("(", "", 1),
        "filter without a string": '{service="auth"} |= ',
        "bad duration": 'rate({service="auth"}[5x])',
        "matcher without a value": "{service=}",
    }
    result = parse(node, {"as shipped": rule, **broken})
    assert result["as shipped"]["errors"] == [], result["as shipped"]
    for name in broken:
        assert result[name]["errors"], f"the grammar accepted {name}: {broken[name]!r}"


def test_every_shipped_logql_expression_parses(node: str) -> None:
    expressions = shipped_expressions()
    assert len(expressions) >= 5, expressions
    result = parse(node, expressions)
    faults = {name: r["errors"] for name, r in result.items() if r["errors"] or r["top"] != "Expr"}
    assert not faults, "\n".join(
        f"{name}: {expressions[name]!r}: {errors}" for name, errors in faults.items()
    )
