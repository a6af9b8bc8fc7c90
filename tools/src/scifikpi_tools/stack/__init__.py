"""The local stack: `make run` (or `scifikpi-stack`, `python -m scifikpi_tools.stack`).

Starts everything on a machine with nothing but Python and uv (the root README.md):

1. Postgres: `DATABASE_URL` if set, else embedded PostgreSQL with its data in `./.local/pgdata`
   (kept across runs); the database (`scifikpi`) is created if missing;
2. the broker: `KAFKA_BOOTSTRAP_SERVERS` if set, else Tansu on 127.0.0.1:9092 (a free port if
   9092 is taken); every event topic and its `.dlq` is created;
3. migrations of every service with a database
   (`alembic -c services/<svc>/alembic.ini upgrade head`);
4. every process of every service in `scifikpi_tools.services.SERVICES`, each a separate OS
   process with its output prefixed by its name, restarted with backoff when it dies;
5. waits for every API's `/readyz`, then prints the gateway and Swagger URLs and the API list.

Ctrl-C or SIGTERM stops the children (SIGTERM, wait, SIGKILL), then the broker and Postgres.

Tests start the same stack programmatically, on free ports and in a temporary directory:

    async with LocalStack.for_tests(tmp_path) as stack:
        httpx.get(stack.gateway_url + "/readyz")

`launcher.LocalStack` runs the steps in that order; each lives in its own module: `addresses`
(ports, URLs), `infrastructure` (Postgres, the broker, topics), `children` (stand-ins,
migrations, service processes), `environment` (each child's environment and command line,
`stack.env`), `readiness` (/readyz, the banner), `workspace` (the root, console scripts,
`StackError`); `cli` is the command line.
"""

from scifikpi_tools.stack.cli import main
from scifikpi_tools.stack.launcher import LocalStack, StackError, find_root

__all__ = ["LocalStack", "StackError", "find_root", "main"]
