"""Structured logs: one JSON object a line (or plain text for a terminal)."""

from __future__ import annotations

import logging
import logging.config
import re

from claims.masking import in_text


class MaskIdNumbers(logging.Filter):
    """Masks ID, card and mobile numbers in every message, whichever library logs it, by the
    rule of every other reader's text (masking.in_text): a narrower pattern of its own logged
    a request path with an ID number in groups (by-id-number/411081 19831022 001X) whole."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "unmasked", False):  # hashes only (a signed audit head): an
            return True  # 18-digit run in a hash is no ID number, and masking would break it
        message = record.getMessage()
        masked = in_text(message)
        if masked != message:
            record.msg, record.args = masked, None
        if record.exc_info and record.exc_info[0] is not None:
            # the traceback too (an exception's words may hold an ID number); both formatters
            # write exc_text when there is no exc_info
            record.exc_text = in_text(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


# Line breaks and every other control character (a terminal's ESC, VT, FF, NEL, U+2028):
# %1b[2K in a path had rewritten an operator's `tail -f` (a re-tester's).
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


class OneLine(logging.Formatter):
    """Plain text with a message's line breaks written as \\n: a request path holding %0a
    had written lines of its own into the log (a security tester's); a traceback still
    follows on its lines."""

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 (logging's name)
        return _CONTROL.sub(lambda found: repr(found.group())[1:-1],
                            super().formatMessage(record))


def configure_logging(level: str = "INFO", fmt: str = "json") -> None:
    formatter = (
        {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        }
        if fmt == "json"
        else {"()": OneLine, "format": "%(asctime)s %(levelname)-7s %(name)s: %(message)s"}
    )
    logging.config.dictConfig(
        {
            "version": 1,
            "disable_existing_loggers": False,
            "formatters": {"default": formatter},
            "filters": {"mask": {"()": MaskIdNumbers}},
            "handlers": {
                "stderr": {"class": "logging.StreamHandler", "formatter": "default",
                           "filters": ["mask"]}
            },
            "root": {"handlers": ["stderr"], "level": level},
            "loggers": {
                "uvicorn": {"handlers": ["stderr"], "level": level, "propagate": False},
                "uvicorn.error": {"handlers": ["stderr"], "level": level, "propagate": False},
                # Requests are logged by fangpin's own middleware, with timings.
                "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
                # the schema check's "Context impl SQLiteImpl." on every command
                "alembic": {"level": "WARNING"},
            },
        }
    )
