"""Postgres URLs: another database on the same server, the driver each client wants, the
password masked for people."""

from __future__ import annotations


def with_database(url: str, database: str, *, driver: str | None = None) -> str:
    """`url` pointing at another database (and optionally another SQLAlchemy driver)."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url).set(database=database)
    if driver is not None:
        parsed = parsed.set(drivername=driver)
    return parsed.render_as_string(hide_password=False)


def database_name(url: str) -> str | None:
    """The database named in a Postgres URL (None if it names none)."""
    from sqlalchemy.engine import make_url

    return make_url(url).database or None


def hide_password(url: str) -> str:
    """The URL with its password masked, for logs and banners."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def libpq_url(url: str) -> str:
    """asyncpg wants `postgresql://`; strip any SQLAlchemy driver suffix."""
    scheme, sep, rest = url.partition("://")
    if "+" in scheme:
        scheme = scheme.split("+", 1)[0]
    if scheme == "postgres":
        scheme = "postgresql"
    return f"{scheme}{sep}{rest}"


def asyncpg_url(url: str) -> str:
    """The SQLAlchemy URL the services take (`postgresql+asyncpg://`) of a Postgres URL; any
    other URL as it is."""
    scheme, sep, rest = url.partition("://")
    if scheme in {"postgres", "postgresql"} or scheme.startswith("postgresql+"):
        return f"postgresql+asyncpg{sep}{rest}"
    return url
