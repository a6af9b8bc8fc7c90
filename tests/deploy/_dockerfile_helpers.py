"""The root Dockerfile read the way `docker build` reads it, with no Docker engine.

`image(target, build_args)` is one build target: its stage and the stages it is built FROM, with the
build arguments substituted where Docker substitutes them, ARG scoping included (a stage sees an
argument only after its own `ARG`), so a test can ask what one service's image holds.
`replay_build` runs a build target's COPY and RUN steps in a temporary copy of the workspace.
`compose_build_problems` compares docker-compose.yml's builds with the service table.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from _deploy_helpers import REPO, SERVICE_TABLE
from scifikpi_tools.services import Service

DOCKERFILE = REPO / "Dockerfile"
#: The default target (every service's image) and the compose-only stand-ins' image.
SERVICE_TARGET = "service"
TOOLS_TARGET = "tools"
#: What the service table says a service's image is built with (docker-compose.yml passes them).
BUILD_ARGS = ("SERVICE", "ENV_PREFIX", "HTTP_PORT", "METRICS_PORTS")
#: Instructions whose arguments are expanded while building (RUN: by the build's shell, with the
#: ARG and ENV values in scope); CMD, ENTRYPOINT and HEALTHCHECK run as written.
_BUILD_TIME = {"ADD", "COPY", "ENV", "EXPOSE", "LABEL", "RUN", "STOPSIGNAL", "USER", "WORKDIR"}
_VAR = re.compile(r"\$\{(\w+)(?::[?-][^}]*)?\}|\$(\w+)")


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [args for kw, args in self.instructions if kw == keyword]


def _logical_lines(path: Path) -> list[str]:
    """Instructions with line continuations joined and comments dropped."""
    logical: list[str] = []
    buffer = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not buffer and (not line or line.startswith("#")):
            continue
        if buffer and line.startswith("#"):
            continue
        if line.endswith("\\"):
            buffer += line[:-1] + " "
            continue
        logical.append(buffer + line)
        buffer = ""
    return logical


def parse_dockerfile(path: Path = DOCKERFILE) -> tuple[dict[str, str | None], list[Stage]]:
    """Global ARGs (None: no default) and the stages, bases resolved with the global defaults."""
    args: dict[str, str | None] = {}
    stages: list[Stage] = []
    for line in _logical_lines(path):
        keyword, _, rest = line.partition(" ")
        keyword = keyword.upper()
        rest = rest.strip()
        if keyword == "FROM":
            parts = rest.split()
            defaults = {k: v for k, v in args.items() if v is not None}
            name = parts[2] if len(parts) >= 3 and parts[1].upper() == "AS" else None
            stages.append(Stage(expand(parts[0], defaults), name))
        elif keyword == "ARG" and not stages:
            key, eq, value = rest.partition("=")
            args[key] = value if eq else None
        else:
            assert stages, f"{path}: {keyword} before FROM"
            stages[-1].instructions.append((keyword, rest))
    return args, stages


def expand(text: str, scope: dict[str, str]) -> str:
    """`${NAME}`, `${NAME:-default}`, `${NAME:?message}` and `$NAME` of the names in scope."""

    def one(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        return scope[name] if name in scope else match.group(0)

    return _VAR.sub(one, text)


def exec_form(args: str) -> list[str]:
    value = json.loads(args)
    assert isinstance(value, list), f"use the exec form: {args}"
    return value


def env_pairs(args: str) -> list[tuple[str, str]]:
    """The `KEY=value` pairs of an ENV instruction (quotes removed as Docker removes them)."""
    return [(word.partition("=")[0], word.partition("=")[2]) for word in shlex.split(args)]


@dataclass
class Image:
    """A build target: its stages root first, each with its build-time arguments expanded."""

    base: str
    stages: list[Stage]
    build_args: dict[str, str]

    def all(self, keyword: str) -> list[str]:
        return [args for stage in self.stages for args in stage.all(keyword)]

    @property
    def keywords(self) -> list[str]:
        return [kw for stage in self.stages for kw, _ in stage.instructions]

    @property
    def env(self) -> dict[str, str]:
        return dict(pair for args in self.all("ENV") for pair in env_pairs(args))

    @property
    def labels(self) -> dict[str, str]:
        return dict(pair for args in self.all("LABEL") for pair in env_pairs(args))

    @property
    def exposed(self) -> set[str]:
        return {word for args in self.all("EXPOSE") for word in args.split()}

    def builder(self) -> Image:
        """The target this image copies its virtualenv from."""
        (source,) = [c for c in self.all("COPY") if c.startswith("--from=") and " /app/.venv " in c]
        return image(source.split()[0].removeprefix("--from="), self.build_args)


def image(target: str, build_args: dict[str, str] | None = None) -> Image:
    """`docker build --target <target> --build-arg ...` of the root Dockerfile, as text."""
    build_args = build_args or {}
    global_args, stages = parse_dockerfile()
    by_name = {s.name: s for s in stages if s.name}
    chain = [by_name[target]]
    while chain[0].base in by_name:
        chain.insert(0, by_name[chain[0].base])
    env: dict[str, str] = {}  # ENV values carry over to the stages built FROM a stage; ARGs do not
    rendered = []
    for stage in chain:
        scope = dict(env)
        out = Stage(stage.base, stage.name)
        for keyword, args in stage.instructions:
            if keyword in _BUILD_TIME:
                args = expand(args, scope)
            if keyword == "ARG":
                key, eq, default = args.partition("=")
                if key in build_args:
                    scope[key] = build_args[key]
                elif eq:
                    scope[key] = expand(default, scope)
                elif global_args.get(key) is not None:
                    scope[key] = str(global_args[key])
            elif keyword == "ENV":
                for key, value in env_pairs(args):
                    scope[key] = env[key] = value
            out.instructions.append((keyword, args))
        rendered.append(out)
    return Image(chain[0].base, rendered, build_args)


def table_entry(service: str, table: tuple[Service, ...] = SERVICE_TABLE) -> Service:
    (svc,) = [s for s in table if s.name == service]
    return svc


def build_args(service: str, table: tuple[Service, ...] = SERVICE_TABLE) -> dict[str, str]:
    """The build arguments of a service's image, from the service table."""
    svc = table_entry(service, table)
    metrics = [str(p.metrics_port) for p in svc.process_list() if p.metrics_port is not None]
    return {
        "SERVICE": svc.name,
        "ENV_PREFIX": svc.env_prefix,
        "HTTP_PORT": str(svc.http_port),
        "METRICS_PORTS": " ".join(metrics),
    }


