"""Alembic environment of the analytics service: schema `analytics`, version table inside it."""

from logging.config import fileConfig

from alembic import context
from analytics.models import metadata
from analytics.settings import get_settings
from scifikpi_common.migrations import run_migrations

# Only the `alembic` command line configures logging from the ini file; called from Python
# (dev stack, tests) the host process keeps its own logging.
if context.config.cmd_opts is not None and context.config.config_file_name is not None:
    fileConfig(context.config.config_file_name, disable_existing_loggers=False)

run_migrations(metadata, get_settings().database_url)
