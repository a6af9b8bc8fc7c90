"""structlog JSON logs with request, trace and user context; secrets never reach the output.

Standard-library loggers (uvicorn, alembic, aiokafka) go through the same renderer, so every line
a process writes is one JSON object.
"""

from __future__ import annotations

import functools
import logging
import sys
from collections.abc import MutableMapping
from typing import IO, Any

import orjson
import structlog

from scifikpi_common.tracing import current_trace_id

#: Keys whose values are replaced wherever they appear in a log event (case-insensitive substrings).
SENSITIVE_KEYS = (
    "password",
    "secret",
    "token",
    "authorization",
    "cookie",
    "card",
    "cvc",
    "cvv",
    "pan",
    "private_key",
    "api_key",
)
REDACTED = "[redacted]"


def _redact(value: Any) -> Any:
    if isinstance(value, MutableMapping):
        return {k: (REDACTED if _is_sensitive(k) else _redact(v)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redact(v) for v in value]
    return value


def _is_sensitive(key: object) -> bool:
    return _sensitive_name(str(key))


@functools.lru_cache(maxsize=4096)
def _sensitive_name(name: str) -> bool:
    """Cached: an access line's dozen keys would otherwise be scanned for 11 words each (~2 % of
    a short read's CPU); the keys are the code's own, so the cache stays small."""
    lowered = name.lower()
    return any(word in lowered for word in SENSITIVE_KEYS)


def redact_secrets(
    _: Any, __: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    return {k: (REDACTED if _is_sensitive(k) else _redact(v)) for k, v in event_dict.items()}


def add_trace_id(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    if "trace_id" not in event_dict:
        trace_id = current_trace_id()
        if trace_id:
            event_dict["trace_id"] = trace_id
    return event_dict


def configure_logging(
    service_name: str, *, level: str = "INFO", fmt: str = "json", stream: IO[str] | None = None
) -> None:
    """Our own log lines go straight from structlog to the stream (fast path: one orjson dump per
    line); standard-library loggers (uvicorn, alembic, aiokafka, faststream) go through the same
    processors via `ProcessorFormatter`."""
    out = stream or sys.stdout

    def add_service(
        _: Any, __: str, event_dict: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        event_dict.setdefault("service", service_name)
        return event_dict

    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        add_service,
        structlog.processors.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        add_trace_id,
        redact_secrets,
    ]
    renderer: Any = (
        structlog.processors.JSONRenderer(serializer=_dumps)
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    level_no = logging.getLevelNamesMapping().get(level.upper(), logging.INFO)
    structlog.configure(
        processors=[*shared, structlog.processors.format_exc_info, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(level_no),
        logger_factory=_StreamLoggerFactory(stream),
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            renderer,
        ],
    )
    handler = logging.StreamHandler(out)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level_no)
    for noisy in ("uvicorn.access", "aiokafka", "faststream.access"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, level_no))
    for name in ("uvicorn", "uvicorn.error", "faststream"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True


def _dumps(obj: Any, **_: Any) -> str:
    return orjson.dumps(obj, default=str).decode()


class _StreamLogger:
    """Writes rendered lines to a stream; `sys.stdout` is looked up at each write, so output
    follows a redirected stdout (test capture, a supervisor's pipe)."""

    def __init__(self, name: str, stream: IO[str] | None) -> None:
        self.name = name  # read by `add_logger_name`
        self._stream = stream

    def msg(self, message: str) -> None:
        out = self._stream or sys.stdout
        out.write(message + "\n")
        out.flush()

    log = debug = info = warn = warning = error = critical = exception = fatal = failure = msg


class _StreamLoggerFactory:
    def __init__(self, stream: IO[str] | None) -> None:
        self._stream = stream

    def __call__(self, *args: Any) -> _StreamLogger:
        return _StreamLogger(str(args[0]) if args else "app", self._stream)


def get_logger(name: str | None = None) -> Any:
    """A structlog logger whose lines carry `logger=<name>`."""
    return structlog.get_logger(name) if name else structlog.get_logger()