def service_image(service: str) -> Image:
    return image(SERVICE_TARGET, build_args(service))


def compose_build_problems(compose: dict[str, Any], table: tuple[Service, ...]) -> list[str]:
    """Compose services built from the root Dockerfile whose build is not what `table` says: each
    service image built with its table row's arguments, every row's image built."""
    problems = []
    built = set()
    for name, svc in compose["services"].items():
        build = svc.get("build")
        if build is None or build.get("target") == TOOLS_TARGET:
            continue
        if (build.get("context"), build.get("dockerfile")) != (".", "Dockerfile"):
            problems.append(f"{name}: not built from the root Dockerfile: {build}")
        args = {k: str(v) for k, v in (build.get("args") or {}).items()}
        service = args.get("SERVICE")
        if service not in {s.name for s in table}:
            problems.append(f"{name}: SERVICE={service!r} is not in the service table")
            continue
        built.add(service)
        if args != build_args(service, table):
            problems.append(
                f"{name}: build args {args}, the table says {build_args(service, table)}"
            )
        if svc.get("image") != f"scifikpi/{service}:local":
            problems.append(f"{name}: image {svc.get('image')} is not the {service} image")
    missing = [s.name for s in table if s.name not in built]
    return problems + [f"{name}: no compose service builds its image" for name in missing]


def default_command(img: Image) -> list[str]:
    """The command the image runs when none is given (`sh -c 'exec ...'` resolved)."""
    argv = exec_form(img.all("CMD")[-1])
    if argv[:2] != ["sh", "-c"]:
        return argv
    words = shlex.split(expand(argv[2], img.env))
    return words[1:] if words[0] == "exec" else words


