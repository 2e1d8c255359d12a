"""JSON log lines. Callers pass ids and codes only: never tokens, JWTs or clinical content."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import orjson

_STANDARD = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message and the record's `extra` fields."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        line.update({k: v for k, v in record.__dict__.items() if k not in _STANDARD})
        if record.exc_info and record.exc_info[1] is not None:
            # The type and where it was raised, never the message or a traceback: messages can quote
            # input (a drug name, a token), and a traceback is many lines.
            error = record.exc_info[1]
            line["exception"] = type(error).__name__
            frame = _innermost(error)
            if frame:
                line["at"] = frame
        return orjson.dumps(line, default=str).decode()


def _innermost(error: BaseException) -> str | None:
    tb = error.__traceback__
    if tb is None:
        return None
    while tb.tb_next is not None:
        tb = tb.tb_next
    return f"{tb.tb_frame.f_code.co_filename.rsplit('/', 1)[-1]}:{tb.tb_lineno}"


LOG_CONFIG: dict[str, object] = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "mdrcds.web.logs.JsonFormatter"}},
    "handlers": {
        "stderr": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}
    },
    "loggers": {
        name: {"handlers": ["stderr"], "level": level, "propagate": False}
        for name, level in (
            ("uvicorn", "WARNING"),
            ("uvicorn.error", "WARNING"),
            ("uvicorn.access", "WARNING"),
            ("mdrcds", "INFO"),
        )
    },
}
"""logging.config.dictConfig for `mdrcds serve`: uvicorn's own lines are JSON too."""


def configure_json_logging(level: int = logging.INFO) -> None:
    """Send the `mdrcds` loggers to stderr as JSON lines (idempotent)."""
    logger = logging.getLogger("mdrcds")
    if any(isinstance(h.formatter, JsonFormatter) for h in logger.handlers):
        return
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter())
    logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False
