"""Domain errors. Each carries the status a boundary should answer with and, where it is
about one input, the field, the value and the rule broken; where a page must say it in the
user's language, a ``code`` and the ``values`` its words need."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    status_code = 400

    def __init__(self, message: str, *, field: str | None = None, value: Any = None,
                 code: str | None = None, values: dict[str, Any] | None = None):
        super().__init__(message)
        self.message = message
        self.field = field
        self.value = value
        self.code = code
        self.values = values or {}

    def as_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"error": type(self).__name__, "message": self.message}
        if self.field is not None:
            body["field"] = self.field
            body["value"] = None if self.value is None else str(self.value)
        if self.code is not None:
            body["code"] = self.code
        return body


class NotFound(DomainError):
    status_code = 404


class Conflict(DomainError):
    status_code = 409


class InvalidInput(DomainError):
    status_code = 422
    # Every mistake, where the input has several at known places (a terms file's, by key).
    problems: tuple = ()
