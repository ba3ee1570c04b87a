"""Structured logs: one JSON object a line (or plain text for a terminal)."""

from __future__ import annotations

import logging
import logging.config
import re

ID_NUMBER = re.compile(r"(\d{4})\d{10}(\d{3}[\dXx])")


def mask_id_numbers(text: str) -> str:
    """Hide the middle of citizen ID numbers (4110**********123X)."""
    return ID_NUMBER.sub(lambda m: f"{m.group(1)}{'*' * 10}{m.group(2)}", text)


class MaskIdNumbers(logging.Filter):
    """Masks ID numbers in every message, whichever library logs it."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "unmasked", False):  # hashes only (a signed audit head): an
            return True  # 18-digit run in a hash is no ID number, and masking would break it
        message = record.getMessage()
        masked = mask_id_numbers(message)
        if masked != message:
            record.msg, record.args = masked, None
        return True


def configure_logging(level: str = "INFO", fmt: str = "json") -> None:
    formatter = (
        {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        }
        if fmt == "json"
        else {"format": "%(asctime)s %(levelname)-7s %(name)s: %(message)s"}
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
            },
        }
    )
