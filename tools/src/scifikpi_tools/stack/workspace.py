"""The workspace the stack runs from: its root folder, the console scripts of its environment,
and the one error the stack raises when it cannot start."""

from __future__ import annotations

import os
import sys
from importlib.metadata import entry_points
from pathlib import Path


class StackError(RuntimeError):
    """The stack could not start; the message says what to do."""


def find_root(start: Path | None = None) -> Path:
    """The workspace root: the first parent with `pyproject.toml` and a `services/` folder."""
    candidates = [start or Path.cwd(), Path(__file__).resolve()]
    for origin in candidates:
        for path in [origin, *origin.parents]:
            if (path / "pyproject.toml").is_file() and (path / "services").is_dir():
                return path
    raise StackError("cannot find the repository root (a folder with pyproject.toml and services/)")


def console_script(name: str) -> list[str]:
    """argv that runs a console script of the current environment."""
    beside = Path(sys.executable).parent / name
    if beside.is_file() and os.access(beside, os.X_OK):
        return [str(beside)]
    found = entry_points(group="console_scripts", name=name)
    for ep in found:
        module, _, attr = ep.value.partition(":")
        return [
            sys.executable,
            "-c",
            f"import sys; from {module} import {attr} as f; sys.exit(f())",
        ]
    raise StackError(
        f"console script {name!r} not found: is its package installed? "
        "(run `uv sync --all-packages`)"
    )