# --- .dockerignore ---------------------------------------------------------------------------------


def _ignore_regex(pattern: str) -> re.Pattern[str]:
    out = ""
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return re.compile(out)


def dockerignored(rel: str, patterns: list[str]) -> bool:
    """Docker's rule: a path is out if it or a parent matches; the last matching pattern wins."""
    parts = rel.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    ignored = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        regex = _ignore_regex(pattern.lstrip("!").strip("/"))
        if any(regex.fullmatch(p) for p in prefixes):
            ignored = not negate
    return ignored


def dockerignore_patterns() -> list[str]:
    lines = (REPO / ".dockerignore").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.strip().startswith("#")]


def context_copies(img: Image) -> list[str]:
    """The image's COPY instructions from the build context (not from another stage)."""
    return [c for c in img.all("COPY") if not c.startswith("--from")]


# --- replaying a build -----------------------------------------------------------------------------


def replay_build(build: Image, tmp_path: Path, *, sync: bool = True) -> Path:
    """Run a build target's steps in a copy of what the image build sees, and return its /app.

    The manifests stage's files, the COPYs from the context, then the RUN commands in order; the
    `uv sync` ones only with `sync` (offline, from the uv cache, the virtualenv in tmp_path/venv).
    """
    app = tmp_path / "app"
    app.mkdir()
    # The manifests stage: root files + every member's pyproject.toml.
    for rel in ("pyproject.toml", "uv.lock", ".python-version"):
        shutil.copy2(REPO / rel, app / rel)
    for manifest in REPO.glob("*/**/pyproject.toml"):
        rel = manifest.relative_to(REPO)
        if rel.parts[0] in {"libs", "services", "tools"} and ".venv" not in rel.parts:
            (app / rel.parent).mkdir(parents=True, exist_ok=True)
            shutil.copy2(manifest, app / rel)
    env = {
        **os.environ,
        **build.build_args,
        "UV_PROJECT_ENVIRONMENT": str(tmp_path / "venv"),
        "UV_OFFLINE": "1",
        "UV_NO_PROGRESS": "1",
        "UV_PYTHON_DOWNLOADS": "never",
    }
    env.pop("VIRTUAL_ENV", None)
    for stage in build.stages:
        for kw, args in stage.instructions:
            if kw == "COPY" and not args.startswith("--from"):
                *sources, dest = shlex.split(args)
                for source in sources:
                    skip = shutil.ignore_patterns("tests", "__pycache__", ".venv")
                    shutil.copytree(REPO / source, app / dest, dirs_exist_ok=True, ignore=skip)
            elif kw == "RUN" and (sync or "uv sync" not in args):
                _replay_run(args, app, env)
    return app


def _replay_run(args: str, app: Path, env: dict[str, str]) -> None:
    command = args
    while command.startswith("--"):  # RUN flags (--mount=...)
        command = command.split(None, 1)[1]
    result = subprocess.run(  # noqa: S603 - sh with a command of our Dockerfile
        ["sh", "-c", command],  # noqa: S607 - the build's shell
        cwd=app,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    if result.returncode != 0 and re.search(r"offline|network", result.stderr, re.IGNORECASE):
        pytest.skip(f"uv cache lacks a package for the offline replay: {result.stderr[-300:]}")
    if result.returncode != 0:
        raise BuildFailed(f"RUN {command[:120]}...\n{result.stderr[-2000:]}")


class BuildFailed(AssertionError):
    """A replayed RUN step exited non-zero: `docker build` would stop there."""


def files_from_builder(img: Image, app: Path) -> set[str]:
    """What the image copies from its builder besides the virtualenv (paths under /app), as the
    replayed build at `app` left it."""
    files = set()
    for copy in img.all("COPY"):
        if not copy.startswith("--from="):
            continue
        source, dest = copy.split()[1:]
        if source == "/app/.venv":
            continue
        assert source.startswith("/app/") and dest == "/app/", copy
        root = app / source.removeprefix("/app/")
        files |= {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}
    return files
