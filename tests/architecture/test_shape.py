"""The shape of a service (docs/developer-guide.md), checked on the source: the same roles under
the same names, SQL only in repositories, commits only at the edges, files a person can hold in
their head. Import rules that import-linter can express live in `.importlinter`."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ["auth", "payments", "mining", "ledger", "nft", "analytics"]
SERVICE_MODULES = ["app.py", "main.py", "settings.py", "models.py", "consumers.py"]
AGGREGATE_MODULES = ["api.py", "schemas.py", "handlers.py", "domain.py", "repository.py"]
MAX_LINES = 400

#: methods that run SQL on a session or connection
SQL_CALLS = {"execute", "scalar", "scalars", "stream", "stream_scalars", "exec_driver_sql"}
#: roles that must never commit: the edge (route, consumer runner, process, CLI) does
NEVER_COMMIT = {"handlers", "domain", "repository", "schemas"}
#: roles that never touch SQLAlchemy directly
NO_SQLALCHEMY = {"api", "handlers", "domain", "schemas", "consumers", "processes"}


def source(service: str) -> Path:
    return ROOT / "services" / service / "src" / service


def modules(service: str) -> Iterator[Path]:
    yield from sorted(source(service).rglob("*.py"))


def role(path: Path) -> str:
    """A module's role: its name, or the name of the package it is part of (`domain/rules.py`)."""
    names = {p.removesuffix(".py") for p in AGGREGATE_MODULES} | {"processes", "consumers"}
    for part in reversed(path.with_suffix("").parts):
        if part in names:
            return part
    return path.stem


def aggregates(service: str) -> list[Path]:
    """Folders holding an aggregate's modules: the package itself, or one subpackage each."""
    base = source(service)
    found = [base] if (base / "handlers.py").exists() or (base / "handlers").is_dir() else []
    found += [p for p in sorted(base.iterdir()) if p.is_dir() and (p / "handlers.py").exists()]
    return found


def calls(tree: ast.AST, names: set[str]) -> list[int]:
    return [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in names
    ]


def imports_sqlalchemy(tree: ast.AST) -> list[int]:
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import) and any(
            a.name.split(".")[0] == "sqlalchemy" for a in node.names
        ):
            lines.append(node.lineno)
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "sqlalchemy":
            lines.append(node.lineno)
    return lines


@pytest.mark.parametrize("service", SERVICES)
def test_every_service_has_the_service_modules(service: str) -> None:
    missing = [m for m in SERVICE_MODULES if not (source(service) / m).exists()]
    assert not missing, f"{service} lacks {missing}"


@pytest.mark.parametrize("service", SERVICES)
def test_every_aggregate_has_the_five_roles(service: str) -> None:
    folders = aggregates(service)
    assert folders, f"{service}: no handlers.py, flat or in an aggregate package"
    for folder in folders:
        # an aggregate without routes (nft's chain engine, analytics' projection: driven by a
        # process or a consumer) has no requests to parse: use cases, rules and SQL only
        routed = (folder / "api.py").exists() or (folder / "api").is_dir()
        required = AGGREGATE_MODULES if routed else ["handlers.py", "domain.py", "repository.py"]
        missing = [
            m for m in required
            if not (folder / m).exists() and not (folder / m.removesuffix(".py")).is_dir()
        ]  # fmt: skip
        assert not missing, f"{folder.relative_to(ROOT)} lacks {missing}"


@pytest.mark.parametrize("service", SERVICES)
def test_sql_runs_only_in_repositories(service: str) -> None:
    offenders = []
    for path in modules(service):
        if role(path) in {"repository", "models"}:
            continue
        lines = calls(ast.parse(path.read_text()), SQL_CALLS)
        offenders += [f"{path.relative_to(ROOT)}:{n}" for n in lines]
    assert not offenders, "SQL outside a repository:\n" + "\n".join(offenders)


@pytest.mark.parametrize("service", SERVICES)
def test_use_cases_and_repositories_never_commit(service: str) -> None:
    offenders = []
    for path in modules(service):
        if role(path) in NEVER_COMMIT:
            lines = calls(ast.parse(path.read_text()), {"commit"})
            offenders += [f"{path.relative_to(ROOT)}:{n}" for n in lines]
    assert not offenders, "commit() outside an edge:\n" + "\n".join(offenders)


@pytest.mark.parametrize("service", SERVICES)
def test_only_repositories_and_models_import_sqlalchemy(service: str) -> None:
    offenders = []
    for path in modules(service):
        if role(path) in NO_SQLALCHEMY:
            lines = imports_sqlalchemy(ast.parse(path.read_text()))
            offenders += [f"{path.relative_to(ROOT)}:{n}" for n in lines]
    assert not offenders, "SQLAlchemy imported outside persistence:\n" + "\n".join(offenders)


def python_files() -> Iterator[Path]:
    for top in ("libs", "services", "tools", "tests"):
        for path in (ROOT / top).rglob("*.py"):
            if ".venv" not in path.parts and "node_modules" not in path.parts:
                yield path


def test_no_source_file_is_past_the_limit() -> None:
    long = {
        str(p.relative_to(ROOT)): n
        for p in python_files()
        if (n := len(p.read_text().splitlines())) > MAX_LINES
    }
    assert not long, f"files past {MAX_LINES} lines (make them packages): {long}"
